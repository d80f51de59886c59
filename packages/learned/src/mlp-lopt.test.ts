import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { key } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { mlpLOpt } from './mlp-lopt.js';

/** One mlpLOpt step in float64 plain JS (features, normalization, MLP, output rule). */
function referenceStep(theta: Record<string, { w: number[][]; b: number[] }>, p: number[], g: number[], iteration: number, expMult: number, stepMult: number): number[] {
  const decays = [0.1, 0.5, 0.9, 0.99, 0.999, 0.9999];
  const n = p.length;
  const cols: number[][] = [g, p, ...decays.map((d) => g.map((x) => (1 - d) * x))];
  const norm = cols.map((c) => {
    const s = Math.sqrt(1e-5 + c.reduce((a, b) => a + b * b, 0) / n);
    return c.map((x) => x / s);
  });
  const time = [1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000].map((t) => Math.tanh(iteration / t - 1));
  return p.map((pv, e) => {
    let h = [...norm.map((c) => c[e] as number), ...time];
    for (let l = 0; l < 3; l++) {
      const { w, b } = theta[`mlp/~/linear_${l}`] as { w: number[][]; b: number[] };
      const out = b.map((bb, o) => h.reduce((a, x, i) => a + x * ((w[i] as number[])[o] as number), bb));
      h = l < 2 ? out.map((x) => Math.max(0, x)) : out;
    }
    return pv - (h[0] as number) * Math.exp((h[1] as number) * expMult) * stepMult;
  });
}

describe('mlpLOpt', () => {
  it('one step equals a float64 reference of features, normalization, MLP and step rule', () => {
    const lopt = mlpLOpt({ stepMult: 0.1, expMult: 0.3 });
    const theta = lopt.init(key(11));
    const p = [0.5, -1.5, 0.25, 2.0, -0.75];
    const g = [0.1, 0.3, -0.2, 0.05, -0.4];
    const opt = lopt.optimizer(theta);
    const s = opt.init({ x: tf.tensor1d(p) });
    const next = opt.update(s, { x: tf.tensor1d(g) });
    const th = Object.fromEntries(Object.entries(theta).map(([k, v]) => [k, { w: v.w.arraySync(), b: Array.from(v.b.dataSync()) }]));
    const expected = referenceStep(th, p, g, 0, 0.3, 0.1);
    expectClose((next.params as { x: tf.Tensor }).x, expected, { rtol: 1e-5, atol: 1e-6 });
    // The step is not negligible, so the comparison tests the MLP.
    expect(Math.max(...expected.map((v, i) => Math.abs(v - (p[i] as number))))).toBeGreaterThan(1e-3);
  });

  it('works on a scalar parameter', () => {
    const lopt = mlpLOpt();
    const opt = lopt.optimizer(lopt.init(key(1)));
    const s = opt.init(tf.scalar(1.5));
    const next = opt.update(s, tf.scalar(0.2));
    expect((next.params as tf.Tensor).shape).toEqual([]);
    expect(Number.isFinite((next.params as tf.Tensor).dataSync()[0])).toBe(true);
  });
});
