import * as tf from '@tensorflow/tfjs-core';
import type { Optimizer } from '@lopt/core';
import { layerwiseOptimizer, type LayerPreconditioner, type LayerwiseOptions, type LayerwiseState } from './layerwise.js';
import { spdInverse } from './symmetric-eigen.js';

/** Options of {@link kfac} (see {@link LayerwiseOptions}; defaults lr 1e-3, damping 1e-3, klClip 1e-3 as kfac-pytorch). */
export type KfacOptions = LayerwiseOptions;

/** `inv(M + c I)` of a square tensor, in float64 on the host (identity scaled by 1/c if not positive definite). */
export function dampedInverse(m: tf.Tensor, c: number): tf.Tensor2D {
  const n = m.shape[0] as number;
  const data = Float64Array.from(m.dataSync() as ArrayLike<number>);
  for (let i = 0; i < n; i++) data[i * n + i] = (data[i * n + i] as number) + c;
  const inv = spdInverse(data, n);
  if (inv === undefined) return tf.mul(tf.eye(n), 1 / c) as tf.Tensor2D;
  return tf.tensor2d(Float32Array.from(inv), [n, n]);
}

function trace(m: tf.Tensor): number {
  const n = m.shape[0] as number;
  const d = m.dataSync();
  let t = 0;
  for (let i = 0; i < n; i++) t += d[i * n + i] as number;
  return t;
}

/** K-FAC's per-layer factors `A = E[a a^T]`, `G = E[g g^T]` with factored Tikhonov damping. */
const KFAC: LayerPreconditioner = {
  statShapes: (rows, cols) => ({ a: [rows, rows], g: [cols, cols] }),
  batchStatistics(a, g) {
    const n = a.shape[0];
    return { a: tf.div(tf.matMul(a, a, true, false), n), g: tf.div(tf.matMul(g, g, true, false), n) };
  },
  inverses(stats, damping) {
    const a = stats.a as tf.Tensor;
    const g = stats.g as tf.Tensor;
    const ta = trace(a) / (a.shape[0] as number);
    const tg = trace(g) / (g.shape[0] as number);
    const pi = ta > 0 && tg > 0 ? Math.sqrt(ta / tg) : 1;
    const root = Math.sqrt(damping);
    return { a: dampedInverse(a, pi * root), g: dampedInverse(g, root / pi) };
  },
  apply: (v, inv) => tf.matMul(tf.matMul(inv.a as tf.Tensor2D, v), inv.g as tf.Tensor2D),
};

/**
 * K-FAC (Martens & Grosse 2015) for dense layers: each layer's `[W; b]` gradient `V` becomes
 * `(A + pi sqrt(lambda) I)^-1 V (G + sqrt(lambda)/pi I)^-1`, with `A` the running second moment of
 * the layer's inputs (a 1 appended for the bias), `G` that of the per-example gradients of its
 * pre-activations, and `pi = sqrt((tr A / dim A) / (tr G / dim G))` (factored Tikhonov damping).
 * The Fisher is the empirical one (gradients of the observed labels), inverses are Cholesky in
 * float64 on the host every `inverseInterval` steps, and KL clipping (Ba et al. 2017) bounds the
 * step. Other leaves take momentum SGD. `update` needs `ctx.layers` (`valueAndLayerGrads`).
 *
 * @example
 * ```ts
 * const opt = kfac({ learningRate: 0.01, damping: 1e-2, inverseInterval: 20 });
 * ```
 */
export function kfac(options: KfacOptions = {}): Optimizer<LayerwiseState> & { readonly config: Readonly<Record<string, unknown>> } {
  return layerwiseOptimizer('kfac', KFAC, options, { learningRate: 1e-3, damping: 1e-3, klClip: 1e-3 });
}
