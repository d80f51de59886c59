import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { checkBoolean, checkOptimizer, hasInitAndUpdate } from './validate.js';
import { lossAndGrads, tidy } from './tidy.js';
import { treeLeaves, type TensorTree } from './tree.js';
import { mapTensors } from './advance.js';

describe('checkBoolean', () => {
  it('passes booleans, gives the fallback for undefined, names the option otherwise', () => {
    expect(checkBoolean('nesterov', true, false)).toBe(true);
    expect(checkBoolean('nesterov', undefined, true)).toBe(true);
    expect(checkBoolean('nesterov', undefined, false)).toBe(false);
    expect(() => checkBoolean('nesterov', 'yes', false)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'nesterov', message: "Option 'nesterov' must be a boolean, got 'yes'." }),
    );
  });
});

describe('checkOptimizer', () => {
  const opt = { name: 'x', init: () => ({}), update: () => ({}) };
  it('returns an object with init and update; refuses anything else with the option named', () => {
    expect(checkOptimizer('inner', opt)).toBe(opt);
    expect(hasInitAndUpdate(opt)).toBe(true);
    for (const bad of [undefined, null, 3, { init: () => 0 }, { init: 1, update: () => 0 }]) {
      expect(hasInitAndUpdate(bad)).toBe(false);
      expect(() => checkOptimizer('inner', bad)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', option: 'inner' }));
    }
    expect(() => checkOptimizer('inner', 1, 'wrap needs an Optimizer.')).toThrow(/^wrap needs an Optimizer\.$/);
  });
});

describe('tidy', () => {
  it('keeps the tensors of a typed result, frees the rest, and leaks nothing over many calls', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) {
      const out: { params: TensorTree; iteration: number } = tidy(() => ({ params: { w: tf.mul(tf.add(x, 1), 2) }, iteration: i }));
      expect(out.iteration).toBe(i);
      expect(Array.from(treeLeaves(out.params)[0]!.dataSync())).toEqual([4, 6, 8]);
      expect(tf.memory().numTensors).toBe(before + 1);
      tf.dispose(treeLeaves(out.params));
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('lossAndGrads', () => {
  it('matches the analytic gradient of sum(a * w^2) + b . v in the structure of the params', () => {
    const params = { w: tf.tensor1d([0.5, -1.5]), v: [tf.tensor1d([2, 3])] };
    const a = [3, 0.25];
    const b = [-1, 4];
    const before = tf.memory().numTensors;
    const { value, grads } = lossAndGrads((p) => {
      const t = p as { w: tf.Tensor; v: tf.Tensor[] };
      return tf.add(tf.sum(tf.mul(tf.tensor1d(a), tf.square(t.w))), tf.sum(tf.mul(tf.tensor1d(b), t.v[0]!))) as tf.Scalar;
    }, params);
    const w = [0.5, -1.5];
    const expected = a[0]! * w[0]! ** 2 + a[1]! * w[1]! ** 2 + b[0]! * 2 + b[1]! * 3;
    expect(value.dataSync()[0]).toBeCloseTo(expected, 5);
    const g = grads as { w: tf.Tensor; v: tf.Tensor[] };
    const gw = Array.from(g.w.dataSync());
    expect(gw[0]).toBeCloseTo(2 * a[0]! * w[0]!, 5);
    expect(gw[1]).toBeCloseTo(2 * a[1]! * w[1]!, 5);
    expect(Array.from(g.v[0]!.dataSync())).toEqual(b);
    tf.dispose([value, ...treeLeaves(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(treeLeaves(params));
  });
});

describe('mapTensors', () => {
  it('maps every tensor of arrays and plain objects, keeps numbers, strings and class instances', () => {
    class Box {
      constructor(readonly t: tf.Tensor) {}
    }
    const a = tf.tensor1d([1, 2]);
    const b = tf.scalar(3);
    const box = new Box(b);
    const out = mapTensors({ a, list: [b, 'x', 4], box }, (t) => tf.mul(t, 2));
    expect(Array.from(out.a.dataSync())).toEqual([2, 4]);
    expect((out.list[0] as tf.Tensor).dataSync()[0]).toBe(6);
    expect(out.list.slice(1)).toEqual(['x', 4]);
    expect(out.box).toBe(box);
    tf.dispose([a, b, out.a, out.list[0] as tf.Tensor]);
  });
});
