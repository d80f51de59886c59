import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, advance, disposeTree, key, normalArray, split, treeFlatten, treeUnflatten, type Key, type OptState, type TensorTree } from '@lopt/core';
import { expectClose, expectTreeClose, leakCheck } from '@lopt/testkit';
import { loadLearnedOptimizer, saveLearnedOptimizer } from './checkpoint.js';
import { dmdFeatures, dmdFeaturesNoGrad } from './dmd-features.js';
import { dmdLOpt, type DmdLOptTheta } from './dmd-lopt.js';
import { smallParams } from './test-helpers.js';

/** float64 reference of dmdFeatures for one series `x` (oldest first) and the tensor-level sums. */
function referenceColumn(x: number[]): { lambda: number; radius: number; angle: number } {
  const m = Math.max(...x.map(Math.abs)) + 1e-30;
  const s = x.map((v) => v / m);
  let cross = 0;
  let energy = 0;
  for (let t = 0; t + 1 < s.length; t++) {
    cross += (s[t + 1] as number) * (s[t] as number);
    energy += (s[t] as number) ** 2;
  }
  let s11 = 0, s12 = 0, s22 = 0, r1 = 0, r2 = 0;
  for (let t = 1; t + 1 < s.length; t++) {
    const [p, c, n] = [s[t - 1] as number, s[t] as number, s[t + 1] as number];
    s11 += c * c; s12 += c * p; s22 += p * p; r1 += n * c; r2 += n * p;
  }
  const ridge = 1e-4 * (s11 + s22) / 2 + 1e-12;
  const det = (s11 + ridge) * (s22 + ridge) - s12 * s12;
  const a = ((s22 + ridge) * r1 - s12 * r2) / det;
  const b = ((s11 + ridge) * r2 - s12 * r1) / det;
  const disc = a * a + 4 * b;
  const radius = disc >= 0 ? (Math.abs(a) + Math.sqrt(disc)) / 2 : Math.sqrt(-b);
  const angle = disc >= 0 ? (a < 0 ? 1 : 0) : Math.acos(a / (2 * Math.sqrt(-b))) / Math.PI;
  return { lambda: Math.max(-2, Math.min(2, cross / (energy + 1e-12))), radius: Math.min(2, radius), angle };
}

function features(window: number[][]): number[][] {
  return tf.tidy(() => dmdFeatures(tf.tensor2d(window)).arraySync());
}

/** A `[W, N]` window whose column j follows `x[t+1] = a_j x[t] + b_j x[t-1]` from (x0, x1). */
function recurrence(w: number, coeffs: [number, number, number, number][]): number[][] {
  const cols = coeffs.map(([a, b, x0, x1]) => {
    const s = [x0, x1];
    while (s.length < w) s.push(a * (s[s.length - 1] as number) + b * (s[s.length - 2] as number));
    return s;
  });
  return Array.from({ length: w }, (_, t) => cols.map((c) => c[t] as number));
}

