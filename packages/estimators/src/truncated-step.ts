import * as tf from '@tensorflow/tfjs-core';
import { LoptError, treeMap, type Key, type TensorTree } from '@lopt/core';
import { disposeExcept } from './state.js';

/**
 * Meta-parameters for each of a truncated step's `numTasks` inner trainings, as one tree
 * whose leaves carry a leading task axis: leaf `[numTasks, ...shape]` holds task `i`'s
 * copy of theta's leaf `[...shape]` at index `i` (learned_optimization's
 * `theta_is_vector`). Estimators build it with {@link batchTheta} (same theta everywhere)
 * or by adding per-task perturbations.
 */
export type BatchedTheta = TensorTree;

/** Options of {@link TruncatedStep.init}. */
export interface TruncatedStepInitOptions {
  /**
   * Fixes every episode's length (and the `numSteps` the learned optimizer is told) instead
   * of drawing it from the truncation schedule; `fullES` uses it to run fresh episodes of
   * a sampled length.
   */
  readonly episodeLength?: number;
}

/** Options of {@link TruncatedStep.unroll}. */
export interface TruncatedUnrollOptions {
  /**
   * When true the unroll is being differentiated (`tbptt` runs it inside
   * `tf.valueAndGrads`): the step must keep every intermediate tensor alive (the enclosing
   * gradient scope frees them) and return `losses` connected to `thetas`.
   */
  readonly differentiable?: boolean;
  /**
   * With `differentiable`: treat the inner gradients as constants (no second-order terms
   * through the inner gradient, as in Andrychowicz et al. 2016).
   */
  readonly stopInnerGradients?: boolean;
}

/**
 * What one unroll of `numSteps` steps reports. Host arrays are indexed `[step][task]`.
 */
export interface TruncatedUnrollOut {
  /**
   * Meta-losses `[numSteps, numTasks]`, already normalized by each task's normalizer; 0
   * where `mask` is false. Owned by the caller.
   */
  readonly losses: tf.Tensor2D;
  /** False for steps that count for nothing (a reset step, which trains nothing). */
  readonly mask: readonly (readonly boolean[])[];
  /** True on the last training step of an episode (the next step of that task resets it). */
  readonly isDone: readonly (readonly boolean[])[];
  /** The inner-step counter of each task after each step (0 after a reset). */
  readonly iteration: readonly (readonly number[])[];
}

/**
 * The small contract every estimator unrolls through: `numTasks` independent inner
 * trainings, advanced a few steps at a time from per-task meta-parameters.
 *
 * Rules:
 * - **State** `S` is a plain object or array tree of tensors and JSON values (numbers,
 *   strings, booleans, null, plain objects, arrays) and nothing else, so that estimators
 *   can dispose it with `disposeReplaced` and meta-training can checkpoint it.
 * - **Purity.** `init` and `unroll` never mutate or dispose their inputs; antithetic
 *   estimators unroll two thetas from one state. The returned state may share tensors with
 *   the input state; callers free the old one with `disposeReplaced(old, next)`.
 * - **Keys.** Everything random in a step (task sampling at resets, batches, optimizer
 *   keys) is derived from `key`, so two unrolls with the same key see the same tasks and
 *   data: that is how antithetic pairs share data.
 * - **Resets.** A task whose episode is done (`isDone` on its last training step) spends
 *   its next step resetting (new task, parameters and optimizer state drawn from the key);
 *   that step has `mask` false and loss 0.
 */
export interface TruncatedStep<S = unknown> {
  /** A short name (used in metrics and checkpoints). */
  readonly name: string;
  /** Number of independent inner trainings. */
  readonly numTasks: number;
  /** Initial state of all inner trainings, from `thetas` (leading task axis) and `key`. */
  init(thetas: BatchedTheta, key: Key, options?: TruncatedStepInitOptions): S;
  /** Advances every inner training `numSteps` steps. */
  unroll(
    thetas: BatchedTheta,
    state: S,
    key: Key,
    numSteps: number,
    options?: TruncatedUnrollOptions,
  ): { state: S; out: TruncatedUnrollOut };
  /**
   * Optional: several unrolls from the same `key` (the + and - copies of an antithetic
   * pair), one per item, possibly as one batched computation. Must equal
   * `items.map((it) => unroll(it.thetas, it.state, key, numSteps, options))` (to float32
   * round-off); estimators call it through {@link unrollAll}.
   */
  unrollMany?(
    items: readonly TruncatedUnrollItem<S>[],
    key: Key,
    numSteps: number,
    options?: TruncatedUnrollOptions,
  ): { state: S; out: TruncatedUnrollOut }[];
  /**
   * Optional: the meta-loss of every task at its current parameters, averaged over
   * `numSamples` fresh batches (normalized), shape `[numTasks]`. `fullES` with loss type
   * `lastRecompute` needs it.
   */
  evaluate?(thetas: BatchedTheta, state: S, key: Key, numSamples: number): tf.Tensor1D;
}

