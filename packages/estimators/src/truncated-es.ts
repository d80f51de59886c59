import { disposeTree, type GradientEstimator, type Key, type TensorTree } from '@lopt/core';
import {
  antitheticGradient,
  antitheticThetas,
  checkESOptions,
  estimateKeys,
  hostLosses,
  type ESOptions,
} from './common.js';
import { disposeExcept } from './state.js';
import { fractionMasked } from './tbptt.js';
import { batchTheta, unrollStateInit, maskedMeanPerTask, unrollAll, type TruncatedUnrollOut } from './truncated-step.js';

/** Options of {@link truncatedES}. */
export type TruncatedESOptions = ESOptions;

/** Worker state of {@link truncatedES}: the persistent inner trainings (the + copy carries on). */
export interface TruncatedESState {
  /** The truncated step's state. */
  readonly unroll: unknown;
}

/**
 * Antithetic truncated evolution strategies (learned_optimization's `TruncatedES`). Per task
 * `i`, draw `eps_i ~ N(0, std^2 I)`, unroll `theta + eps_i` and `theta - eps_i` for
 * `unrollLength` steps from the same state with the same keys and data, and estimate
 * `g = mean_i (Lbar+_i - Lbar-_i) eps_i / (2 std^2)` with `Lbar` the masked time-mean of
 * the truncation's losses. Only the + state carries on to the next truncation. The
 * estimate is the gradient of the (Gaussian-smoothed) truncation loss with the starting
 * state held fixed, so short truncations are biased, as TBPTT's are.
 */
export function truncatedES(options: TruncatedESOptions): GradientEstimator<TruncatedESState> {
  const o = checkESOptions('truncatedES', options);
  const step = o.truncatedStep;
  const n = step.numTasks;
  return {
    name: 'truncated-es',
    init: unrollStateInit(step),
    estimate(theta: TensorTree, state: TruncatedESState, key: Key) {
      const { perturbationKey, unrollKey } = estimateKeys(key);
      const { eps, pTheta, nTheta } = antitheticThetas(theta, perturbationKey, o.std, n);
      // both copies start from the same state with the same keys: one batched computation when the step offers it
      const [pos, neg] = unrollAll(step, [{ thetas: pTheta, state: state.unroll }, { thetas: nTheta, state: state.unroll }], unrollKey, o.unrollLength) as [
        { state: unknown; out: TruncatedUnrollOut },
        { state: unknown; out: TruncatedUnrollOut },
      ];
      const lp = maskedMeanPerTask(hostLosses(pos.out.losses), pos.out.mask, n);
      const ln = maskedMeanPerTask(hostLosses(neg.out.losses), neg.out.mask, n);
      const { grad, meanLoss, diffs, nonFinite } = antitheticGradient(lp, ln, eps, o);
      disposeExcept(neg.state, pos.state, state.unroll);
      disposeTree(pos.out.losses);
      disposeTree(neg.out.losses);
      disposeTree(eps);
      disposeExcept([pTheta, nTheta], pos.state, theta);
      return {
        grad,
        meanLoss,
        state: { unroll: pos.state },
        metrics: {
          innerSteps: 2 * o.unrollLength * n,
          maskedFraction: fractionMasked(pos.out.mask),
          nonFiniteLossDiffs: nonFinite,
          meanAbsLossDiff: meanAbs(diffs),
        },
      };
    },
  };
}

/** Mean absolute value. */
export function meanAbs(values: Float64Array): number {
  let s = 0;
  for (const v of values) s += Math.abs(v);
  return values.length === 0 ? 0 : s / values.length;
}