describe('dmdFeatures', () => {
  it('recovers the eigenvalues of known linear recurrences', () => {
    // Column 0: x[t] = 0.8^t (eigenvalue 0.8); column 1: x[t] = (-0.5)^t; column 2: a damped
    // rotation with eigenvalues 0.9 e^(+-i pi/5): a = 2 r cos(theta), b = -r^2.
    const r = 0.9;
    const th = Math.PI / 5;
    const win = recurrence(8, [[0.8, 0, 1, 0.8], [-0.5, 0, 1, -0.5], [2 * r * Math.cos(th), -r * r, 1, r * Math.cos(th)]]);
    const [lambda, radius, angle] = features(win) as [number[], number[], number[]];
    expect(lambda[0]).toBeCloseTo(0.8, 5);
    expect(lambda[1]).toBeCloseTo(-0.5, 5);
    expect(radius[0]).toBeCloseTo(0.8, 2);
    expect(angle[0]).toBe(0);
    expect(radius[1]).toBeCloseTo(0.5, 2);
    expect(angle[1]).toBe(1);
    expect(radius[2]).toBeCloseTo(r, 2);
    expect(angle[2]).toBeCloseTo(0.2, 2);
  });

  it('matches a float64 reference on random windows, including the tensor-level eigenvalue', () => {
    const w = 6;
    const n = 16;
    const vals = Array.from(normalArray(key(3), w * n));
    const win = Array.from({ length: w }, (_, t) => vals.slice(t * n, (t + 1) * n).map((v, j) => v * (j + 1)));
    const got = features(win) as [number[], number[], number[], number[]];
    for (let j = 0; j < n; j++) {
      const ref = referenceColumn(win.map((row) => row[j] as number));
      expect(got[0][j]).toBeCloseTo(ref.lambda, 4);
      expect(got[1][j]).toBeCloseTo(ref.radius, 3);
      expect(got[2][j]).toBeCloseTo(ref.angle, 3);
    }
    const flat = win.flat();
    const m = Math.max(...flat.map(Math.abs));
    let cross = 0;
    let energy = 0;
    for (let t = 0; t + 1 < w; t++) for (let j = 0; j < n; j++) {
      cross += ((win[t + 1] as number[])[j] as number) * ((win[t] as number[])[j] as number) / (m * m);
      energy += (((win[t] as number[])[j] as number) / m) ** 2;
    }
    for (const v of got[3]) expect(v).toBeCloseTo(Math.max(-2, Math.min(2, cross / energy)), 4);
  });

  it('is finite on degenerate windows: zeros, constants, one spike, huge and tiny values', () => {
    const w = 6;
    const cols = [new Array(w).fill(0), new Array(w).fill(3), [0, 0, 0, 0, 0, 5], [1e30, -1e30, 1e30, 1e30, 0, 1e30], new Array(w).fill(1e-30)];
    const win = Array.from({ length: w }, (_, t) => cols.map((c) => c[t] as number));
    const got = features(win);
    for (const row of got) for (const v of row) expect(Number.isFinite(v)).toBe(true);
    // Zeros: everything 0. A constant series: eigenvalue 1, dominant order-2 root 1 (the constant mode).
    for (const f of [0, 1, 2]) expect((got[f] as number[])[0]).toBeCloseTo(0, 5);
    expect((got[0] as number[])[1]).toBeCloseTo(1, 5);
    expect((got[1] as number[])[1]).toBeCloseTo(1, 2);
    expect((got[2] as number[])[1]).toBe(0);
    expect((got[0] as number[])[4]).toBeCloseTo(1, 5);
  });

  it('is differentiable: gradients match finite differences of the float64 reference', () => {
    const col = [1, 0.7, 0.2, -0.3, -0.5, -0.2];
    const win = tf.tensor2d(col.map((v) => [v]));
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.slice(dmdFeatures(x as tf.Tensor2D), [0, 0], [3, 1])))(win);
    const f = (c: number[]) => { const r = referenceColumn(c); return r.lambda + r.radius + r.angle; };
    const h = 1e-6;
    const fd = col.map((_, i) => (f(col.map((v, j) => (j === i ? v + h : v))) - f(col.map((v, j) => (j === i ? v - h : v)))) / (2 * h));
    expectClose(g, fd, { rtol: 2e-2, atol: 2e-3 });
    tf.dispose([win, g]);
  });

  it('dmdFeaturesNoGrad has the same values and a zero gradient, even on an all-zero window', () => {
    const win = tf.tensor2d([[0, 1], [0, 2], [0, 3], [0, 4]]);
    expectClose(dmdFeaturesNoGrad(win), dmdFeatures(win).arraySync().flat(), { rtol: 0, atol: 0 });
    const g = tf.grad((x: tf.Tensor) => tf.sum(dmdFeaturesNoGrad(x as tf.Tensor2D)))(win);
    expect(Array.from(g.dataSync())).toEqual(new Array(8).fill(0));
    tf.dispose([win, g]);
  });
});

/** Gradients of 0.5 * sum(c * p^2) with per-leaf curvatures (as architectures.test's quadGrads). */
function quadGrads(params: TensorTree): TensorTree {
  const t = params as { layer: { w: tf.Tensor; b: tf.Tensor }; s: tf.Tensor };
  return { layer: { w: tf.mul(1, t.layer.w), b: tf.mul(3, t.layer.b) }, s: tf.mul(0.5, t.s) };
}

