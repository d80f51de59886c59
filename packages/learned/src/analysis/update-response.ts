import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  advance,
  checkNumber,
  disposeReplaced,
  disposeTree,
  foldIn,
  key as makeKey,
  lossAndGrads,
  treeFlatten,
  treeLeaves,
  treePaths,
  treeUnflatten,
  type Key,
  type LearnedOptimizer,
  type OptState,
  type Optimizer,
  type Task,
  type TensorTree,
} from '@lopt/core';

/** Grid points a response may have at most (per axis). */
const MAX_GRID = 1001;

/** `n` evenly spaced numbers from `lo` to `hi` (both included). */
function linspace(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}

/** The default gradient grid: 41 values from -1 to 1 (0 included). */
export const DEFAULT_GRADIENT_GRID: readonly number[] = Object.freeze(linspace(-1, 1, 41));

function checkGrid(option: string, values: unknown): number[] {
  if (!Array.isArray(values) || values.length === 0 || values.length > MAX_GRID) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be a non-empty array of at most ${MAX_GRID} finite numbers.`, { option });
  }
  return values.map((v, i) => checkNumber(`${option}[${i}]`, v));
}

function checkSteps(values: unknown): number[] {
  const steps = checkGrid('steps', values).map((s, i) => checkNumber(`steps[${i}]`, s, { integer: true, min: 0, max: 1_000_000 }));
  for (let i = 1; i < steps.length; i++) {
    if ((steps[i] as number) <= (steps[i - 1] as number)) throw new LoptError('INVALID_OPTION', `Option 'steps' must be strictly increasing; steps[${i}] = ${steps[i]} follows ${steps[i - 1]}.`, { option: 'steps' });
  }
  return steps;
}

/** Copies `values` into plain numbers, throwing `NON_FINITE` (naming `what`) at the first NaN or infinity. */
function finite(values: ArrayLike<number>, what: (i: number) => string): number[] {
  const out = Array.from(values);
  const bad = out.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new LoptError('NON_FINITE', `The learned optimizer's update is ${out[bad]} at ${what(bad)}.`, { path: what(bad) });
  return out;
}

/** The change of leaf `leaf` of the params in one update from `state` (the state is not consumed). */
function leafDelta<S>(opt: Optimizer<S>, state: OptState<S>, grads: TensorTree, loss: tf.Scalar, k: Key, leaf: number): Float32Array {
  const delta = tf.tidy(() => {
    const next = opt.update(state, grads, { loss, key: k });
    return tf.reshape(tf.sub(treeLeaves(next.params)[leaf] as tf.Tensor, treeLeaves(state.params)[leaf] as tf.Tensor), [-1]);
  });
  const out = delta.dataSync() as Float32Array;
  delta.dispose();
  return out;
}

/** Options of {@link updateResponse}. */
export interface UpdateResponseOptions {
  /** Gradient values probed (the x axis). Default {@link DEFAULT_GRADIENT_GRID}. */
  readonly gradients?: readonly number[];
  /**
   * Momentum-feature values (one response curve each): before the probe step the optimizer
   * sees `warmupSteps` steps of this constant gradient, which fills its accumulators
   * (momentum, second moments) with it. Default `[0]`.
   */
  readonly momenta?: readonly number[];
  /** Steps of constant gradient before the probe step (an integer >= 0). Default 0 (the response of a fresh state). */
  readonly warmupSteps?: number;
  /** Training horizon passed to the optimizer (Celo-style schedules need it). Default 1000. */
  readonly numSteps?: number;
  /** Loss value passed as `ctx.loss` at every step (optimizers that read the loss need one). Default 1. */
  readonly loss?: number;
  /** Seed of the key passed to `init` and every update. Default 0. */
  readonly seed?: number;
}

/** What {@link updateResponse} returns: plain, finite numbers. */
export interface UpdateResponse {
  /** The probed gradient values. */
  readonly gradients: number[];
  /** The momentum-feature values (rows of {@link UpdateResponse.updates}). */
  readonly momenta: number[];
  /** `updates[i][j]`: the parameter change for momentum `momenta[i]` and gradient `gradients[j]`. */
  readonly updates: number[][];
  /** The warm-up steps taken before the probe. */
  readonly warmupSteps: number;
}

