import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { advance } from './advance.js';
import type { OptState, Optimizer } from './contracts.js';
import { disposeTree, treeMap, type TensorTree } from './tree.js';

/** Heavy-ball momentum written the naive way: allocates temporaries on purpose. */
const momentum: Optimizer<{ v: TensorTree; last: TensorTree }> = {
  name: 'test-momentum',
  init: (params) => ({ params, state: { v: treeMap((p) => tf.zerosLike(p), params), last: treeMap((p) => tf.zerosLike(p), params) }, iteration: 0 }),
  update: (s, grads) => {
    const v = treeMap((v0, g) => tf.add(tf.mul(v0, 0.9), g as tf.Tensor), s.state.v, grads);
    const params = treeMap((p, vv) => tf.sub(p, tf.mul(vv as tf.Tensor, 0.1)), s.params, v);
    // Keeps the raw gradient: advance must not let the state alias the caller's tensors.
    return { params, state: { v, last: grads }, iteration: s.iteration + 1 };
  },
};

describe('advance', () => {
  it('keeps tf.memory().numTensors flat over many steps', () => {
    let state: OptState<{ v: TensorTree; last: TensorTree }> = momentum.init({ w: tf.ones([10]), b: tf.scalar(2) });
    const loss = (p: TensorTree) => tf.tidy(() => tf.sum(tf.square((p as { w: tf.Tensor }).w)));
    const counts: number[] = [];
    for (let i = 0; i < 300; i++) {
      const grads = tf.tidy(() => ({ w: tf.mul((state.params as { w: tf.Tensor }).w, 2), b: tf.zerosLike((state.params as { b: tf.Tensor }).b) }));
      const l = loss(state.params);
      state = advance(momentum, state, grads, { loss: l as tf.Scalar });
      disposeTree(grads);
      l.dispose();
      counts.push(tf.memory().numTensors);
    }
    expect(counts[counts.length - 1]).toBe(counts[10]);
    // The saved gradient survived the caller disposing its own copy.
    expect(Array.from((state.state.last as { w: tf.Tensor }).w.dataSync()).every(Number.isFinite)).toBe(true);
    // And it converges like momentum SGD on sum(w^2).
    expect(Math.abs((state.params as { w: tf.Tensor }).w.dataSync()[0] as number)).toBeLessThan(1e-3);
    disposeTree([state.params, state.state.v, state.state.last]);
  });

  it('does not dispose tensors the new state reuses', () => {
    const frozen: Optimizer = {
      name: 'frozen',
      init: (params) => ({ params, state: [], iteration: 0 }),
      update: (s) => ({ ...s, iteration: s.iteration + 1 }),
    };
    const p = tf.ones([3]);
    const g = tf.ones([3]);
    const s = advance(frozen, frozen.init(p), g);
    expect(p.isDisposed).toBe(false);
    expect(s.params).toBe(p);
    expect(s.iteration).toBe(1);
    tf.dispose([p, g]);
  });
});
