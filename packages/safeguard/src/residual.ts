import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, globalNorm, type TensorTree } from '@lopt/core';
import { checkFunction, lossAndGrads } from './internal.js';
import type { EvalInfo, LossFn, ResidualFn } from './types.js';

/**
 * The GL2O residual of a gradient-descent fallback: for `T(x) = x - alpha * grad f(x)`,
 * `||S(x)|| = ||x - T(x)|| = alpha * ||grad f(x)||`. Returns `scale * ||grad lossFn(x)||`
 * (the global L2 norm over all leaves); each call is one forward and one backward pass.
 * The scale does not change GL2O's decisions when `mu` starts at the initial residual.
 *
 * @example
 * ```ts
 * const residualFn = gradientNormResidual((p) => task.loss(p, fullBatch), { scale: lr });
 * ```
 */
export function gradientNormResidual(lossFn: LossFn, options: { readonly scale?: number } = {}): ResidualFn {
  checkFunction<LossFn>('lossFn', lossFn);
  const scale = checkNumber('scale', options.scale ?? 1, { greaterThan: 0 });
  return (params: TensorTree, info: EvalInfo): tf.Scalar =>
    tf.tidy(() => {
      const { grads } = lossAndGrads(lossFn, params, info);
      return tf.mul(globalNorm(grads), scale) as tf.Scalar;
    });
}
