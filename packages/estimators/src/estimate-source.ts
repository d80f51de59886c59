import type * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  deserializeTree,
  disposeTree,
  assertSameStructure,
  serializeTree,
  treeLeaves,
  type Key,
  type TensorTree,
} from '@lopt/core';

/** One gradient estimate as the learner receives it from a worker. */
export interface WorkerEstimate {
  /** Index of the estimator (slot) that produced it, in `metaTrain`'s `estimators` order. */
  readonly index: number;
  /** The estimated meta-gradient (owned by the receiver). */
  readonly grad: TensorTree;
  /** The estimator's mean meta-loss. */
  readonly meanLoss: number;
  /** The estimator's metrics. */
  readonly metrics: Readonly<Record<string, number>>;
  /** The theta version the estimate was computed at. */
  readonly version: number;
  /** Who computed it (worker id). */
  readonly worker: string;
}

/** What an {@link EstimateSource} hands the learner for one outer step. */
export interface CollectedEstimates {
  /** The accepted estimates of this step (validated; owned by the learner). */
  readonly estimates: readonly WorkerEstimate[];
  /** Counters of the source (rejections, stale drops, live workers), reported under `source/<name>`. */
  readonly metrics: Readonly<Record<string, number>>;
}

/**
 * Where `metaTrain` gets its estimates from when they are not computed in-process: a
 * worker pool (`@lopt/estimators/node`'s `workerPool`) or Redis workers
 * (`redisEstimateSource`). The learner owns theta, the outer optimizer, the step counter and
 * checkpoints; a source only turns (theta, version) into validated estimates.
 */
export interface EstimateSource {
  /** A short name for messages. */
  readonly name: string;
  /**
   * True when the learner's checkpoint holds the workers' estimator states (the local pool,
   * which can return them); false when workers keep their own (Redis workers outlive a learner).
   */
  readonly ownsWorkerStates: boolean;
  /**
   * Starts the workers. `workerKey` is `foldIn(key, 1)` of the run (estimator `i`'s state
   * starts from `foldIn(workerKey, i)`); `workerStates` are restored states (owned by the
   * source afterwards) when a run resumes.
   */
  start(args: { theta: TensorTree; step: number; workerKey: Key; workerStates?: unknown[] }): Promise<void>;
  /** The estimates of outer step `step` (= theta version), with `stepKey` = `foldIn(foldIn(key, 2), step)`. */
  collect(args: { theta: TensorTree; step: number; stepKey: Key }): Promise<CollectedEstimates>;
  /** The workers' estimator states, one per estimator (owned by the caller); only when `ownsWorkerStates`. */
  workerStates?(): Promise<unknown[]>;
  /** Stops the workers (or detaches from them) and frees the source's resources. */
  close(): Promise<void>;
}

/** Why an estimate was refused (see {@link checkEstimate}). */
export type EstimateRejection = 'structure' | 'non-finite' | 'stale' | 'future' | 'index';

/**
 * Validates an estimate before the learner uses it: the gradient tree has theta's structure,
 * dtypes and shapes, every entry and the mean loss are finite, the theta version is within
 * `staleness` versions of `version` (and not from the future), and the index names an
 * estimator. Returns undefined when it is usable, else the reason, so a bad or stale worker
 * cannot corrupt theta. One device read for the finiteness check.
 */
export function checkEstimate(
  theta: TensorTree,
  e: { grad: unknown; meanLoss: unknown; version: unknown; index: unknown },
  o: { version: number; staleness: number; estimators: number },
): EstimateRejection | undefined {
  if (typeof e.index !== 'number' || !Number.isInteger(e.index) || e.index < 0 || e.index >= o.estimators) return 'index';
  if (typeof e.version !== 'number' || !Number.isInteger(e.version)) return 'stale';
  if (e.version > o.version) return 'future';
  if (o.version - e.version > o.staleness) return 'stale';
  if (!sameLayout(theta, e.grad)) return 'structure';
  if (typeof e.meanLoss !== 'number' || !Number.isFinite(e.meanLoss)) return 'non-finite';
  return allFinite(treeLeaves(e.grad as TensorTree)) ? undefined : 'non-finite';
}

function sameLayout(theta: TensorTree, grad: unknown): boolean {
  try {
    assertSameStructure(theta, grad as TensorTree, { names: ['theta', 'estimate'], checkShapes: true });
    const g = treeLeaves(grad as TensorTree);
    return treeLeaves(theta).every((t, i) => g[i]?.dtype === t.dtype);
  } catch {
    return false;
  }
}

function allFinite(leaves: readonly tf.Tensor[]): boolean {
  for (const t of leaves) {
    const v = t.dataSync();
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i] as number)) return false;
  }
  return true;
}

const ESTIMATE_KIND = 'lopt-estimate';
const THETA_KIND = 'lopt-theta';

/** Serializes an estimate (safetensors layout; the loss and metrics in the metadata, NaN kept). */
export function encodeEstimate(e: WorkerEstimate): Uint8Array {
  return serializeTree(e.grad, {
    kind: ESTIMATE_KIND,
    name: 'estimate',
    extra: { index: e.index, version: e.version, worker: e.worker, meanLoss: String(e.meanLoss), metrics: Object.entries(e.metrics).map(([k, v]) => [k, String(v)]) },
  });
}

/**
 * Reads an estimate written by {@link encodeEstimate}; throws `LoptError('CHECKPOINT_INVALID')`
 * (from the checkpoint reader) or `INVALID_OPTION` on a malformed message. Checks nothing
 * about its values: call {@link checkEstimate}.
 */
export function decodeEstimate(bytes: Uint8Array): WorkerEstimate {
  const { tree, metadata } = deserializeTree(bytes, { kind: ESTIMATE_KIND });
  const x = metadata.extra;
  const metrics: Record<string, number> = {};
  if (Array.isArray(x.metrics)) for (const m of x.metrics as unknown[]) if (Array.isArray(m) && typeof m[0] === 'string') metrics[m[0]] = Number(m[1]);
  if (typeof x.index !== 'number' || typeof x.version !== 'number' || typeof x.worker !== 'string' || typeof x.meanLoss !== 'string') {
    disposeTree(tree);
    throw new LoptError('INVALID_OPTION', "An estimate message must carry 'index', 'version', 'worker' and 'meanLoss'.", { option: 'estimate' });
  }
  return { index: x.index, version: x.version, worker: x.worker, meanLoss: Number(x.meanLoss), metrics, grad: tree };
}

/** Serializes theta with its version (what the learner broadcasts). */
export function encodeTheta(theta: TensorTree, version: number): Uint8Array {
  return serializeTree(theta, { kind: THETA_KIND, name: 'theta', extra: { version } });
}

/** Reads theta written by {@link encodeTheta}. */
export function decodeTheta(bytes: Uint8Array): { theta: TensorTree; version: number } {
  const { tree, metadata } = deserializeTree(bytes, { kind: THETA_KIND });
  const version = metadata.extra.version;
  if (typeof version !== 'number' || !Number.isInteger(version)) {
    disposeTree(tree);
    throw new LoptError('INVALID_OPTION', "A theta message must carry an integer 'version'.", { option: 'version' });
  }
  return { theta: tree, version };
}
