import * as tf from '@tensorflow/tfjs-core';
import { split, type Key } from '@lopt/core';
import { initDense, type DenseParams } from './common.js';

/**
 * The split-input MLP of Celo in the reference's Haiku layout (`ff_mod_stack['~']`): one
 * first-layer weight per input group `w0__i` `[1, width_i, H]`, biases `b0`, `b1` `[1, H]`,
 * `w1` `[1, H, H]`, `w2` `[1, H, 3]`, `b2` `[1, 3]` (the leading axis is a stack of one).
 */
export type CeloStackMlp = Record<string, tf.Tensor>;

/** The three dense layers of a stacked split-input MLP (`w0__i` stacked vertically, stack axis dropped). */
export function celoStackLayers(ff: CeloStackMlp, groups: number): DenseParams[] {
  const drop = (name: string): tf.Tensor => {
    const t = ff[name] as tf.Tensor;
    return tf.reshape(t, t.shape.slice(1));
  };
  const w0 = tf.concat(Array.from({ length: groups }, (_, i) => drop(`w0__${i}`)), 0) as tf.Tensor2D;
  return [
    { w: w0, b: drop('b0') as tf.Tensor1D },
    { w: drop('w1') as tf.Tensor2D, b: drop('b1') as tf.Tensor1D },
    { w: drop('w2') as tf.Tensor2D, b: drop('b2') as tf.Tensor1D },
  ];
}

/** A Haiku-initialized stacked split-input MLP for the given group widths and hidden size. */
export function initCeloStack(k: Key, widths: readonly number[], hidden: number): CeloStackMlp {
  return tf.tidy(() => initCeloStackUntidied(k, widths, hidden));
}

function initCeloStackUntidied(k: Key, widths: readonly number[], hidden: number): CeloStackMlp {
  const [k0, k1, k2] = split(k, 3) as [Key, Key, Key];
  const fanIn = widths.reduce((a, b) => a + b, 0);
  const l0 = initDense(k0, fanIn, hidden);
  const l1 = initDense(k1, hidden, hidden);
  const l2 = initDense(k2, hidden, 3);
  const out: CeloStackMlp = {};
  let row = 0;
  widths.forEach((w, i) => {
    out[`w0__${i}`] = tf.reshape(tf.slice(l0.w, [row, 0], [w, hidden]), [1, w, hidden]);
    row += w;
  });
  out.b0 = tf.reshape(l0.b, [1, hidden]);
  out.w1 = tf.reshape(l1.w, [1, hidden, hidden]);
  out.b1 = tf.reshape(l1.b, [1, hidden]);
  out.w2 = tf.reshape(l2.w, [1, hidden, 3]);
  out.b2 = tf.reshape(l2.b, [1, 3]);
  return out;
}

/**
 * Runs the split-input MLP on normalized features `[F, ...shape]` (only the first `F` rows of
 * the first layer are used: Celo2 drops groups 9-13 below rank 2) and returns the direction
 * and magnitude outputs, each `[N]`. The features are transposed to rows `[N, F]` first: one
 * tall matmul per layer is several times faster on the WASM backend than the column layout.
 */
export function runCeloMlp(layers: readonly DenseParams[], x: tf.Tensor): { direction: tf.Tensor; magnitude: tf.Tensor } {
  const f = x.shape[0] as number;
  let h = tf.transpose(tf.reshape(x, [f, -1])) as tf.Tensor2D;
  const hidden = layers.slice(0, -1);
  hidden.forEach((layer, i) => {
    const w = i === 0 && f < layer.w.shape[0] ? (tf.slice(layer.w, [0, 0], [f, layer.w.shape[1]]) as tf.Tensor2D) : layer.w;
    h = tf.relu(tf.add(tf.matMul(h, w), layer.b)) as tf.Tensor2D;
  });
  // One [N, H] x [H, 1] product per used output: slicing columns of an [N, 3] result is slow.
  const out = layers[layers.length - 1] as DenseParams;
  const column = (j: number): tf.Tensor => tf.add(tf.matMul(h, tf.slice(out.w, [0, j], [-1, 1])), tf.slice(out.b, [j], [1]));
  const direction = column(0);
  const magnitude = column(1);
  return { direction: tf.reshape(direction, [-1]), magnitude: tf.reshape(magnitude, [-1]) };
}
