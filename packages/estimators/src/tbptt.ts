import * as tf from '@tensorflow/tfjs-core';
import {
  checkBoolean,
  checkNumber,
  collectTensors,
  treeFlatten,
  treeUnflatten,
  type GradientEstimator,
  type Key,
  type TensorTree,
} from '@lopt/core';
import { checkKnownOptions, type EstimatorBaseOptions } from './common.js';
import { batchTheta, checkTruncatedStep, unrollStateInit, maskedMeanPerTask, type TruncatedStep } from './truncated-step.js';

/** Options of {@link tbptt}. */
export interface TbpttOptions extends EstimatorBaseOptions {
  /**
   * Treat the inner gradients as constants: no second-order terms through the inner
   * gradient (Andrychowicz et al. 2016). Default false (the full gradient, as the reference).
   */
  readonly stopInnerGradients?: boolean;
}

/** Worker state of {@link tbptt}: the persistent inner trainings. */
export interface TbpttState {
  /** The truncated step's state, carried from one truncation to the next. */
  readonly unroll: unknown;
}

/**
 * Truncated backpropagation through time (learned_optimization's `TruncatedGrad`): the
 * gradient of the masked mean meta-loss of one truncation of `unrollLength` steps with
 * respect to theta, by `tf.valueAndGrads` through the unroll (including the terms through
 * the inner gradients unless `stopInnerGradients`). The state carries over between
 * truncations, so the estimate ignores theta's influence before the truncation: biased
 * for short truncations, exact when the truncation covers the whole episode.
 *
 * The loss is `mean_i sum_t L[t,i] m[t,i] / sum_t m[t,i]` (tasks with no unmasked step
 * count 0).
 */
export function tbptt(options: TbpttOptions): GradientEstimator<TbpttState> {
  checkKnownOptions('tbptt', options, ['truncatedStep', 'unrollLength', 'stopInnerGradients']);
  const step = checkTruncatedStep('truncatedStep', options.truncatedStep);
  const unrollLength = checkNumber('unrollLength', options.unrollLength, { integer: true, min: 1 });
  const stopInnerGradients = checkBoolean('stopInnerGradients', options.stopInnerGradients, false);
  return {
    name: 'tbptt',
    init: unrollStateInit(step),
    estimate(theta: TensorTree, state: TbpttState, key: Key) {
      const r = differentiableTruncation(step, theta, state.unroll, key, unrollLength, stopInnerGradients);
      const perTask = maskedMeanPerTask(r.losses, r.mask, step.numTasks);
      return {
        grad: r.grad,
        meanLoss: perTask.reduce((a, b) => a + b, 0) / step.numTasks,
        state: { unroll: r.state },
        metrics: { innerSteps: unrollLength * step.numTasks, maskedFraction: fractionMasked(r.mask) },
      };
    },
  };
}

/** One truncation unrolled under a tape: theta's gradient, the state after it, its mask and losses (host). */
interface DifferentiableTruncation {
  readonly grad: TensorTree;
  readonly state: unknown;
  readonly mask: readonly (readonly boolean[])[];
  readonly losses: Float64Array;
}

/**
 * Unrolls `unrollLength` steps of `step` from `unrollState` at theta (repeated over the
 * tasks) inside `tf.valueAndGrads` and differentiates the masked mean loss with respect to
 * theta. The state it returns is kept out of the tape's tidy; the caller owns it.
 */
function differentiableTruncation(
  step: TruncatedStep<unknown>,
  theta: TensorTree,
  unrollState: unknown,
  key: Key,
  unrollLength: number,
  stopInnerGradients: boolean,
): DifferentiableTruncation {
  const n = step.numTasks;
  const { leaves, structure } = treeFlatten(theta);
  let state: unknown;
  let mask: readonly (readonly boolean[])[] = [];
  let losses: Float64Array = new Float64Array(0);
  const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => {
    const r = step.unroll(batchTheta(treeUnflatten(structure, ls), n), unrollState, key, unrollLength, { differentiable: true, stopInnerGradients });
    state = r.state;
    for (const t of collectTensors(r.state)) tf.keep(t);
    mask = r.out.mask;
    losses = Float64Array.from(r.out.losses.dataSync() as Float32Array);
    // 0 * sum(leaf) keeps every leaf on the tape, so unused leaves get a zero gradient.
    const anchor = tf.addN(ls.map((l) => tf.mul(tf.sum(l), 0)));
    return tf.add(maskedMeanLoss(r.out.losses, r.out.mask), anchor) as tf.Scalar;
  })(leaves);
  value.dispose();
  return { grad: treeUnflatten(structure, grads), state, mask, losses };
}

/** `mean_i sum_t L[t,i] m[t,i] / max(sum_t m[t,i], 1)` of losses `[T, n]` and a host mask (differentiable). */
function maskedMeanLoss(losses: tf.Tensor, mask: readonly (readonly boolean[])[]): tf.Scalar {
  const [T, n] = losses.shape as [number, number];
  const m = tf.tensor2d(Float32Array.from(mask.flatMap((row) => row.map((b) => (b ? 1 : 0)))), [T, n]);
  return tf.mean(tf.div(tf.sum(tf.mul(losses, m), 0), tf.maximum(tf.sum(m, 0), 1)));
}

/** Fraction of (step, task) entries with mask false. */
export function fractionMasked(mask: readonly (readonly boolean[])[]): number {
  let total = 0;
  let off = 0;
  for (const row of mask) for (const b of row) {
    total++;
    if (!b) off++;
  }
  return total === 0 ? 0 : off / total;
}
