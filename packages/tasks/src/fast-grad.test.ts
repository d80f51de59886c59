// Which gradient path a task loss takes at each tape depth, and the custom-gradient node.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { handDerivedLoss, takesHandDerived, tapeDepth, type GradPath } from './fast-grad.js';

describe('fast-grad: path choice and the hand-derived node', () => {
  it('auto takes the hand-derived pass only under exactly one tape; fast / autodiff force theirs', () => {
    const seen: [number, boolean, boolean, boolean, boolean][] = [];
    const probe = (x: tf.Tensor): tf.Scalar => {
      const covered = (['auto', 'fast', 'autodiff'] as GradPath[]).map((p) => takesHandDerived(p));
      seen.push([tapeDepth(), covered[0]!, covered[1]!, covered[2]!, takesHandDerived('auto', false)]);
      return tf.sum(tf.square(x));
    };
    const x = tf.tensor1d([1, 2]);
    tf.dispose(probe(x));
    tf.dispose(tf.grad(probe)(x));
    tf.dispose(tf.grad((y: tf.Tensor) => tf.sum(tf.grad(probe)(y)))(x));
    expect(seen).toEqual([
      [0, false, true, false, false],
      [1, true, true, false, false],
      [2, false, true, false, false],
    ]);
    x.dispose();
  });

  it('handDerivedLoss: the value of the forward, the gradient of its backward times dy, no leak', () => {
    const x = tf.tensor1d([1, -2, 3]);
    // a deliberately "wrong" backward (3x) proves the node's gradient comes from it
    const loss = (v: tf.Tensor): tf.Scalar =>
      handDerivedLoss([v], ([a]) => ({ value: tf.sum(tf.square(a!)), saved: [a!], backward: (dy, [s]) => [tf.mul(dy, tf.mul(s!, 3))] }));
    const before = tf.memory().numTensors;
    const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => tf.mul(loss(v), 2) as tf.Scalar)(x);
    expect(value.dataSync()[0]).toBe(28);
    expect(Array.from(grad.dataSync())).toEqual([6, -12, 18]);
    tf.dispose([value, grad]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