/**
 * The update a learned optimizer makes as a function of the gradient (and of a momentum
 * feature), as in "Reverse engineering learned optimizers" (Maheswaranathan et al., 2021):
 * one parameter vector holds every (momentum, gradient) pair of the grid, is warmed up for
 * `warmupSteps` steps with gradient `momenta[i]` in row `i`, then takes one step with
 * gradient `gradients[j]` at column `j`; the change of each entry in that step is the
 * response. Everything runs through the `Optimizer` contract, so any learned (or
 * hand-designed, wrapped as learned) optimizer works. Note that optimizers with tensor-wide
 * features (e.g. second-moment normalization over a tensor) see the whole grid as one tensor.
 * Throws `INVALID_OPTION` for a bad grid or option and `NON_FINITE` if an update is not finite.
 *
 * @example
 * ```ts
 * const { lopt, theta } = pretrained('celo2');
 * const r = updateResponse(lopt, theta, { gradients: [-1, -0.1, 0, 0.1, 1] });
 * console.log(r.updates[0]); // the update at each gradient value
 * ```
 */
export function updateResponse<Theta extends TensorTree>(lopt: LearnedOptimizer<Theta>, theta: Theta, options: UpdateResponseOptions = {}): UpdateResponse {
  const gradients = checkGrid('gradients', options.gradients ?? DEFAULT_GRADIENT_GRID);
  const momenta = checkGrid('momenta', options.momenta ?? [0]);
  const warmupSteps = checkNumber('warmupSteps', options.warmupSteps ?? 0, { integer: true, min: 0, max: 100_000 });
  const numSteps = checkNumber('numSteps', options.numSteps ?? 1000, { integer: true, min: 1 });
  const lossValue = checkNumber('loss', options.loss ?? 1);
  const k = makeKey(checkNumber('seed', options.seed ?? 0, { integer: true, min: 0 }));
  const g = gradients.length;
  const opt = lopt.optimizer(theta, { numSteps });
  const warm = tf.tensor1d(momenta.flatMap((m) => gradients.map(() => m)));
  const probe = tf.tensor1d(momenta.flatMap(() => gradients));
  const loss = tf.scalar(lossValue);
  let state = opt.init(tf.zeros([momenta.length * g]), { numSteps, key: k });
  try {
    for (let i = 0; i < warmupSteps; i++) state = advance(opt, state, warm, { loss, key: foldIn(k, i) });
    const delta = leafDelta(opt, state, probe, loss, foldIn(k, warmupSteps), 0);
    const flat = finite(delta, (i) => `momentum ${momenta[Math.floor(i / g)]}, gradient ${gradients[i % g]}`);
    return { gradients, momenta, updates: momenta.map((_, i) => flat.slice(i * g, (i + 1) * g)), warmupSteps };
  } finally {
    disposeReplaced(state, theta);
    disposeTree([warm, probe, loss]);
  }
}

/** Options of {@link updateResponseDuringTraining}. */
export interface TrainingResponseOptions {
  /** The task trained (its `train` dataset is sampled when it has one). */
  readonly task: Task;
  /** Steps (strictly increasing integers >= 0) at which the response is probed with the real optimizer state. */
  readonly steps: readonly number[];
  /** Gradient values probed. Default {@link DEFAULT_GRADIENT_GRID}. */
  readonly gradients?: readonly number[];
  /** Parameter entries probed (of the largest parameter tensor, evenly spaced). Default 4. */
  readonly probes?: number;
  /** Training horizon passed to the optimizer. Default the last probed step + 1. */
  readonly numSteps?: number;
  /** Seed of the parameter init, data and optimizer keys. Default 0. */
  readonly seed?: number;
}

/** The response at one step of {@link updateResponseDuringTraining}. */
export interface ResponseSnapshot {
  /** The training step (updates taken before the probe). */
  readonly step: number;
  /** The training loss at this step. */
  readonly loss: number;
  /** The real gradient of each probed entry at this step. */
  readonly gradient: number[];
  /** `updates[p][j]`: the change of probed entry `p` if its gradient were `gradients[j]` (all other gradients real). */
  readonly updates: number[][];
}

/** What {@link updateResponseDuringTraining} returns: plain, finite numbers. */
export interface TrainingResponse {
  /** The probed gradient values. */
  readonly gradients: number[];
  /** Tree path of the probed parameter tensor. */
  readonly path: string;
  /** Flat indices of the probed entries in that tensor. */
  readonly indices: number[];
  /** One snapshot per probed step. */
  readonly snapshots: ResponseSnapshot[];
}

