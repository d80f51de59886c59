// The activation derivatives the hand-derived backward passes use, against tfjs autodiff of
// `activate` (including the kinks: relu and relu6 at 0 and 6) and central differences of float64
// definitions; and the MLP, autoencoder and conv losses with the newer ones against autodiff.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { key, normalArray } from '@lopt/core';
import { DERIVATIVES, fastGradCovers, mlpSoftmaxLoss } from './mlp-fast-grad.js';
import { mlpAutoencoderLoss } from './autoencoder-fast-grad.js';
import { convSoftmaxLoss } from './conv-fast-grad.js';
import { activate, type Activation, type DenseParams } from './nn.js';
import { expectGradsClose, valueAndGradsOn } from './fast-grad-test-helpers.js';

const sig = (z: number): number => 1 / (1 + Math.exp(-z));
const DEFS: Record<string, (z: number) => number> = {
  relu: (z) => Math.max(0, z),
  tanh: Math.tanh,
  sigmoid: sig,
  relu6: (z) => Math.min(6, Math.max(0, z)),
  elu: (z) => (z > 0 ? z : Math.expm1(z)),
  softplus: (z) => Math.log1p(Math.exp(z)),
  sin: Math.sin,
  cos: Math.cos,
  silu: (z) => z * sig(z),
};
const COVERED = Object.keys(DERIVATIVES) as Activation[];

describe('activation derivatives of the hand-derived backward passes', () => {
  it('cover 9 of the 12 activations (not selu, gelu, leakyRelu)', () => {
    expect([...COVERED].sort()).toEqual(Object.keys(DEFS).sort());
    expect(['selu', 'gelu', 'leakyRelu'].map((a) => fastGradCovers(2, a as Activation))).toEqual([false, false, false]);
  });

  it.each(COVERED)('%s: equals autodiff of activate() and float64 central differences', (act) => {
    const zs = [...Array.from(normalArray(key(5), 40), (v) => 3 * v), 0, 6, -2.5, 7.5, 1e-3, -1e-3];
    const z = tf.tensor1d(zs);
    const auto = tf.grad((x: tf.Tensor) => tf.sum(activate(act, x)))(z);
    const mine = tf.tidy(() => DERIVATIVES[act]!(z, activate(act, z)));
    const [a, m] = [auto.dataSync(), mine.dataSync()];
    zs.forEach((v, i) => {
      expect(Math.abs(m[i]! - a[i]!)).toBeLessThan(2e-6);
      const h = 1e-6;
      const nearKink = (act === 'relu' || act === 'relu6' || act === 'elu') && (Math.abs(v) < 1e-5 || Math.abs(v - 6) < 1e-5);
      if (!nearKink) expect(Math.abs(m[i]! - (DEFS[act]!(v + h) - DEFS[act]!(v - h)) / (2 * h))).toBeLessThan(1e-5);
    });
    tf.dispose([z, auto, mine]);
  });

  it.each(['relu6', 'elu', 'softplus', 'sin', 'cos', 'silu'] as Activation[])('%s: MLP, autoencoder and conv hand-derived gradients equal autodiff', (act) => {
    const leaves = (sizes: number[], seed: number): tf.Tensor[] =>
      sizes.slice(1).flatMap((o, i) => [tf.tensor2d(Float32Array.from(normalArray(key(seed + i), sizes[i]! * o), (v) => v / Math.sqrt(sizes[i]!)), [sizes[i]!, o]), tf.tensor1d(Float32Array.from(normalArray(key(seed + 50 + i), o), (v) => 0.1 * v))]);
    const named = (ls: tf.Tensor[]): Record<string, DenseParams> => Object.fromEntries(Array.from({ length: ls.length / 2 }, (_, i) => [`layer${String(i).padStart(2, '0')}`, { w: ls[2 * i]!, b: ls[2 * i + 1]! }]));
    const x = tf.tensor2d(Float32Array.from(normalArray(key(9), 6 * 7)), [6, 7]);
    const labels = tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32');
    const mlpLs = leaves([7, 5, 4, 5], 10);
    const mlpLoss = (ls: tf.Tensor[], path: 'fast' | 'autodiff') => mlpSoftmaxLoss(named(ls), x, labels, 3, act, 5, path);
    const aeLs = leaves([7, 4, 7], 20);
    const aeLoss = (ls: tf.Tensor[], path: 'fast' | 'autodiff') => tf.tidy(() => mlpAutoencoderLoss(named(ls), tf.sigmoid(x) as tf.Tensor2D, 2, act, path));
    const img = tf.tensor4d(Float32Array.from(normalArray(key(30), 3 * 6 * 6)), [3, 6, 6, 1]);
    const convLs = [tf.tensor4d(Float32Array.from(normalArray(key(31), 9 * 3), (v) => v / 3), [3, 3, 1, 3]), tf.tensor1d([0.1, -0.1, 0.05]), tf.tensor2d(Float32Array.from(normalArray(key(32), 30), (v) => v / 2), [3, 10]), tf.zeros([10])];
    const convLoss = (ls: tf.Tensor[], path: 'fast' | 'autodiff') =>
      convSoftmaxLoss({ conv00: { w: ls[0] as tf.Tensor4D, b: ls[1] as tf.Tensor1D }, head: { w: ls[2]!, b: ls[3]! } }, img, labels.slice(0, 3), { numConvs: 1, activation: act, pool: 'avg', numClasses: 10 }, path);
    for (const [loss, ls] of [[mlpLoss, mlpLs], [aeLoss, aeLs], [convLoss, convLs]] as const) {
      const fast = valueAndGradsOn(loss, ls as tf.Tensor[], 'fast');
      const auto = valueAndGradsOn(loss, ls as tf.Tensor[], 'autodiff');
      expect(fast.value).toBe(auto.value);
      expectGradsClose(fast.grads, auto.grads, 1e-5, 1e-7);
    }
    tf.dispose([...mlpLs, ...aeLs, ...convLs, x, labels, img]);
  });
});
