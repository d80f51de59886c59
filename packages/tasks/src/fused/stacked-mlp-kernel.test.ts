// The fused MLP kernel on K stacked copies (fusedStackedMlpLossGrad, and the vectorized
// image-MLP loss that takes it): each copy equals the unstacked kernel on its slices exactly,
// the whole agrees with tfjs autodiff of the composed batched ops to float32 round-off, on
// both backends; bad operands are named; memory stays flat.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { LoptError } from '@lopt/core';
import { fusedMlpLossGrad, fusedStackedMlpLossGrad } from './mlp-kernel.js';
import { batchedMlpSoftmaxLoss } from '../vectorized.js';
import { mlpLayerName, type DenseParams } from '../nn.js';

const initial = tf.getBackend();
afterAll(async () => {
  await tf.setBackend(initial);
});

/** K copies of seeded weights `[w0, b0, ...]` (stacked), inputs `[K, B, D0]` and int32 labels `[K, B]`. */
function stackedOperands(sizes: number[], k: number, batch: number, seed: number): { ws: tf.Tensor[]; x: tf.Tensor3D; labels: tf.Tensor2D } {
  const ws = sizes.slice(1).flatMap((o, i) => [
    tf.randomNormal([k, sizes[i]!, o], 0, 1 / Math.sqrt(sizes[i]!), 'float32', seed + 2 * i),
    tf.randomNormal([k, o], 0, 0.1, 'float32', seed + 2 * i + 1),
  ]);
  const x = tf.randomNormal([k, batch, sizes[0]!], 0, 1, 'float32', seed + 99) as tf.Tensor3D;
  const classes = sizes[sizes.length - 1]!;
  const labels = tf.tensor2d(Array.from({ length: k * batch }, (_, r) => (r * 7 + seed) % classes), [k, batch], 'int32');
  return { ws, x, labels };
}

const params = (ws: tf.Tensor[]): Record<string, DenseParams> =>
  Object.fromEntries(Array.from({ length: ws.length / 2 }, (_, i) => [mlpLayerName(i), { w: ws[2 * i]!, b: ws[2 * i + 1]! } as DenseParams]));

/** Per-copy loss and gradients of `batchedMlpSoftmaxLoss` by `path` (summed loss under one tape, as the vectorized unroll). */
function batchedLossGrads(ws: tf.Tensor[], x: tf.Tensor3D, labels: tf.Tensor2D, act: 'relu' | 'tanh', classes: number, path: 'auto' | 'autodiff'): Float32Array[] {
  let per: tf.Tensor | undefined;
  const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => {
    per = tf.keep(batchedMlpSoftmaxLoss(params(ls), x, labels, ls.length / 2, act, classes, path));
    return tf.sum(per);
  })(ws);
  const out = [per!, ...grads].map((t) => t.dataSync() as Float32Array);
  tf.dispose([value, per!, ...grads]);
  return out;
}

const maxRelDiff = (a: Float32Array[], b: Float32Array[]): number =>
  Math.max(...a.map((x, i) => Math.max(...Array.from(x, (v, e) => Math.abs(v - b[i]![e]!) / Math.max(1e-3, Math.abs(b[i]![e]!))))));

describe.each(['wasm', 'cpu'])('fused stacked MLP kernel on %s', (backend) => {
  it('each copy equals the unstacked kernel on its slices exactly (softmax regression and a tanh hidden layer)', async () => {
    await tf.setBackend(backend);
    for (const sizes of [[12, 5], [9, 6, 4]]) {
      const k = 3;
      const { ws, x, labels } = stackedOperands(sizes, k, 8, 5);
      const act = sizes.length === 2 ? 'relu' : 'tanh';
      const stacked = fusedStackedMlpLossGrad(x, labels, ws, act, true);
      expect(stacked[0]!.shape).toEqual([k]);
      for (let c = 0; c < k; c++) {
        const slice = (t: tf.Tensor) => tf.tidy(() => tf.squeeze(tf.slice(t, [c], [1]), [0]));
        const one = fusedMlpLossGrad(slice(x) as tf.Tensor2D, slice(labels) as tf.Tensor1D, ws.map(slice), act, true);
        expect(one[0]!.dataSync()[0]).toBe(stacked[0]!.dataSync()[c]);
        one.slice(1).forEach((g, j) => expect(Array.from(g.dataSync())).toEqual(Array.from(slice(stacked[j + 1]!).dataSync())));
      }
      const lossOnly = fusedStackedMlpLossGrad(x, labels, ws, act, false);
      expect(Array.from(lossOnly[0]!.dataSync())).toEqual(Array.from(stacked[0]!.dataSync()));
    }
  });

  it('batchedMlpSoftmaxLoss: the fused path equals tfjs autodiff of the composed ops (losses and gradients)', async () => {
    await tf.setBackend(backend);
    const { ws, x, labels } = stackedOperands([16, 7, 10], 4, 12, 11);
    const fused = batchedLossGrads(ws, x, labels, 'tanh', 10, 'auto');
    const composed = batchedLossGrads(ws, x, labels, 'tanh', 10, 'autodiff');
    expect(maxRelDiff(fused, composed)).toBeLessThan(1e-4);
    expect(Math.max(...Array.from(fused[1]!, Math.abs))).toBeGreaterThan(1e-3);
    tf.dispose([...ws, x, labels]);
  });

  it('names the bad operand (SHAPE_MISMATCH) and keeps tf.memory flat', async () => {
    await tf.setBackend(backend);
    const { ws, x, labels } = stackedOperands([6, 3], 2, 4, 3);
    const wrongCopies = tf.zeros([3, 6, 3]);
    expect(() => fusedStackedMlpLossGrad(x, labels, [wrongCopies, ws[1]!], 'relu', true)).toThrow(LoptError);
    expect(() => fusedStackedMlpLossGrad(x, labels, [wrongCopies, ws[1]!], 'relu', true)).toThrow(/w0/);
    expect(() => fusedStackedMlpLossGrad(x, tf.zeros([2, 5], 'int32') as tf.Tensor2D, ws, 'relu', true)).toThrow(/labels/);
    batchedLossGrads(ws, x, labels, 'relu', 3, 'auto');
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) batchedLossGrads(ws, x, labels, 'relu', 3, 'auto');
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...ws, x, labels, wrongCopies]);
  });
});
