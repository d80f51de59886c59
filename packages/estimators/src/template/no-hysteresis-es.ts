// TEMPLATE for a new gradient estimator: copy this file, rename, change the estimate.
// See CONTRIBUTING.md ("Adding an estimator") for the walk-through.
//
// This one is "truncated ES without hysteresis" (learned_optimization's
// research/hysteresis): like truncatedES, but the state carried to the next truncation is
// re-unrolled at the unperturbed theta, so it was never produced by a stale perturbation.
// It costs three unrolls per estimate instead of two.
import {
  checkNumber,
  disposeTree,
  foldIn,
  normal,
  split,
  treeFlatten,
  treeUnflatten,
  type GradientEstimator,
  type Key,
  type TensorTree,
} from '@lopt/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  batchTheta,
  checkTruncatedStep,
  disposeExcept,
  unrollStateInit,
  maskedMeanPerTask,
  type TruncatedStep,
} from '../index.js';

/** Options: every estimator takes the truncated step and the unroll length; add your own. */
export interface NoHysteresisESOptions {
  /** The inner trainings to unroll. */
  readonly truncatedStep: TruncatedStep;
  /** Steps per estimate. */
  readonly unrollLength: number;
  /** Perturbation standard deviation. Default 0.01. */
  readonly std?: number;
}

/** Worker state: a plain object of tensors and JSON only (it is checkpointed). */
export interface NoHysteresisESState {
  /** The truncated step's state, always produced at the unperturbed theta. */
  readonly unroll: unknown;
}

/** Truncated antithetic ES whose carried state is re-unrolled at the unperturbed theta. */
export function noHysteresisES(options: NoHysteresisESOptions): GradientEstimator<NoHysteresisESState> {
  // 1. Validate every option with LoptError (checkNumber / checkOneOf / checkTruncatedStep).
  const step = checkTruncatedStep('truncatedStep', options.truncatedStep);
  const K = checkNumber('unrollLength', options.unrollLength, { integer: true, min: 1 });
  const std = checkNumber('std', options.std ?? 0.01, { greaterThan: 0 });
  const n = step.numTasks;
  return {
    name: 'no-hysteresis-es',
    // 2. init: build the persistent state from theta repeated over the tasks (unrollStateInit).
    init: unrollStateInit(step),
    // 3. estimate: pure in (theta, state, key); never dispose theta or state (the caller
    //    frees the old state with disposeReplaced); free everything else you create.
    estimate(theta: TensorTree, state: NoHysteresisESState, key: Key) {
      const [kEps, kUnroll] = split(key, 2) as [Key, Key];
      const { leaves, structure } = treeFlatten(theta);
      const eps = leaves.map((x, j) => normal(foldIn(kEps, j), [n, ...x.shape], { std }));
      // tf.tidy frees the intermediate expandDims results (the leak check would catch them).
      const plus = treeUnflatten(structure, leaves.map((x, j) => tf.tidy(() => tf.add(tf.expandDims(x, 0), eps[j] as tf.Tensor))));
      const minus = treeUnflatten(structure, leaves.map((x, j) => tf.tidy(() => tf.sub(tf.expandDims(x, 0), eps[j] as tf.Tensor))));
      const center = batchTheta(theta, n);
      // Same key for all three unrolls: same tasks and data (antithetic pairs share data).
      const p = step.unroll(plus, state.unroll, kUnroll, K);
      const m = step.unroll(minus, state.unroll, kUnroll, K);
      const c = step.unroll(center, state.unroll, kUnroll, K);
      const lp = maskedMeanPerTask(p.out.losses.dataSync() as Float32Array, p.out.mask, n);
      const lm = maskedMeanPerTask(m.out.losses.dataSync() as Float32Array, m.out.mask, n);
      const lc = maskedMeanPerTask(c.out.losses.dataSync() as Float32Array, c.out.mask, n);
      const coef = tf.tensor1d(Float32Array.from(lp, (v, i) => {
        const d = v - (lm[i] as number);
        return Number.isFinite(d) ? d / (2 * std * std) : 0;
      }));
      const grad = treeUnflatten(
        structure,
        eps.map((e) => tf.tidy(() => tf.div(tf.sum(tf.mul(e, tf.reshape(coef, [n, ...e.shape.slice(1).map(() => 1)])), 0), n))),
      );
      // 4. Free what you created; keep only the new state (and never the caller's inputs).
      coef.dispose();
      disposeTree([p.out.losses, m.out.losses, c.out.losses, eps, plus, minus, center]);
      disposeExcept([p.state, m.state], c.state, state.unroll);
      return {
        grad,
        meanLoss: lc.reduce((a, b) => a + b, 0) / n,
        state: { unroll: c.state },
        metrics: { innerSteps: 3 * K * n },
      };
    },
  };
}
