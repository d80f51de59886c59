import * as tf from '@tensorflow/tfjs-core';

/**
 * Shape handling shared by the Kronecker-factored preconditioners (distributed Shampoo's
 * `merge_small_dims` and `BlockPartitioner`): a parameter is reshaped so that small axes
 * merge, then every axis longer than the block size is cut into blocks, and each block gets
 * one statistic per axis.
 */

/** Merges consecutive axes while their product stays <= maxDim (`[1, 2, 512, 1, 2048] -> [1024, 2048]` at 1024). */
export function mergeSmallDims(shape: readonly number[], maxDim: number): number[] {
  if (shape.length > 0 && shape.every((d) => d === 1)) return [1];
  const out: number[] = [];
  let product = 1;
  for (const d of shape) {
    if (product * d <= maxDim) product *= d;
    else {
      if (product > 1) out.push(product);
      product = d;
    }
  }
  if (product > 1) out.push(product);
  return out;
}

/** The sizes each axis is cut into (blocks of `blockSize`, the last one shorter). */
export function splitSizes(shape: readonly number[], blockSize: number): number[][] {
  return shape.map((d) => {
    if (!(blockSize > 0 && blockSize < d)) return [d];
    const sizes: number[] = [];
    for (let start = 0; start < d; start += blockSize) sizes.push(Math.min(blockSize, d - start));
    return sizes;
  });
}

/** Cuts `t` into blocks, axis by axis (the first axis varies slowest), as `BlockPartitioner.partition`. */
export function partition(t: tf.Tensor, sizes: readonly number[][]): tf.Tensor[] {
  let parts = [t];
  sizes.forEach((s, axis) => {
    if (s.length > 1) parts = parts.flatMap((p) => tf.split(p, s, axis));
  });
  return parts;
}

/** Inverse of {@link partition}. */
export function mergePartitions(parts: tf.Tensor[], sizes: readonly number[][]): tf.Tensor {
  let out = parts;
  for (let axis = sizes.length - 1; axis >= 0; axis--) {
    const n = (sizes[axis] as number[]).length;
    if (n === 1) continue;
    const merged: tf.Tensor[] = [];
    for (let i = 0; i < out.length; i += n) merged.push(tf.concat(out.slice(i, i + n), axis));
    out = merged;
  }
  return out[0] as tf.Tensor;
}

/** `X X^T` where X is `g` with `axis` moved first and the other axes flattened (an n x n Gram matrix). */
export function gramAlong(g: tf.Tensor, axis: number): tf.Tensor2D {
  const perm = [axis, ...g.shape.map((_, i) => i).filter((i) => i !== axis)];
  const x = tf.reshape(g.rank === 1 ? g : tf.transpose(g, perm), [g.shape[axis] as number, -1]);
  return tf.matMul(x, tf.transpose(x)) as tf.Tensor2D;
}

/**
 * Contracts axis 0 of `t` with the first axis of `m` (`tensordot(t, m, [[0], [0]])`): the
 * result has the remaining axes of `t` followed by `m`'s second axis. Applying this once per
 * axis with that axis' matrix returns the axes to their original order.
 */
export function contractFirstAxis(t: tf.Tensor, m: tf.Tensor2D): tf.Tensor {
  const [n, ...rest] = t.shape as number[];
  const x = tf.transpose(tf.reshape(t, [n as number, -1]));
  return tf.reshape(tf.matMul(x, m), [...rest, m.shape[1]]);
}
