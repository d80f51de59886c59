import * as tf from '@tensorflow/tfjs-core';
import type { Optimizer } from '@lopt/core';
import { dampedInverse } from './kfac.js';
import { layerwiseOptimizer, type LayerPreconditioner, type LayerwiseOptions, type LayerwiseState } from './layerwise.js';

/** Options of {@link foof} (see {@link LayerwiseOptions}; defaults lr 1e-2, damping 1e-2, no KL clipping). */
export type FoofOptions = LayerwiseOptions;

/** FOOF's per-layer preconditioner: the inputs' second moment only. */
const FOOF: LayerPreconditioner = {
  statShapes: (rows) => ({ a: [rows, rows] }),
  batchStatistics: (a) => ({ a: tf.div(tf.matMul(a, a, true, false), a.shape[0]) }),
  inverses: (stats, damping) => ({ a: dampedInverse(stats.a as tf.Tensor, damping) }),
  apply: (v, inv) => tf.matMul(inv.a as tf.Tensor2D, v),
};

/**
 * FOOF, "Fast First-Order Optimizer" (Benzing 2022: gradient descent on neurons, the update
 * K-FAC approximates): each dense layer's `[W; b]` gradient `V` becomes `(A + lambda I)^-1 V`, with
 * `A` the running second moment of the layer's inputs (a 1 appended for the bias). Other leaves
 * take momentum SGD. `update` needs `ctx.layers` (`valueAndLayerGrads`).
 *
 * @example
 * ```ts
 * const opt = foof({ learningRate: 0.05, damping: 1e-2 });
 * ```
 */
export function foof(options: FoofOptions = {}): Optimizer<LayerwiseState> & { readonly config: Readonly<Record<string, unknown>> } {
  return layerwiseOptimizer('foof', FOOF, options, { learningRate: 1e-2, damping: 1e-2, klClip: 0 });
}
