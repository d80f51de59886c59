import * as tf from '@tensorflow/tfjs-core';
import { checkOptimizer, assertSameStructure, checkNumber, treeMap, type OptState, type Optimizer, type TensorTree, tidy } from '@lopt/core';
import { checkBoolean, checkKnownOptions, counter, readCount } from '../hyper.js';

/** Options of {@link lookahead}. */
export interface LookaheadOptions {
  /** Fast steps between synchronizations (k >= 1). Default 5. */
  readonly syncPeriod?: number;
  /** Slow step size alpha in [0, 1]. Default 0.5. */
  readonly slowStepSize?: number;
  /** Re-initialize the fast optimizer's state after each synchronization. Default false. */
  readonly resetState?: boolean;
}

/** State of {@link lookahead}: the fast optimizer's state, the slow weights and the steps since the last sync. */
export type LookaheadState<S> = { fast: S; slow: TensorTree; stepsSinceSync: tf.Scalar };

/**
 * Lookahead (Zhang et al. 2019; optax `lookahead`): `inner` takes `syncPeriod` fast steps,
 * then the slow weights move `slow += slowStepSize * (fast - slow)` and the fast weights
 * are reset to them. `state.params` are the **fast** weights (gradients are taken there);
 * the slow weights are in `state.state.slow` (see {@link lookaheadSlowParams}); right after
 * a synchronization the two are equal. Follows optax (the paper's `k = 5, alpha = 0.5`
 * defaults; inner state kept unless `resetState`).
 *
 * @example
 * ```ts
 * const opt = lookahead(adam({ learningRate: 1e-3 }), { syncPeriod: 5, slowStepSize: 0.5 });
 * ```
 */
export function lookahead<S>(inner: Optimizer<S>, options: LookaheadOptions = {}): Optimizer<LookaheadState<S>> {
  checkOptimizer('inner', inner, 'lookahead needs an Optimizer to wrap.');
  checkKnownOptions('lookahead', options, ['syncPeriod', 'slowStepSize', 'resetState']);
  const k = checkNumber('syncPeriod', options.syncPeriod ?? 5, { min: 1, integer: true });
  const alpha = checkNumber('slowStepSize', options.slowStepSize ?? 0.5, { min: 0, max: 1 });
  const reset = checkBoolean('resetState', options.resetState, false);
  return {
    name: `lookahead(${inner.name})`,
    evalParams: (state) => treeMap((p) => tf.clone(p), state.state.slow),
    init(params, opts) {
      return tidy<OptState<LookaheadState<S>>>(() => {
        const s = inner.init(params, opts);
        return {
          params,
          state: { fast: s.state, slow: treeMap((p) => tf.clone(p), params), stepsSinceSync: counter(0) },
          iteration: 0,
        };
      });
    },
    update(state, grads, ctx) {
      assertSameStructure(state.params, grads, { names: ['params', 'grads'], checkShapes: true });
      return tidy<OptState<LookaheadState<S>>>(() => {
        const since = readCount(state.state.stepsSinceSync, 'stepsSinceSync');
        const next = inner.update({ params: state.params, state: state.state.fast, iteration: state.iteration }, grads, ctx);
        let fast = next.params;
        let slow = state.state.slow;
        let fastState = next.state;
        const sync = since === k - 1;
        if (sync) {
          slow = treeMap((s, f) => tf.add(s, tf.mul(alpha, tf.sub(f, s))), slow, fast);
          fast = slow;
          if (reset) fastState = inner.init(slow).state;
        }
        return {
          params: fast,
          state: { fast: fastState, slow, stepsSinceSync: counter(sync ? 0 : since + 1) },
          iteration: state.iteration + 1,
        };
      });
    },
  };
}

/** The slow weights of a {@link lookahead} state (what to evaluate or deploy). */
export function lookaheadSlowParams<S>(state: OptState<LookaheadState<S>>): TensorTree {
  return state.state.slow;
}
