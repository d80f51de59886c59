import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { advance, disposeTree, key, normal, split, treeLeaves, type Key, type OptState, type Optimizer, type TensorTree } from '@lopt/core';
import { expectClose, expectTreeClose } from '@lopt/testkit';
import { adafacMlpLOpt } from './adafac-mlp-lopt.js';
import { fusedAdafacAvailable } from './adafac-fused.js';
import { mlpNomLOpt } from './mlp-nom-lopt.js';

function params(k: Key): TensorTree {
  const [a, b, c, d, e] = split(k, 5);
  return {
    w1: normal(a as Key, [6, 9]), // d0 = 1 (columns are the largest axis), tail of 1 per row
    w2: normal(b as Key, [11, 3]), // d0 = 0 (rows are the largest axis)
    bias: normal(c as Key, [5]),
    s: normal(d as Key, []),
    sq: normal(e as Key, [8, 8]),
  };
}

/**
 * Steps `composed` and `fused` side by side from `params(key(1))` on the gradients
 * `params(key(gradSeed + t))` and checks that the fused params and state match the composed
 * ones; returns the composed optimizer's final state.
 */
function expectFusedMatches(composed: Optimizer, fused: Optimizer, steps: number, gradSeed: number): OptState {
  let sa: OptState = composed.init(params(key(1)));
  let sb: OptState = fused.init(params(key(1)));
  for (let t = 0; t < steps; t++) {
    const g = params(key(gradSeed + t));
    sa = advance(composed, sa, g);
    sb = advance(fused, sb, g);
    disposeTree(g);
  }
  expectTreeClose(sb.params, sa.params, { rtol: 1e-5, atol: 1e-6 });
  expectTreeClose(sb.state as TensorTree, sa.state as TensorTree, { rtol: 1e-4, atol: 1e-7 });
  return sa;
}

describe('fused adafacMlpLOpt kernel', () => {
  it('is available on this backend', () => {
    expect(fusedAdafacAvailable()).toBe(true);
  });

  it('matches the composed reference over 5 steps (params and every accumulator)', () => {
    const lopt = adafacMlpLOpt({ fused: false });
    // Random non-zero decay offsets and a larger step so the test sees the MLP's output.
    const theta0 = lopt.init(key(3));
    const theta = { ...theta0, momentum_decays: tf.tensor1d([0.05, -0.02, 0.01]), adafactor_decays: tf.tensor1d([-0.03, 0.02, 0.0]) };
    const composed = adafacMlpLOpt({ fused: false, stepMult: 0.1, expMult: 0.5 }).optimizer(theta);
    const fused = adafacMlpLOpt({ fused: true, stepMult: 0.1, expMult: 0.5 }).optimizer(theta);
    const p0 = params(key(1));
    const sa = expectFusedMatches(composed, fused, 5, 100);
    // The step is not negligible: params moved by more than the tolerance.
    const moved = treeLeaves(sa.params).map((x, i) => tf.max(tf.abs(tf.sub(x, treeLeaves(p0)[i] as tf.Tensor))).dataSync()[0] as number);
    expect(Math.min(...moved)).toBeGreaterThan(1e-3);
  });
});

describe('fused mode selection', () => {
  it("'auto' runs the composed (differentiable) ops inside tf.grad, and fused: true refuses to", () => {
    const auto = adafacMlpLOpt();
    const theta = auto.init(key(1));
    const p = { w: normal(key(2), [3, 5]) };
    const g = { w: normal(key(3), [3, 5]) };
    const dW = tf.grad((w0: tf.Tensor) => {
      const th = { ...theta, nn: { '~': { ...theta.nn['~'], w0 } } };
      const opt = auto.optimizer(th);
      const s = opt.update(opt.init(p), g);
      return tf.sum((s.params as { w: tf.Tensor }).w);
    })(theta.nn['~'].w0 as tf.Tensor);
    expect(tf.tidy(() => tf.sum(tf.abs(dW)).dataSync()[0] as number)).toBeGreaterThan(0);
    const forced = adafacMlpLOpt({ fused: true }).optimizer(theta);
    expect(() => tf.grad((x: tf.Tensor) => tf.sum((forced.update(forced.init({ w: x }), g).params as { w: tf.Tensor }).w))(p.w)).toThrow(/not differentiable/);
  });

  it('fused: true needs the default sizes', () => {
    expect(() => adafacMlpLOpt({ fused: true, hiddenSize: 8 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', option: 'fused' }));
    expect(() => adafacMlpLOpt({ fused: 'yes' as never })).toThrow(/fused/);
  });

  it('handles rank-3 leaves through the composed path and matches fused: false', () => {
    const lopt = adafacMlpLOpt();
    const theta = lopt.init(key(9));
    const mk = (): TensorTree => ({ k: normal(key(4), [2, 3, 4]), v: normal(key(5), [7]) });
    const g = { k: normal(key(6), [2, 3, 4]), v: normal(key(7), [7]) };
    const a = adafacMlpLOpt({ fused: true }).optimizer(theta);
    const b = adafacMlpLOpt({ fused: false }).optimizer(theta);
    const sa = a.update(a.init(mk()), g);
    const sb = b.update(b.init(mk()), g);
    expectTreeClose(sa.params, sb.params, { rtol: 1e-5, atol: 1e-7 });
    expectTreeClose(sa.state as TensorTree, sb.state as TensorTree, { rtol: 1e-5, atol: 1e-7 });
  });
});

describe('fused theta caching', () => {
  it('re-reads theta held in tf.Variables after they are assigned', () => {
    const lopt = adafacMlpLOpt({ fused: true, stepMult: 0.1 });
    const theta0 = lopt.init(key(1));
    const w2 = tf.variable(theta0.nn['~'].w2 as tf.Tensor);
    const theta = { ...theta0, nn: { '~': { ...theta0.nn['~'], w2 } } };
    const opt = lopt.optimizer(theta);
    const p = { w: normal(key(2), [4, 5]) };
    const g = { w: normal(key(3), [4, 5]) };
    const s = opt.init(p);
    const a = Array.from((opt.update(s, g).params as { w: tf.Tensor }).w.dataSync());
    w2.assign(tf.mul(w2, 3));
    const b = Array.from((opt.update(s, g).params as { w: tf.Tensor }).w.dataSync());
    const composed = adafacMlpLOpt({ fused: false, stepMult: 0.1 }).optimizer(theta);
    expectClose(b, Array.from((composed.update(composed.init(p), g).params as { w: tf.Tensor }).w.dataSync()), { rtol: 1e-5, atol: 1e-6 });
    expect(a).not.toEqual(b);
  });
});

describe('fused mlpNomLOpt', () => {
  it.each(['SGD', 'SGDM', 'AggMo', 'Adam', 'AdamAggMo'] as const)('matches the composed ops with a %s nominal term and weight decay', (est) => {
    const cfg = { nominalGradEstimator: est, nominalStepsize: 0.05, weightDecay: 0.01, stepMult: 0.1 };
    const theta = mlpNomLOpt(cfg).init(key(5));
    const fused = mlpNomLOpt({ ...cfg, fused: true }).optimizer(theta);
    const composed = mlpNomLOpt({ ...cfg, fused: false }).optimizer(theta);
    expectFusedMatches(composed, fused, 3, 50);
  });

  it('refuses fused: true with a controller', () => {
    expect(() => mlpNomLOpt({ fused: true, nominalController: true })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', option: 'fused' }));
  });
});
