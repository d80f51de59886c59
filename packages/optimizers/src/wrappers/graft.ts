import * as tf from '@tensorflow/tfjs-core';
import { LoptError, hasInitAndUpdate, assertSameStructure, globalNorm, treeMap, type OptState, type Optimizer, tidy } from '@lopt/core';

/** State of {@link graft}: the two inner optimizers' states. */
export type GraftState<M, D> = { magnitude: M; direction: D };

/**
 * Learning-rate grafting (Agarwal et al. 2020; learned_optimization `GraftedOptimizer`):
 * each step takes the direction of `direction`'s step and the global norm of `magnitude`'s
 * step, `step = dirStep * ||magStep|| / ||dirStep||`. Both inner optimizers see the same
 * gradients and keep their own state. A zero direction step gives a zero step (the
 * reference divides by zero there).
 *
 * @example
 * ```ts
 * const opt = graft(sgd({ learningRate: 0.1 }), adam());  // Adam's direction, SGD's step size
 * ```
 */
export function graft<M, D>(magnitude: Optimizer<M>, direction: Optimizer<D>): Optimizer<GraftState<M, D>> {
  for (const [name, o] of [['magnitude', magnitude], ['direction', direction]] as const) {
    if (!hasInitAndUpdate(o)) {
      throw new LoptError('INVALID_OPTION', `graft needs an Optimizer as '${name}'.`, { option: name });
    }
  }
  return {
    name: `graft(${magnitude.name},${direction.name})`,
    init(params, opts) {
      return tidy<OptState<GraftState<M, D>>>(() => ({
        params,
        state: { magnitude: magnitude.init(params, opts).state, direction: direction.init(params, opts).state },
        iteration: 0,
      }));
    },
    update(state, grads, ctx) {
      assertSameStructure(state.params, grads, { names: ['params', 'grads'], checkShapes: true });
      return tidy<OptState<GraftState<M, D>>>(() => {
        const m = magnitude.update({ params: state.params, state: state.state.magnitude, iteration: state.iteration }, grads, ctx);
        const d = direction.update({ params: state.params, state: state.state.direction, iteration: state.iteration }, grads, ctx);
        const magStep = treeMap((a, p) => tf.sub(a, p), m.params, state.params);
        const dirStep = treeMap((a, p) => tf.sub(a, p), d.params, state.params);
        const dn = globalNorm(dirStep);
        const zero = tf.equal(dn, 0);
        const ratio = tf.where(zero, tf.zerosLike(dn), tf.div(globalNorm(magStep), tf.where(zero, tf.onesLike(dn), dn)));
        const params = treeMap((p, s) => tf.add(p, tf.mul(s, ratio)), state.params, dirStep);
        return {
          params,
          state: { magnitude: m.state, direction: d.state },
          iteration: state.iteration + 1,
        };
      });
    },
  };
}
