import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError } from './errors.js';
import { advanceVectorized, stackTrees, unstackTree, type VectorizedOptimizer, type VectorizedOptState } from './vectorized.js';
import { disposeTree } from './tree.js';

describe('stackTrees / unstackTree / advanceVectorized', () => {
  it('stacks leafwise on a new leading axis and unstacks back to the same values', () => {
    const a = { w: tf.tensor2d([[1, 2]]), b: [tf.scalar(3)] };
    const b = { w: tf.tensor2d([[4, 5]]), b: [tf.scalar(6)] };
    const s = stackTrees([a, b]) as { w: tf.Tensor; b: tf.Tensor[] };
    expect(s.w.shape).toEqual([2, 1, 2]);
    expect(Array.from(s.w.dataSync())).toEqual([1, 2, 4, 5]);
    expect(Array.from((s.b[0] as tf.Tensor).dataSync())).toEqual([3, 6]);
    const [a2, b2] = unstackTree(s, 2) as { w: tf.Tensor; b: tf.Tensor[] }[];
    expect(Array.from(b2!.w.dataSync())).toEqual([4, 5]);
    expect(a2!.b[0]!.shape).toEqual([]);
    disposeTree([a, b, s, a2!, b2!]);
  });

  it('rejects empty lists, mismatched trees and wrong leading dimensions with LoptError naming the place', () => {
    expect(() => stackTrees([])).toThrow(/'trees'/);
    const x = { w: tf.zeros([2]) };
    expect(() => stackTrees([x, { w: tf.zeros([3]) }])).toThrow(/'w'/);
    expect(() => stackTrees([x, { v: tf.zeros([2]) }])).toThrow(LoptError);
    expect(() => unstackTree(x, 3)).toThrow(/leading dimension of 3/);
    expect(() => unstackTree(x, 0)).toThrow(/'k'/);
    disposeTree(x);
  });

  it('advanceVectorized checks the iteration counts and keeps memory flat', () => {
    const opt: VectorizedOptimizer = {
      name: 'sgd x 2',
      size: 2,
      update: (s, g) => ({ params: tf.sub(s.params as tf.Tensor, tf.mul(0.5, g as tf.Tensor)), state: s.state, iterations: s.iterations.map((t) => t + 1) }),
    };
    const g = tf.tensor2d([[1, 1], [2, 2]]);
    expect(() => advanceVectorized(opt, { params: g, state: [], iterations: [0] }, g)).toThrow(/'state'/);
    let st: VectorizedOptState = { params: tf.zeros([2, 2]), state: [], iterations: [0, 3] };
    st = advanceVectorized(opt, st, g);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) st = advanceVectorized(opt, st, g);
    expect(tf.memory().numTensors).toBe(before);
    expect(st.iterations).toEqual([11, 14]);
    expect(Array.from((st.params as tf.Tensor).dataSync())).toEqual([-5.5, -5.5, -11, -11]);
    disposeTree([g, st.params]);
  });
});