/** Index of the largest leaf (the first of equal ones) and evenly spaced entries of it. */
function probeEntries(params: TensorTree, probes: number): { leaf: number; indices: number[] } {
  const sizes = treeLeaves(params).map((t) => t.size);
  const leaf = sizes.indexOf(Math.max(...sizes));
  const n = sizes[leaf] as number;
  const count = Math.min(probes, n);
  return { leaf, indices: Array.from({ length: count }, (_, p) => Math.floor(((p + 0.5) * n) / count)) };
}

/** Probes one real state: for each grid value, the change of the probed entries with that gradient. */
function snapshotAt<S>(opt: Optimizer<S>, state: OptState<S>, grads: TensorTree, loss: tf.Scalar, k: Key, where: { leaf: number; indices: number[] }, gradients: number[], step: number): ResponseSnapshot {
  const { leaves, structure } = treeFlatten(grads);
  const real = leaves[where.leaf] as tf.Tensor;
  const base = real.dataSync() as Float32Array;
  const columns = gradients.map((gv, j) => {
    const data = Float32Array.from(base);
    for (const i of where.indices) data[i] = gv;
    const swapped = tf.tensor(data, real.shape);
    try {
      const delta = leafDelta(opt, state, treeUnflatten(structure, leaves.map((t, l) => (l === where.leaf ? swapped : t))), loss, k, where.leaf);
      return finite(where.indices.map((i) => delta[i] as number), (p) => `step ${step}, probe ${p}, gradient ${gradients[j]}`);
    } finally {
      swapped.dispose();
    }
  });
  const updates = where.indices.map((_, p) => columns.map((c) => c[p] as number));
  return { step, loss: loss.dataSync()[0] as number, gradient: where.indices.map((i) => base[i] as number), updates };
}

/**
 * The update response at chosen steps of a real training run: trains `task` with the learned
 * optimizer and, at each step in `steps`, takes the real optimizer state and gradient and asks
 * what the update of a few probed parameter entries would be if their gradient were each value
 * of the grid (one update per grid value; the state is not advanced by the probes). Shows
 * whether the optimizer clips, how its effective learning rate changes over training (the
 * slope at 0), and how its state (momentum) shifts the curve. Plain, finite arrays; memory is
 * released as it goes (every step goes through `advance`). Throws `INVALID_OPTION` for bad
 * options and `NON_FINITE` for a non-finite update.
 *
 * @example
 * ```ts
 * const r = updateResponseDuringTraining(learnableSgdm(), learnableSgdm().init(key(0)), { task, steps: [0, 50, 100] });
 * ```
 */
export function updateResponseDuringTraining<Theta extends TensorTree>(lopt: LearnedOptimizer<Theta>, theta: Theta, options: TrainingResponseOptions): TrainingResponse {
  if (typeof options !== 'object' || options === null || typeof options.task?.loss !== 'function') throw new LoptError('INVALID_OPTION', "Option 'task' must be a Task (with init and loss).", { option: 'task' });
  const steps = checkSteps(options.steps);
  const gradients = checkGrid('gradients', options.gradients ?? DEFAULT_GRADIENT_GRID);
  const probes = checkNumber('probes', options.probes ?? 4, { integer: true, min: 1, max: 64 });
  const last = steps[steps.length - 1] as number;
  const numSteps = checkNumber('numSteps', options.numSteps ?? last + 1, { integer: true, min: 1 });
  const k = makeKey(checkNumber('seed', options.seed ?? 0, { integer: true, min: 0 }));
  const opt = lopt.optimizer(theta, { numSteps });
  let state = opt.init(options.task.init(foldIn(k, 1)), { numSteps, key: foldIn(k, 2) });
  const where = probeEntries(state.params, probes);
  const path = treePaths(state.params)[where.leaf] as string;
  const snapshots: ResponseSnapshot[] = [];
  try {
    for (let step = 0; step <= last; step++) {
      const sk = foldIn(foldIn(k, 3), step);
      const batch = options.task.datasets?.train.sample(sk) as TensorTree | undefined;
      const { value, grads } = lossAndGrads((p) => options.task.loss(p, batch as TensorTree, sk), state.params);
      try {
        if (steps.includes(step)) snapshots.push(snapshotAt(opt, state, grads, value, sk, where, gradients, step));
        state = advance(opt, state, grads, { loss: value, key: sk });
      } finally {
        disposeTree([grads, value, ...(batch === undefined ? [] : [batch])]);
      }
    }
    return { gradients, path, indices: where.indices, snapshots };
  } finally {
    disposeReplaced(state, theta);
  }
}
