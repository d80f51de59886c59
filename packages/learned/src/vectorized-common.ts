import * as tf from '@tensorflow/tfjs-core';
import { LoptError, treeFlatten, type TensorTree, type VectorizedOptState } from '@lopt/core';
import { checkGrads, factoredDims, safeRsqrt, type DenseParams, type FactoredSlot, type FactoredUpdate } from './common.js';

// Building blocks of the learned optimizers' batched updates (core's VectorizedOptimizer):
// the per-copy versions of common.ts's accumulators and per-parameter MLP. Every tensor has a
// leading copy axis K; reductions run over each copy's own axes only.

/** The number of copies K of a stacked theta (the common leading dimension of its leaves). */
export function stackedCount(thetas: TensorTree, name: string): number {
  const leaves = treeFlatten(thetas).leaves;
  const k = leaves[0]?.shape[0];
  if (k === undefined || leaves.some((x) => x.rank === 0 || x.shape[0] !== k)) {
    throw new LoptError('SHAPE_MISMATCH', `${name}.vectorized: every leaf of 'thetas' needs the same leading (copy) dimension.`, { option: 'thetas' });
  }
  return k;
}

/** Validates a batched update's inputs: K iteration counts and gradients shaped like the stacked params. */
export function checkBatchedInputs(state: VectorizedOptState<unknown>, grads: TensorTree, k: number, name: string): void {
  if (!Array.isArray(state?.iterations) || state.iterations.length !== k) {
    throw new LoptError('INVALID_OPTION', `${name}: option 'state.iterations' must hold ${k} counts (one per copy).`, { option: 'state.iterations' });
  }
  checkGrads(state.params, grads, name);
}

/** Reshapes `[K, D]` per-copy decays to `[K, D, 1, ..., 1]` for a `[K, D, ...shape]` accumulator of a rank-`rank` tensor. */
export function perCopyDecay(d: tf.Tensor, rank: number): tf.Tensor {
  return tf.reshape(d, [...d.shape, ...new Array<number>(rank).fill(1)]);
}

/** Per-copy `updateMomentum`: `m` `[K, D, ...s]`, `g` `[K, ...s]`, decays `[K, D]`. */
export function batchedMomentum(m: tf.Tensor, g: tf.Tensor, decays: tf.Tensor): tf.Tensor {
  const d = perCopyDecay(decays, g.rank - 1);
  return tf.add(tf.mul(d, m), tf.mul(tf.sub(1, d), tf.expandDims(g, 1)));
}

/** Per-copy `updateRms` (decays clipped to [0, 1]). */
export function batchedRms(v: tf.Tensor, g: tf.Tensor, decays: tf.Tensor): tf.Tensor {
  const d = perCopyDecay(tf.clipByValue(decays, 0, 1), g.rank - 1);
  return tf.add(tf.mul(d, v), tf.mul(tf.sub(1, d), tf.expandDims(tf.square(g), 1)));
}

/**
 * Per-copy `updateFactored`: `g` `[K, ...s]`, the slot's tensors `[K, Kf, ...]`, decays
 * `[K, Kf]`. The factored axes are those of one copy's shape `s`, shifted past the copy
 * and decay axes, so rows and columns average within each copy.
 */
