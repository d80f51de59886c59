import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeTree, key, split, isLoptError, type Key } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import {
  fixedDimQuadraticFamily,
  logQuadraticTask,
  noisyQuadraticFamily,
  quadraticFamily,
  quadraticTask,
  sumQuadraticTask,
} from './index.js';

describe('quadratic tasks', () => {
  it('quadraticTask: loss sum(p^2) and gradient 2p against float64 references', () => {
    const task = quadraticTask({ dim: 7 });
    expect(task.name).toBe('quadratic-7');
    const p = task.init(key(3)) as tf.Tensor;
    const host = Array.from(p.dataSync());
    expect(p.shape).toEqual([7]);
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => task.loss(x, undefined as never))([p]);
    expectClose(value, host.reduce((s, v) => s + v * v, 0), { rtol: 1e-6 });
    expectClose(grads[0] as tf.Tensor, host.map((v) => 2 * v), { rtol: 1e-6 });
    tf.dispose([p, value, ...grads]);
  });

  it('sumQuadraticTask and logQuadraticTask match their formulas', () => {
    const s = sumQuadraticTask({ dim: 5 });
    const ps = s.init(key(1)) as { a: tf.Tensor; b: tf.Tensor };
    const a = Array.from(ps.a.dataSync());
    const b = Array.from(ps.b.dataSync());
    const ls = s.loss(ps, undefined as never);
    expectClose(ls, a.reduce((acc, v, i) => acc + (v + (b[i] as number)) ** 2, 0), { rtol: 1e-6 });
    const l = logQuadraticTask({ dim: 5 });
    const pl = l.init(key(2)) as tf.Tensor;
    const h = Array.from(pl.dataSync());
    const ll = l.loss(pl, undefined as never);
    expectClose(ll, Math.log(h.reduce((acc, v) => acc + v * v, 0)), { rtol: 1e-6 });
    disposeTree(ps);
    tf.dispose([ls, pl, ll]);
  });

  it('rejects bad options with a LoptError naming the option', () => {
    try {
      quadraticTask({ dim: 0 });
      expect.unreachable();
    } catch (e) {
      expect(isLoptError(e) && e.code === 'INVALID_OPTION' && e.option).toBe('dim');
    }
    expect(() => fixedDimQuadraticFamily({ maxCondition: 0.5 })).toThrow(/maxCondition/);
    expect(() => fixedDimQuadraticFamily().task({ dim: 2, target: [0], scale: [1, 1] })).toThrow(/cfg.target/);
  });
});

describe('quadratic families', () => {
  it('fixedDimQuadraticFamily: config JSON round-trip builds the same task', () => {
    const fam = fixedDimQuadraticFamily({ dim: 6, maxCondition: 50 });
    const cfg = fam.sample(key(4));
    const cfg2 = JSON.parse(JSON.stringify(cfg)) as typeof cfg;
    expect(cfg2).toEqual(cfg);
    const t1 = fam.task(cfg);
    const t2 = fam.task(cfg2);
    const p = t1.init(key(5));
    const l1 = t1.loss(p, undefined as never);
    const l2 = t2.loss(p, undefined as never);
    // The float64 reference from the config.
    const host = Array.from((p as tf.Tensor).dataSync());
    const ref = host.reduce((s, v, i) => s + (cfg.scale[i] as number) * (v - (cfg.target[i] as number)) ** 2, 0);
    expectClose(l1, ref, { rtol: 1e-5 });
    expect(l1.dataSync()[0]).toBe(l2.dataSync()[0]);
    tf.dispose([p as tf.Tensor, l1, l2]);
  });

  it('sampled targets are N(0,1) and curvatures cover [1, maxCondition]', () => {
    const fam = fixedDimQuadraticFamily({ dim: 20, maxCondition: 100 });
    const targets: number[] = [];
    let minScale = Infinity;
    let maxScale = 0;
    for (const k of split(key(9), 200)) {
      const cfg = fam.sample(k);
      targets.push(...cfg.target);
      for (const s of cfg.scale) {
        minScale = Math.min(minScale, s);
        maxScale = Math.max(maxScale, s);
        expect(s).toBeGreaterThanOrEqual(1);
        expect(s).toBeLessThanOrEqual(100);
      }
    }
    const mean = targets.reduce((a, b) => a + b, 0) / targets.length;
    const variance = targets.reduce((a, b) => a + (b - mean) ** 2, 0) / targets.length;
    expect(Math.abs(mean)).toBeLessThan(0.05); // 4000 samples: std error 0.016
    expect(Math.abs(variance - 1)).toBeLessThan(0.08);
    expect(minScale).toBeLessThan(1.1);
    expect(maxScale).toBeGreaterThan(80);
  });

  it('quadraticFamily samples dimensions log-uniformly across [minDim, maxDim]', () => {
    const fam = quadraticFamily({ minDim: 2, maxDim: 64 });
    const dims = split(key(1), 300).map((k: Key) => fam.sample(k).dim);
    expect(Math.min(...dims)).toBe(2);
    expect(Math.max(...dims)).toBeGreaterThanOrEqual(56);
    // Log-uniform: about half the samples below the geometric mean sqrt(2 * 65) ~ 11.4.
    const below = dims.filter((d) => d <= 11).length / dims.length;
    expect(below).toBeGreaterThan(0.4);
    expect(below).toBeLessThan(0.6);
  });

  it('noisyQuadraticFamily: value is the clean loss, gradient = clean gradient + noiseStd * noise', () => {
    const fam = noisyQuadraticFamily({ dim: 5, noiseStd: 0.5 });
    const cfg = fam.sample(key(2));
    for (const s of cfg.scale) expect(s).toBeGreaterThanOrEqual(0);
    for (const s of cfg.scale) expect(s).toBeLessThan(25);
    const task = fam.task(cfg);
    const p = task.init(key(3)) as tf.Tensor;
    const batch = task.datasets!.train.sample(key(4)) as { noise: tf.Tensor };
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => task.loss(x, batch))([p]);
    const x = Array.from(p.dataSync());
    const n = Array.from(batch.noise.dataSync());
    const clean = x.reduce((acc, v, i) => acc + ((cfg.scale[i] as number) * ((cfg.center[i] as number) - v)) ** 2, 0);
    expectClose(value, clean, { rtol: 1e-5 });
    const expected = x.map((v, i) => 2 * (cfg.scale[i] as number) ** 2 * (v - (cfg.center[i] as number)) + 0.5 * (n[i] as number));
    expectClose(grads[0] as tf.Tensor, expected, { rtol: 1e-4, atol: 1e-4 });
    expect(() => task.loss(p, undefined as never)).toThrow(/noise/);
    tf.dispose([p, value, ...grads, batch.noise]);
  });
});
