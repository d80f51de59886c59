// What the page offers and the messages between the page and its workers. Plain data only:
// the page imports this without pulling tfjs into its first load.

/** The tasks the playground trains. */
export const TASKS = {
  quadratic: { label: 'Quadratic, 2-D (trajectory)', twoD: true, data: undefined, steps: 150 },
  rosenbrock: { label: 'Rosenbrock, 2-D (trajectory)', twoD: true, data: undefined, steps: 400 },
  'mnist-mlp': { label: 'MNIST MLP (8x8 pixels, 32 hidden)', twoD: false, data: 'mnist', steps: 200 },
  'mnist-conv': { label: 'MNIST conv (14x14, 8-16 channels)', twoD: false, data: 'mnist', steps: 100 },
  'char-lstm': { label: 'Char-LSTM (State of the Union text)', twoD: false, data: 'text', steps: 100 },
} as const;
/** A task id. */
export type TaskId = keyof typeof TASKS;

/** The optimizers the playground trains with; learned ones can be looked inside. */
export const OPTIMIZERS = {
  adam: { label: 'Adam', learned: false, lr: 1e-2 },
  'adamw-cosine': { label: 'AdamW + warmup-cosine', learned: false, lr: 1e-2 },
  muon: { label: 'Muon', learned: false, lr: 2e-2 },
  sgdm: { label: 'SGD + momentum 0.9', learned: false, lr: 5e-2 },
  celo: { label: 'Celo (pretrained)', learned: true, lr: undefined },
  'celo-adam': { label: 'Celo-Adam (pretrained)', learned: true, lr: undefined },
  celo2: { label: 'Celo2 (pretrained)', learned: true, lr: 1e-2 },
  uploaded: { label: 'Uploaded theta (.safetensors)', learned: true, lr: undefined },
} as const;
/** An optimizer id. */
export type OptimizerId = keyof typeof OPTIMIZERS;

/** One optimizer as the user configured it. */
export interface OptimizerSpec {
  readonly id: OptimizerId;
  /** Learning rate override (hand-designed optimizers, and Celo2's learningRate). */
  readonly lr?: number;
}

/** Page -> training worker. */
export interface TrainRequest {
  readonly type: 'train';
  readonly baseUrl: string;
  readonly backend: BackendPreference;
  readonly task: TaskId;
  readonly optimizer: OptimizerSpec;
  readonly steps: number;
  readonly seed: number;
  /** The uploaded checkpoint's bytes (for `uploaded`). */
  readonly theta?: Uint8Array;
}

/** Page -> worker: check an uploaded checkpoint. */
export interface ValidateRequest {
  readonly type: 'validate';
  readonly baseUrl: string;
  readonly backend: BackendPreference;
  readonly theta: Uint8Array;
}

/** Page -> worker: compute a learned optimizer's update response. */
export interface InspectRequest {
  readonly type: 'inspect';
  readonly baseUrl: string;
  readonly backend: BackendPreference;
  readonly optimizer: OptimizerSpec;
  readonly theta?: Uint8Array;
  readonly gradients: number[];
  readonly momenta: number[];
  readonly warmupSteps: number;
  /** When set, also probe at these steps of a run on this task (real optimizer state). */
  readonly task?: TaskId;
  readonly steps?: number[];
}

/** Any request a worker takes. */
export type WorkerRequest = TrainRequest | ValidateRequest | InspectRequest;

/** Which backend to ask for: `auto` is WASM, then WebGL, then CPU. */
export type BackendPreference = 'auto' | 'wasm' | 'webgl' | 'cpu';

/** The backend a worker runs on. */
export interface BackendReport {
  readonly name: string;
  readonly detail: string;
}

/** Worker -> page. */
export type WorkerMessage =
  | { type: 'backend'; backend: BackendReport }
  | { type: 'progress'; points: { step: number; loss: number; x?: number; y?: number }[]; stepsPerSec: number }
  | { type: 'done'; steps: number; finalLoss: number; diverged: boolean; msPerStep: number }
  | { type: 'valid'; name: string; summary: string }
  | { type: 'response'; gradients: number[]; momenta: number[]; updates: number[][] }
  | { type: 'training-response'; gradients: number[]; path: string; snapshots: { step: number; loss: number; updates: number[][] }[] }
  | { type: 'error'; message: string };