export function batchedFactored(slot: FactoredSlot, g: tf.Tensor, decays: tf.Tensor): FactoredUpdate {
  const rank = g.rank - 1;
  const c = tf.clipByValue(decays, 0, 1);
  const gs = tf.expandDims(tf.add(tf.square(g), 1e-30), 1);
  const dims = factoredDims(g.shape.slice(1));
  const g1 = tf.expandDims(g, 1);
  if (dims === null || !('row' in slot)) {
    if ('row' in slot) throw new LoptError('INTERNAL', 'factored state for an unfactored tensor');
    const d = perCopyDecay(c, rank);
    const v = tf.add(tf.mul(d, slot.diag), tf.mul(tf.sub(1, d), gs));
    return { slot: { diag: v }, facG: tf.mul(g1, safeRsqrt(tf.add(v, 1e-9))), rowFactor: null, colFactor: null, rowB: null, colB: null };
  }
  const [d1, d0] = dims;
  const dr = perCopyDecay(c, rank - 1);
  const row = tf.add(tf.mul(dr, slot.row), tf.mul(tf.sub(1, dr), meanBySum(gs, d0 + 2)));
  const col = tf.add(tf.mul(dr, slot.col), tf.mul(tf.sub(1, dr), meanBySum(gs, d1 + 2)));
  const reducedD1 = d1 > d0 ? d1 - 1 : d1;
  const rowColMean = meanBySum(row, reducedD1 + 2, true);
  const rowFactor = tf.expandDims(safeRsqrt(tf.div(row, tf.add(rowColMean, 1e-9))), d0 + 2);
  const colFactor = tf.expandDims(safeRsqrt(col), d1 + 2);
  return {
    slot: { row, col },
    facG: tf.mul(tf.mul(g1, rowFactor), colFactor),
    rowFactor,
    colFactor,
    rowB: tf.expandDims(row, d0 + 2),
    colB: tf.expandDims(col, d1 + 2),
  };
}

/** Broadcasts `x` to `[K, D, ...s]` and flattens it to `[K, D, N]` (adding zeros: the WASM backend's broadcastTo is a slow Tile). */
export function batchedRows(x: tf.Tensor, k: number, d: number, shape: readonly number[]): tf.Tensor3D {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.reshape(tf.add(x, tf.zeros([k, d, ...shape])), [k, d, n]);
}

/** `mean(x, axis)` as a sum divided by the count (the WASM backend's Mean is several times slower than its Sum). */
export function meanBySum(x: tf.Tensor, axis: number, keepDims = false): tf.Tensor {
  return tf.div(tf.sum(x, axis, keepDims), x.shape[axis] as number);
}

/** Per-copy `secondMomentNormalize` of features `[K, F, N]`: each feature row over each copy's N. */
export function batchedSecondMomentNormalize(x: tf.Tensor3D, eps = 1e-5): tf.Tensor3D {
  return tf.mul(x, tf.rsqrt(tf.add(eps, meanBySum(tf.square(x), 2, true))));
}

/**
 * Per-copy `applyMlpColumns`: features `[K, F, N]`, layer weights `[K, in, out]`, biases
 * `[K, out]`; `firstBias` `[K, H0]` replaces the first layer's bias (and the first layer then
 * uses only its first F rows). Returns `[K, out, N]`.
 */
export function batchedMlpColumns(layers: readonly DenseParams[], x: tf.Tensor3D, firstBias?: tf.Tensor): tf.Tensor3D {
  let h: tf.Tensor3D = x;
  layers.forEach((layer, i) => {
    const w3 = layer.w as unknown as tf.Tensor3D;
    const bias = i === 0 && firstBias !== undefined ? firstBias : layer.b;
    const rows = h.shape[1];
    const w = w3.shape[1] > rows ? tf.slice(w3, [0, 0, 0], [w3.shape[0], rows, w3.shape[2]]) : w3;
    const z = tf.add(tf.matMul(w, h, true, false), tf.expandDims(bias, 2)) as tf.Tensor3D;
    h = i === layers.length - 1 ? z : tf.relu(z);
  });
  return h;
}

/**
 * Per-copy `foldConstantFeatures`: `b + c_i^T w[offset:offset+C]` for copy `i`'s constant
 * features `c[i]` (plain numbers), `w` `[K, in, out]`, `b` `[K, out]`. Returns `[K, out]`.
 */
export function batchedFoldConstants(layer: DenseParams, offset: number, c: readonly (readonly number[])[]): tf.Tensor2D {
  const w3 = layer.w as unknown as tf.Tensor3D;
  const count = (c[0] as readonly number[]).length;
  const wc = tf.slice(w3, [0, offset, 0], [w3.shape[0], count, w3.shape[2]]);
  const cs = tf.tensor3d(c.map((row) => [row as number[]]));
  return tf.add(layer.b, tf.squeeze(tf.matMul(cs, wc), [1])) as tf.Tensor2D;
}
