import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeTree, treeLeaves, type TensorTree } from '@lopt/core';
import { checkEstimate, decodeEstimate, decodeTheta, encodeEstimate, encodeTheta } from './estimate-source.js';

const theta = (): TensorTree => ({ w: tf.tensor2d([[1, 2], [3, 4]]), b: [tf.tensor1d([5])] });
const o = { version: 10, staleness: 2, estimators: 3 };
const ok = (grad: TensorTree, extra: Partial<{ version: number; index: number; meanLoss: number }> = {}) => ({ grad, meanLoss: 0.5, version: 10, index: 1, ...extra });

describe('checkEstimate', () => {
  it('accepts a well-formed estimate and names each reason to refuse one', () => {
    const t = theta();
    const g = theta();
    expect(checkEstimate(t, ok(g), o)).toBeUndefined();
    expect(checkEstimate(t, ok(g, { version: 8 }), o)).toBeUndefined(); // exactly at the bound
    expect(checkEstimate(t, ok(g, { version: 7 }), o)).toBe('stale');
    expect(checkEstimate(t, ok(g, { version: 11 }), o)).toBe('future');
    expect(checkEstimate(t, ok(g, { index: 3 }), o)).toBe('index');
    expect(checkEstimate(t, ok(g, { index: -1 }), o)).toBe('index');
    expect(checkEstimate(t, ok(g, { meanLoss: NaN }), o)).toBe('non-finite');
    const shape = { w: tf.zeros([2, 3]), b: [tf.zeros([1])] };
    const missing = { w: tf.zeros([2, 2]) };
    const dtype = { w: tf.zeros([2, 2], 'int32'), b: [tf.zeros([1])] };
    const nan = { w: tf.tensor2d([[0, 0], [Infinity, 0]]), b: [tf.zeros([1])] };
    expect(checkEstimate(t, ok(shape), o)).toBe('structure');
    expect(checkEstimate(t, ok(missing), o)).toBe('structure');
    expect(checkEstimate(t, ok(dtype), o)).toBe('structure');
    expect(checkEstimate(t, { ...ok(g), grad: 'garbage' }, o)).toBe('structure');
    expect(checkEstimate(t, ok(nan), o)).toBe('non-finite');
    disposeTree([t, g, shape, missing, dtype, nan]);
  });
});

describe('estimate and theta messages', () => {
  it('round-trip exactly, NaN loss and metrics included', () => {
    const g = theta();
    const bytes = encodeEstimate({ index: 2, version: 7, worker: 'w1', grad: g, meanLoss: NaN, metrics: { a: 1.25, b: -Infinity } });
    const back = decodeEstimate(bytes);
    expect([back.index, back.version, back.worker, back.meanLoss, back.metrics]).toEqual([2, 7, 'w1', NaN, { a: 1.25, b: -Infinity }]);
    expect(treeLeaves(back.grad).map((x) => Array.from(x.dataSync()))).toEqual(treeLeaves(g).map((x) => Array.from(x.dataSync())));
    const th = decodeTheta(encodeTheta(g, 42));
    expect(th.version).toBe(42);
    expect(treeLeaves(th.theta).map((x) => x.shape)).toEqual([[1], [2, 2]]);
    expect(() => decodeEstimate(encodeTheta(g, 1))).toThrow(/holds a 'lopt-theta' but a 'lopt-estimate' was expected/);
    disposeTree([g, back.grad, th.theta]);
  });
});