describe('dmdLOpt', () => {
  it('rejects bad options with LoptError naming the option', () => {
    expect(() => dmdLOpt({ window: 3 })).toThrow(LoptError);
    expect(() => dmdLOpt({ window: 3 })).toThrow(/window/);
    expect(() => dmdLOpt({ window: 6.5 })).toThrow(/window/);
    expect(() => dmdLOpt({ decays: [1.2] })).toThrow(/decays\[0\]/);
    expect(() => dmdLOpt({ decays: [] })).toThrow(/decays/);
    expect(() => dmdLOpt({ hiddenSize: 0 })).toThrow(/hiddenSize/);
    expect(() => dmdLOpt({ stepMult: Number.NaN })).toThrow(/stepMult/);
    expect(() => dmdLOpt({ windows: 6 } as never)).toThrow(/unknown option 'windows'/);
  });

  it('keeps the last W gradients in its state, oldest first', () => {
    const lopt = dmdLOpt({ window: 4 });
    const theta = lopt.init(key(1));
    const opt = lopt.optimizer(theta);
    let s: OptState = opt.init({ x: tf.tensor1d([1, 2]) });
    for (let t = 1; t <= 5; t++) {
      const g = { x: tf.tensor1d([t, -t]) };
      s = advance(opt, s, g);
      disposeTree(g);
    }
    const win = (s.state as { window: tf.Tensor[] }).window[0] as tf.Tensor;
    expect(win.arraySync()).toEqual([[2, -2], [3, -3], [4, -4], [5, -5]]);
    disposeTree([s.params, s.state as TensorTree, theta]);
  });

  it('round-trips through a checkpoint and takes the same step', () => {
    const lopt = dmdLOpt({ window: 5, hiddenSize: 8, stepMult: 0.01 });
    const theta = lopt.init(key(2));
    const loaded = loadLearnedOptimizer(saveLearnedOptimizer(lopt, theta));
    expect(loaded.lopt.name).toBe('dmdLOpt');
    expect(loaded.lopt.config).toEqual(lopt.config);
    expectTreeClose(loaded.theta, theta, { rtol: 0, atol: 0 });
    const a = lopt.optimizer(theta);
    const b = loaded.lopt.optimizer(loaded.theta);
    let sa = a.init(smallParams(key(3)));
    let sb = b.init(smallParams(key(3)));
    for (let t = 0; t < 3; t++) {
      const ga = quadGrads(sa.params);
      const gb = quadGrads(sb.params);
      sa = advance(a, sa, ga);
      sb = advance(b, sb, gb);
      disposeTree([ga, gb]);
    }
    expectTreeClose(sb.params, sa.params, { rtol: 0, atol: 0 });
    disposeTree([theta, loaded.theta, sa.params, sb.params, sa.state as TensorTree, sb.state as TensorTree]);
  });

  it('does not leak tensors over many steps', () => {
    const lopt = dmdLOpt();
    const theta = lopt.init(key(4));
    const opt = lopt.optimizer(theta);
    let s: OptState = opt.init(smallParams(key(5)));
    const growth = leakCheck(() => {
      const g = quadGrads(s.params);
      s = advance(opt, s, g);
      disposeTree(g);
    }, 40);
    expect(growth).toBe(0);
    disposeTree([s.params, s.state as TensorTree, theta]);
  });

  it('meta-training on a quadratic family lowers the meta-loss', () => {
    // Family: f(x) = 0.5 * sum(c_i x_i^2), c_i log-uniform in [0.1, 10], x0 ~ N(0, 1), 8 dims.
    // Meta-loss: mean of log f over a 12-step unroll; outer optimizer: Adam (lr 3e-2) on theta.
    const lopt = dmdLOpt({ hiddenSize: 16, stepMult: 0.1, expMult: 0.1 });
    const unroll = 12;
    const sample = (k: Key): { c: tf.Tensor; x0: tf.Tensor } => {
      const [a, b] = split(k, 2) as [Key, Key];
      return { c: tf.tensor1d(Array.from(normalArray(a, 8), (z) => Math.exp(Math.log(10) * Math.tanh(z)))), x0: tf.tensor1d(Array.from(normalArray(b, 8))) };
    };
    const metaLoss = (thetaLeaves: tf.Tensor[], structure: ReturnType<typeof treeFlatten>['structure'], prob: { c: tf.Tensor; x0: tf.Tensor }): tf.Scalar => {
      const opt = lopt.optimizer(treeUnflatten(structure, thetaLeaves) as DmdLOptTheta);
      let s = opt.init({ x: prob.x0 });
      const losses: tf.Scalar[] = [];
      for (let t = 0; t < unroll; t++) {
        const x = (s.params as { x: tf.Tensor }).x;
        s = opt.update(s, { x: tf.mul(prob.c, x) });
        losses.push(tf.log(tf.add(tf.mul(0.5, tf.sum(tf.mul(prob.c, tf.square((s.params as { x: tf.Tensor }).x)))), 1e-8)) as tf.Scalar);
      }
      return tf.mean(tf.stack(losses)) as tf.Scalar;
    };
    const { leaves, structure } = treeFlatten(lopt.init(key(6)));
    const validation = [0, 1, 2, 3].map((i) => sample(key(1000 + i)));
    const evaluate = (th: tf.Tensor[]): number => tf.tidy(() => validation.reduce((a, p) => a + metaLoss(th, structure, p).dataSync()[0]!, 0) / validation.length);
    const before = evaluate(leaves);
    const vars = leaves.map((l) => tf.variable(l));
    const outer = tf.train.adam(3e-2);
    for (let step = 0; step < 40; step++) {
      const prob = sample(key(step));
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => metaLoss(vars, structure, prob), vars);
        outer.applyGradients(grads as tf.NamedTensorMap as never);
      });
      tf.dispose([prob.c, prob.x0]);
    }
    const after = evaluate(vars);
    // The meta-loss (mean log loss) drops by at least 0.5 nats on held-out quadratics.
    expect(after).toBeLessThan(before - 0.5);
    outer.dispose();
    tf.dispose([...vars, ...leaves, ...validation.flatMap((p) => [p.c, p.x0])]);
  });
});

