import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, deserializeTree, serializeTree, treeLeaves } from '@lopt/core';
import { cloneState, disposeExcept, packState, unpackState } from './state.js';

describe('worker-state packing', () => {
  it('round-trips tensors, JSON, non-finite numbers and $-keys through a checkpoint', () => {
    const a = tf.tensor1d([1, 2, 3]);
    const value = {
      tasks: [{ cfg: { seed: 3, name: 'q' }, params: { w: a, $t: 5 }, innerStep: 4, isDone: false, length: null }],
      shared: a,
      loss: NaN,
      far: -Infinity,
      skipped: undefined,
    };
    const { tensors, skeleton } = packState(value);
    expect(tensors.length).toBe(2);
    const bytes = serializeTree(tensors, { kind: 'test', name: 'state', extra: { skeleton } });
    const { tree, metadata } = deserializeTree(bytes);
    const back = unpackState(metadata.extra.skeleton as never, treeLeaves(tree)) as typeof value;
    expect(back.tasks[0]?.cfg).toEqual({ seed: 3, name: 'q' });
    expect(back.tasks[0]?.params.$t).toBe(5);
    expect(Array.from((back.tasks[0]?.params.w as tf.Tensor).dataSync())).toEqual([1, 2, 3]);
    expect(Number.isNaN(back.loss)).toBe(true);
    expect(back.far).toBe(-Infinity);
    expect(back.tasks[0]?.length).toBeNull();
    expect('skipped' in back).toBe(false);
    tf.dispose(treeLeaves(tree));
    a.dispose();
  });

  it('rejects class instances and functions, naming the path', () => {
    expect(() => packState({ a: [1, new Map()] })).toThrow(LoptError);
    expect(() => packState({ a: [1, () => 0] })).toThrow(/<root>\.a\.1/);
  });

  it('cloneState shares memory; disposeExcept frees all but the kept tensors', () => {
    const x = tf.tensor1d([1, 2]);
    const y = tf.tensor1d([3]);
    const c = cloneState({ x, n: 1 });
    expect(c.x).not.toBe(x);
    expect(c.n).toBe(1);
    disposeExcept({ c, y }, y);
    expect(c.x.isDisposed).toBe(true);
    expect(x.isDisposed).toBe(false);
    expect(y.isDisposed).toBe(false);
    expect(Array.from(x.dataSync())).toEqual([1, 2]);
    tf.dispose([x, y]);
  });
});
