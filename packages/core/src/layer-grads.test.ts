// valueAndLayerGrads: one pass gives the loss, the parameter gradients and, per tapped dense
// layer, its inputs and pre-activation gradients; the weight gradient must then equal a^T delta.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, disposeLayerGradients, disposeTree, valueAndLayerGrads, type DenseLayerTapping, type TensorTree } from './index.js';

type P = { l0: { w: tf.Tensor2D; b: tf.Tensor1D }; l1: { w: tf.Tensor2D; b: tf.Tensor1D } };

const tapping: DenseLayerTapping<tf.Tensor2D> = {
  dense: [{ weight: 'l0.w', bias: 'l0.b' }, { weight: 'l1.w', bias: 'l1.b' }],
  loss(params, x, tap) {
    const p = params as P;
    const s0 = tap(this.dense[0]!, x, tf.add(tf.matMul(x, p.l0.w), p.l0.b));
    const h = tf.tanh(s0) as tf.Tensor2D;
    const s1 = tap(this.dense[1]!, h, tf.add(tf.matMul(h, p.l1.w), p.l1.b));
    return tf.mean(tf.square(tf.sub(s1, 0.5))) as tf.Scalar;
  },
};

const params = (): P => ({
  l0: { w: tf.tensor2d([[0.3, -0.2, 0.5], [0.1, 0.4, -0.6]]), b: tf.tensor1d([0.05, -0.1, 0.2]) },
  l1: { w: tf.tensor2d([[0.7], [-0.3], [0.2]]), b: tf.tensor1d([0.1]) },
});
const x = () => tf.tensor2d([[1, 2], [-0.5, 0.3], [0.2, -1.2], [0.9, 0.1]]);

describe('valueAndLayerGrads', () => {
  it('gives the same loss and gradients as tf.valueAndGrads, and a^T delta equals each weight gradient', () => {
    const p = params();
    const xs = x();
    const out = valueAndLayerGrads(tapping, p as unknown as TensorTree, xs);
    const plain = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
      tapping.loss({ l0: { b: a, w: b }, l1: { b: c, w: d } } as unknown as TensorTree, xs, (_l, _i, s) => s),
    )([p.l0.b, p.l0.w, p.l1.b, p.l1.w]);
    expect(out.loss.dataSync()[0]).toBeCloseTo(plain.value.dataSync()[0]!, 6);
    const g = out.grads as unknown as P;
    expect(Array.from(g.l0.w.dataSync())).toEqual(Array.from(plain.grads[1]!.dataSync()));
    expect(out.layers.map((l) => [l.weight, l.bias])).toEqual([['l0.w', 'l0.b'], ['l1.w', 'l1.b']]);
    out.layers.forEach((l, i) => {
      const w = i === 0 ? g.l0.w : g.l1.w;
      const b = i === 0 ? g.l0.b : g.l1.b;
      const fromLayer = tf.matMul(l.inputs, l.outputGrads, true, false);
      Array.from(fromLayer.dataSync()).forEach((v, j) => expect(v).toBeCloseTo(w.dataSync()[j]!, 6));
      Array.from(tf.sum(l.outputGrads, 0).dataSync()).forEach((v, j) => expect(v).toBeCloseTo(b.dataSync()[j]!, 6));
    });
    expect(Array.from(out.layers[0]!.inputs.dataSync())).toEqual(Array.from(xs.dataSync()));
    disposeLayerGradients(out);
    disposeTree([p as unknown as TensorTree, xs, plain.value, ...plain.grads]);
  });

  it('leaks no tensors', () => {
    const p = params();
    const xs = x();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) disposeLayerGradients(valueAndLayerGrads(tapping, p as unknown as TensorTree, xs));
    expect(tf.memory().numTensors).toBe(before);
    disposeTree([p as unknown as TensorTree, xs]);
  });

  it('rejects a task without the capability and a tap that names an unknown path', () => {
    const p = params();
    expect(() => valueAndLayerGrads(undefined as never, p as unknown as TensorTree, x())).toThrow(LoptError);
    const bad: DenseLayerTapping<tf.Tensor2D> = { dense: [], loss: (q, xs, tap) => tf.sum(tap({ weight: 'nope.w' }, xs, xs)) as tf.Scalar };
    expect(() => valueAndLayerGrads(bad, p as unknown as TensorTree, x())).toThrow(/nope\.w/);
    disposeTree(p as unknown as TensorTree);
  });
});