describe('dmdLOpt output', () => {
  it('one step equals features + MLP computed from dmdFeatures and the documented step rule', () => {
    const lopt = dmdLOpt({ hiddenLayers: 0, stepMult: 0.1, expMult: 0.5, window: 4, decays: [0.9] });
    const theta = lopt.init(key(7));
    const p = [0.5, -1.5, 0.25];
    const g = [0.1, 0.3, -0.2];
    const opt = lopt.optimizer(theta);
    const next = opt.update(opt.init({ x: tf.tensor1d(p) }), { x: tf.tensor1d(g) });
    // Features: g, p, m = 0.1 g (each RMS-normalized), DMD of the window [0, 0, 0, g], 11 time features.
    const rmsNorm = (c: number[]) => { const r = Math.sqrt(1e-5 + c.reduce((a, b) => a + b * b, 0) / c.length); return c.map((v) => v / r); };
    const dmd = features([[0, 0, 0], [0, 0, 0], [0, 0, 0], g]);
    const time = [1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000].map((t) => Math.tanh(0 / t - 1));
    const cols = [rmsNorm(g), rmsNorm(p), rmsNorm(g.map((v) => 0.1 * v)), ...dmd];
    const { w, b } = (theta as Record<string, { w: tf.Tensor2D; b: tf.Tensor1D }>)['mlp/~/linear_0'] as { w: tf.Tensor2D; b: tf.Tensor1D };
    const wv = w.arraySync();
    const bv = Array.from(b.dataSync());
    const expected = p.map((pv, e) => {
      const f = [...cols.map((c) => c[e] as number), ...time];
      const out = [0, 1].map((o) => f.reduce((a, x, i) => a + x * ((wv[i] as number[])[o] as number), bv[o] as number));
      return pv - (out[0] as number) * Math.exp((out[1] as number) * 0.5) * 0.1;
    });
    expectClose((next.params as { x: tf.Tensor }).x, expected, { rtol: 1e-5, atol: 1e-6 });
  });
});