/** One unroll of {@link TruncatedStep.unrollMany}: per-task thetas and the state to unroll from. */
export interface TruncatedUnrollItem<S = unknown> {
  /** Meta-parameters with a leading task axis. */
  readonly thetas: BatchedTheta;
  /** The state to unroll from (not consumed). */
  readonly state: S;
}

/**
 * Unrolls every item from the same key: through `step.unrollMany` when the step offers it
 * (one batched computation), else one `unroll` per item.
 */
export function unrollAll<S>(
  step: TruncatedStep<S>,
  items: readonly TruncatedUnrollItem<S>[],
  key: Key,
  numSteps: number,
  options?: TruncatedUnrollOptions,
): { state: S; out: TruncatedUnrollOut }[] {
  if (typeof step.unrollMany === 'function') return step.unrollMany(items, key, numSteps, options);
  return items.map((it) => step.unroll(it.thetas, it.state, key, numSteps, options));
}

/** Validates that `value` looks like a {@link TruncatedStep}. */
export function checkTruncatedStep(option: string, value: unknown): TruncatedStep {
  const v = value as Partial<TruncatedStep> | null;
  if (
    typeof v !== 'object' || v === null || typeof v.init !== 'function' || typeof v.unroll !== 'function' ||
    typeof v.numTasks !== 'number' || !Number.isInteger(v.numTasks) || v.numTasks < 1
  ) {
    throw new LoptError(
      'INVALID_OPTION',
      `Option '${option}' must be a TruncatedStep (an object with numTasks >= 1, init and unroll), for example lOptTruncatedStep(...).`,
      { option },
    );
  }
  return v as TruncatedStep;
}

/** Theta repeated for `numTasks` tasks (leading task axis); differentiable with respect to theta. */
export function batchTheta<T extends TensorTree>(theta: T, numTasks: number): T {
  return treeMap((x) => tf.tidy(() => tf.broadcastTo(tf.expandDims(x, 0), [numTasks, ...x.shape])), theta);
}

/**
 * The truncated step's state started at `theta` repeated over its tasks (`step.init` of
 * {@link batchTheta}), the estimators' usual worker-state init. `theta` stays the caller's.
 */
export function initAtTheta<S>(step: TruncatedStep<S>, theta: TensorTree, key: Key): S {
  const batched = batchTheta(theta, step.numTasks);
  const state = step.init(batched, key);
  disposeExcept(batched, state, theta);
  return state;
}

/**
 * The `init` of an estimator whose worker state is `{ unroll }`: the truncated step's state
 * started at theta ({@link initAtTheta}).
 */
export function unrollStateInit<S>(step: TruncatedStep<S>): (theta: TensorTree, key: Key) => { unroll: S } {
  return (theta, key) => ({ unroll: initAtTheta(step, theta, key) });
}

/** Task `i`'s theta from a batched theta, for every task: `numTasks` trees (differentiable). */
export function unbatchTheta(thetas: BatchedTheta, numTasks: number): TensorTree[] {
  const perLeaf: tf.Tensor[][] = [];
  const leafIndex = new Map<tf.Tensor, number>();
  treeMap((x) => {
    if (x.shape[0] !== numTasks) {
      throw new LoptError('SHAPE_MISMATCH', `A batched theta leaf has leading dimension ${x.shape[0]}, expected numTasks = ${numTasks}.`);
    }
    leafIndex.set(x, perLeaf.length);
    // tf.unstack's gradient fails for a length-1 axis (tfjs 4.22), so one task is a reshape.
    perLeaf.push(numTasks === 1 ? [tf.reshape(x, x.shape.slice(1))] : tf.unstack(x, 0));
    return x;
  }, thetas);
  const out: TensorTree[] = [];
  for (let i = 0; i < numTasks; i++) {
    out.push(treeMap((x) => (perLeaf[leafIndex.get(x) as number] as tf.Tensor[])[i] as tf.Tensor, thetas));
  }
  return out;
}

/** Per-step masked means over time: `sum_t L[t,i] m[t,i] / max(1, sum_t m[t,i])` for each task, in float64. */
export function maskedMeanPerTask(losses: Float32Array | Float64Array | readonly number[], mask: readonly (readonly boolean[])[], numTasks: number): Float64Array {
  const out = new Float64Array(numTasks);
  const count = new Float64Array(numTasks);
  mask.forEach((row, t) => {
    for (let i = 0; i < numTasks; i++) {
      if (row[i]) {
        out[i] = (out[i] as number) + (losses[t * numTasks + i] as number);
        count[i] = (count[i] as number) + 1;
      }
    }
  });
  for (let i = 0; i < numTasks; i++) out[i] = (out[i] as number) / Math.max(1, count[i] as number);
  return out;
}
