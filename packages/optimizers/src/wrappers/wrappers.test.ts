import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { advance, create, disposeTree, list, LoptError, treeLeaves, type OptState, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import {
  adam,
  chain,
  clip,
  clipByGlobalNorm,
  gradientAccumulation,
  gradientClip,
  graft,
  lookahead,
  lookaheadSlowParams,
  masked,
  OPTIMIZER_NAMES,
  optimizerFrom,
  registerAll,
  scaleByAdam,
  scaleByLearningRate,
  sgd,
} from '../index.js';

function values(t: TensorTree): number[][] {
  return treeLeaves(t).map((x) => Array.from(x.dataSync()));
}

function loop<S>(opt: { init: (p: TensorTree) => OptState<S>; update: (s: OptState<S>, g: TensorTree) => OptState<S>; name: string }, params: TensorTree, grads: (i: number, p: TensorTree) => TensorTree, n: number): OptState<S> {
  let state = opt.init(params);
  for (let i = 0; i < n; i++) {
    const g = grads(i, state.params);
    state = advance(opt as never, state, g) as OptState<S>;
    disposeTree(g);
  }
  return state;
}

describe('lookahead', () => {
  it("follows optax's analytic trajectory (k=3, alpha=1/3): slow ends at {x: 1, y: -1}", () => {
    const opt = lookahead(sgd({ learningRate: 0.5 }), { syncPeriod: 3, slowStepSize: 1 / 3 });
    const params = { x: tf.scalar(3), y: tf.scalar(-3) };
    const grads = () => ({ x: tf.scalar(2), y: tf.scalar(-2) });
    // fast: 3 -> 2 -> 1 -> 0, sync slow = 3 + (0 - 3)/3 = 2; then 1 -> 0 -> -1, sync slow = 2 + (-1 - 2)/3 = 1
    const state = loop(opt, params, grads, 6);
    expectClose(values(lookaheadSlowParams(state)).flat(), [1, -1], { rtol: 1e-6 });
    expectClose(values(state.params).flat(), [1, -1], { rtol: 1e-6 });
  });
  it('evalParams returns a copy of the slow weights (between syncs they differ from the fast ones)', () => {
    const opt = lookahead(sgd({ learningRate: 0.5 }), { syncPeriod: 3, slowStepSize: 1 / 3 });
    const state = loop(opt, { x: tf.scalar(3), y: tf.scalar(-3) }, () => ({ x: tf.scalar(2), y: tf.scalar(-2) }), 4);
    const slow = opt.evalParams!(state);
    // slow synced to 2 at step 3; fast moved on to 1 at step 4
    expectClose(values(slow).flat(), [2, -2], { rtol: 1e-6 });
    expectClose(values(state.params).flat(), [1, -1], { rtol: 1e-6 });
    expect(treeLeaves(slow)[0]).not.toBe(treeLeaves(lookaheadSlowParams(state))[0]);
    disposeTree(slow);
  });
  it('edge cases: k=1, alpha in {0, 0.5, 1}; k=2, alpha=1 (as optax)', () => {
    const cases: [number, number, number][] = [
      [1, 0.5, 1],
      [1, 0, 3],
      [1, 1, -1],
      [2, 1, -1],
    ];
    for (const [k, a, x] of cases) {
      const opt = lookahead(sgd({ learningRate: 1 }), { syncPeriod: k, slowStepSize: a });
      const state = loop(opt, { x: tf.scalar(3), y: tf.scalar(-3) }, () => ({ x: tf.scalar(2), y: tf.scalar(-2) }), 2);
      expectClose(values(lookaheadSlowParams(state)).flat(), [x, -x], { rtol: 1e-6, label: `k=${k} alpha=${a}` });
    }
  });
  it('resetState re-initializes the fast state at each sync', () => {
    const params = () => ({ x: tf.tensor1d([1, 2]) });
    const g = () => ({ x: tf.tensor1d([0.5, -1]) });
    const reset = loop(lookahead(sgd({ learningRate: 0.1, momentum: 0.9 }), { syncPeriod: 3, resetState: true }), params(), g, 3);
    const kept = loop(lookahead(sgd({ learningRate: 0.1, momentum: 0.9 }), { syncPeriod: 3 }), params(), g, 3);
    expect(values(reset.state.fast as TensorTree).flat().every((v) => v === 0)).toBe(true);
    expect(values(kept.state.fast as TensorTree).flat().some((v) => v !== 0)).toBe(true);
  });
  it('rejects bad options', () => {
    expect(() => lookahead(sgd(), { syncPeriod: 0 })).toThrow(/syncPeriod/);
    expect(() => lookahead(sgd(), { slowStepSize: 1.5 })).toThrow(/slowStepSize/);
  });
});

describe('gradientAccumulation', () => {
  it('equals the inner optimizer on the mean of every k gradients', () => {
    const gs = [[1, -2], [3, 0.5], [-1, 1], [0.2, 0.4], [2, 2], [-3, 1]];
    const acc = loop(gradientAccumulation(adam({ learningRate: 0.1 }), { every: 3 }), { w: tf.tensor1d([0.5, -0.5]) }, (i) => ({ w: tf.tensor1d(gs[i] as number[]) }), 6);
    const mean = (a: number[][]) => [0, 1].map((j) => a.reduce((s, r) => s + (r[j] as number), 0) / a.length);
    const means = [mean(gs.slice(0, 3)), mean(gs.slice(3))];
    const direct = loop(adam({ learningRate: 0.1 }), { w: tf.tensor1d([0.5, -0.5]) }, (i) => ({ w: tf.tensor1d(means[i] as number[]) }), 2);
    expectClose(values(acc.params).flat(), values(direct.params).flat(), { rtol: 1e-6 });
    expect(acc.iteration).toBe(6);
  });
  it('keeps parameters unchanged between inner steps', () => {
    const opt = gradientAccumulation(sgd({ learningRate: 1 }), { every: 2 });
    const s1 = loop(opt, { w: tf.tensor1d([1]) }, () => ({ w: tf.tensor1d([1]) }), 1);
    expectClose(values(s1.params).flat(), [1]);
  });
  it('rejects every < 1', () => {
    expect(() => gradientAccumulation(sgd(), { every: 0 })).toThrow(LoptError);
  });
});

describe('graft', () => {
  it("takes the direction of one optimizer and the global step norm of the other", () => {
    const p0 = [1, -2, 0.5];
    const g = [0.3, -0.4, 1.2];
    const state = loop(graft(sgd({ learningRate: 0.1 }), adam({ learningRate: 1e-3 })), { w: tf.tensor1d(p0) }, () => ({ w: tf.tensor1d(g) }), 1);
    const magNorm = 0.1 * Math.hypot(...g);
    const dir = g.map((x) => -Math.sign(x)); // Adam's first step is -lr * sign(g) (up to eps)
    const dn = Math.hypot(...dir);
    expectClose(values(state.params).flat(), p0.map((p, j) => p + ((dir[j] as number) * magNorm) / dn), { rtol: 1e-5 });
  });
});

describe('gradientClip', () => {
  it('clips each gradient element before the inner optimizer', () => {
    const state = loop(gradientClip(sgd({ learningRate: 1 }), { max: 0.5 }), { w: tf.tensor1d([0, 0, 0]) }, () => ({ w: tf.tensor1d([2, -0.3, -7]) }), 1);
    expectClose(values(state.params).flat(), [-0.5, 0.3, 0.5]);
  });
});

describe('clip transformations and masked', () => {
  it('clip is elementwise; clipByGlobalNorm rescales only above the bound', () => {
    const g = { a: tf.tensor1d([3, -4]), b: tf.tensor1d([12]) }; // global norm 13
    const c = clip(3.5).update(g, {}, g);
    expectClose(values(c.updates).flat(), [3, -3.5, 3.5]);
    const n = clipByGlobalNorm(6.5).update(g, {}, g);
    expectClose(values(n.updates).flat(), [1.5, -2, 6], { rtol: 1e-6 });
    const same = clipByGlobalNorm(20).update(g, {}, g);
    expectClose(values(same.updates).flat(), [3, -4, 12]);
  });
  it('masked passes masked-out leaves through unchanged and keeps state only for the selected ones', () => {
    const params = { enc: { w: tf.tensor1d([1, 2]), b: tf.tensor1d([0.5]) }, dec: tf.tensor1d([3]) };
    const grads = { enc: { w: tf.tensor1d([0.1, -0.2]), b: tf.tensor1d([0.3]) }, dec: tf.tensor1d([-0.4]) };
    const tx = masked(chain(scaleByAdam(), scaleByLearningRate(0.1)), { enc: { w: true, b: false }, dec: true });
    const state = tx.init(params);
    const out = tx.update(grads, state, params);
    const u = out.updates as { enc: { w: tf.Tensor; b: tf.Tensor }; dec: tf.Tensor };
    expect(u.enc.b).toBe(grads.enc.b); // passed through, not zeroed
    expectClose(u.enc.w, [-0.1, 0.1], { rtol: 1e-5 });
    expectClose(u.dec, [0.1], { rtol: 1e-5 });
    const adamState = (out.state as TensorTree[])[0] as { mu: Record<string, tf.Tensor> };
    expect(Object.keys(adamState.mu).sort()).toEqual(['dec', 'enc.w']);
    expect(() => tx.init({ other: tf.scalar(1) })).toThrow(LoptError);
  });
  it('masked with a predicate', () => {
    const params = { w: tf.zeros([2, 2]), b: tf.zeros([2]) };
    const tx = masked(scaleByLearningRate(1), (_p, t) => t.rank > 1);
    const g = { w: tf.ones([2, 2]), b: tf.ones([2]) };
    const out = tx.update(g, tx.init(params), params).updates as { w: tf.Tensor; b: tf.Tensor };
    expectClose(out.w, [-1, -1, -1, -1]);
    expectClose(out.b, [1, 1]);
  });
});

describe('registerAll', () => {
  it('registers every optimizer by name, idempotently, and builds them from JSON options', () => {
    registerAll();
    registerAll();
    const names = list('optimizer').map((e) => e.name);
    for (const n of OPTIMIZER_NAMES) expect(names).toContain(n);
    for (const n of ['sgd', 'adam', 'adamw', 'nadamw', 'amsgrad', 'rmsprop', 'adagrad', 'adadelta', 'adamax', 'adafactor', 'lion', 'lars', 'lamb', 'radam', 'yogi', 'adabelief']) {
      expect(create('optimizer', n, {}).name).toBe(n);
    }
    const la = create('optimizer', 'lookahead', { inner: 'adam', innerOptions: { learningRate: 0.01 }, syncPeriod: 4 });
    expect(la.name).toBe('lookahead(adam)');
    expect(() => create('optimizer', 'adam', { learningRate: -1 })).toThrow(/learningRate/);
    expect(() => create('optimizer', 'lookahead', { inner: 'nope' })).toThrow(LoptError);
  });
  it('optimizerFrom validates its arguments', () => {
    expect(() => optimizerFrom({} as never, 'x')).toThrow(LoptError);
    expect(() => optimizerFrom(scaleByLearningRate(1), '')).toThrow(LoptError);
  });
});
