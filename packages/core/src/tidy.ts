import * as tf from '@tensorflow/tfjs-core';
import { treeFlatten, treeUnflatten, type TensorTree } from './tree.js';

/**
 * `tf.tidy` typed for lopt's own structures: runs `fn`, disposes every tensor it created
 * except those reachable from its result, and returns the result with its own type (an
 * `OptState`, a `{ grads, loss }` record, a `TensorTree`). `tf.tidy` keeps any tensor found by
 * walking the returned object's values, so any object of tensors, numbers and strings works;
 * this wrapper only spares callers the `as unknown as tf.TensorContainer` casts.
 *
 * @example
 * ```ts
 * const next = tidy(() => ({ params: treeMap((p) => tf.mul(p, 0.5), state.params), state: {}, iteration: 1 }));
 * ```
 */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

/**
 * Loss and gradients of `loss` at `params` (`tf.valueAndGrads` over the leaves of the tree),
 * with the gradients in the structure of `params`. The caller disposes `value` and `grads`.
 *
 * @example
 * ```ts
 * const { value, grads } = lossAndGrads((p) => tf.sum(tf.square(p.w as tf.Tensor)), { w: tf.tensor1d([1, 2]) });
 * ```
 */
export function lossAndGrads(loss: (params: TensorTree) => tf.Scalar, params: TensorTree): { value: tf.Scalar; grads: TensorTree } {
  const { leaves, structure } = treeFlatten(params);
  const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => loss(treeUnflatten(structure, xs)))(leaves);
  return { value, grads: treeUnflatten(structure, grads) };
}
