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
import { disposeExcept } from './state.js';
import { batchTheta, checkTruncatedStep, unrollStateInit, maskedMeanPerTask } from './truncated-step.js';

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
  const n = step.numTasks;
  return {
    name: 'tbptt',
    init: unrollStateInit(step),
    estimate(theta: TensorTree, state: TbpttState, key: Key) {
      const { leaves, structure } = treeFlatten(theta);
      let nextUnroll: unknown;
      let hostMask: readonly (readonly boolean[])[] = [];
      let lossValues: Float64Array = new Float64Array(0);
      const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => {
        const th = treeUnflatten(structure, ls);
        const r = step.unroll(batchTheta(th, n), state.unroll, key, unrollLength, {
          differentiable: true,
          stopInnerGradients,
        });
        nextUnroll = r.state;
        for (const t of collectTensors(r.state)) tf.keep(t);
        hostMask = r.out.mask;
        lossValues = Float64Array.from(r.out.losses.dataSync() as Float32Array);
        const m = tf.tensor2d(
          Float32Array.from(r.out.mask.flatMap((row) => row.map((b) => (b ? 1 : 0)))),
          [unrollLength, n],
        );
        const perTask = tf.div(tf.sum(tf.mul(r.out.losses, m), 0), tf.maximum(tf.sum(m, 0), 1));
        // 0 * sum(leaf) keeps every leaf on the tape, so unused leaves get a zero gradient.
        const anchor = tf.addN(ls.map((l) => tf.mul(tf.sum(l), 0)));
        return tf.add(tf.mean(perTask), anchor) as tf.Scalar;
      })(leaves);
      value.dispose();
      const perTask = maskedMeanPerTask(lossValues, hostMask, n);
      const meanLoss = perTask.reduce((a, b) => a + b, 0) / n;
      return {
        grad: treeUnflatten(structure, grads),
        meanLoss,
        state: { unroll: nextUnroll },
        metrics: { innerSteps: unrollLength * n, maskedFraction: fractionMasked(hostMask) },
      };
    },
  };
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
