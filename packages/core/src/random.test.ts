import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoptError } from './errors.js';
import {
  bernoulli,
  foldIn,
  key,
  keyFromJSON,
  keyToJSON,
  normal,
  normalArray,
  permutation,
  randint,
  randomBits,
  split,
  threefry2x32,
  truncatedNormal,
  uniform,
} from './random.js';

describe('Threefry-2x32', () => {
  it('matches the Random123 known-answer vectors (20 rounds)', () => {
    const run = (k0: number, k1: number, c0: number, c1: number): [number, number] => {
      const o0 = new Uint32Array(1);
      const o1 = new Uint32Array(1);
      threefry2x32(k0, k1, new Uint32Array([c0]), new Uint32Array([c1]), o0, o1);
      return [o0[0] as number, o1[0] as number];
    };
    expect(run(0, 0, 0, 0)).toEqual([0x6b200159, 0x99ba4efe]);
    expect(run(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)).toEqual([0x1cb996fc, 0xbb002be7]);
    expect(run(0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3)).toEqual([0xc4923a9c, 0x483df7a0]);
  });

  it('splits like jax.random.split(PRNGKey(0))', () => {
    const [a, b] = split(key(0));
    expect([a?.k0, a?.k1]).toEqual([4146024105, 967050713]);
    expect([b?.k0, b?.k1]).toEqual([2718843009, 1272950319]);
  });
});

describe('keys', () => {
  it('are deterministic and independent', () => {
    expect(randomBits(key(7), 5)).toEqual(randomBits(key(7), 5));
    const [a, b] = split(key(7)) as [ReturnType<typeof key>, ReturnType<typeof key>];
    expect(randomBits(a, 4)).not.toEqual(randomBits(b, 4));
    expect(foldIn(key(1), 3)).toEqual(foldIn(key(1), 3));
    expect(foldIn(key(1), 3)).not.toEqual(foldIn(key(1), 4));
    // Samples from split keys are uncorrelated.
    const x = normalArray(a, 50_000);
    const y = normalArray(b, 50_000);
    let c = 0;
    for (let i = 0; i < x.length; i++) c += (x[i] as number) * (y[i] as number);
    expect(Math.abs(c / x.length)).toBeLessThan(4 / Math.sqrt(x.length));
  });

  it('split keys never collide with each other or the parent (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 2, max: 16 }), (seed, n) => {
        const k = key(seed);
        const ks = split(k, n);
        const ids = new Set(ks.map((x) => `${x.k0},${x.k1}`));
        ids.add(`${k.k0},${k.k1}`);
        return ids.size === n + 1 && split(k, n).every((x, i) => x.k0 === ks[i]?.k0 && x.k1 === ks[i]?.k1);
      }),
      { numRuns: 100 },
    );
  });

  it('serialize to JSON and back, and reject bad input', () => {
    const k = foldIn(key(3), 9);
    expect(keyFromJSON(JSON.parse(JSON.stringify(keyToJSON(k))))).toEqual(k);
    expect(() => keyFromJSON([1])).toThrow(LoptError);
    expect(() => key(-1)).toThrow(/seed/);
    expect(() => key(1.5)).toThrow(/seed/);
    expect(() => split(key(1), 0)).toThrow(/'n'/);
    expect(() => normal({ k0: -1, k1: 0 }, [2])).toThrow(/key/);
  });
});

describe('distributions', () => {
  it('normal: mean and variance of 1e5 samples', () => {
    const t = normal(key(11), [100_000], { mean: 2, std: 3 });
    const v = t.dataSync();
    let m = 0;
    for (const x of v) m += x;
    m /= v.length;
    let s2 = 0;
    for (const x of v) s2 += (x - m) ** 2;
    s2 /= v.length - 1;
    // Standard errors: 3/sqrt(n) ~ 0.0095 for the mean, 9*sqrt(2/n) ~ 0.04 for the variance.
    expect(Math.abs(m - 2)).toBeLessThan(0.04);
    expect(Math.abs(s2 - 9)).toBeLessThan(0.16);
    expect(t.dtype).toBe('float32');
    t.dispose();
  });

  it('uniform: chi-square histogram test over 20 bins', () => {
    const n = 100_000;
    const t = uniform(key(5), [n], { low: -1, high: 3 });
    const v = t.dataSync();
    const bins = new Array(20).fill(0) as number[];
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of v) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
      bins[Math.floor(((x + 1) / 4) * 20)]! += 1;
    }
    expect(lo).toBeGreaterThanOrEqual(-1);
    expect(hi).toBeLessThan(3);
    const e = n / 20;
    const chi2 = bins.reduce((s, o) => s + (o - e) ** 2 / e, 0);
    // 19 degrees of freedom: the 99.9% quantile is 43.8.
    expect(chi2).toBeLessThan(43.8);
    t.dispose();
  });

  it('truncated normal stays in bounds with the right variance', () => {
    const t = truncatedNormal(key(2), [50_000], { lower: -2, upper: 2 });
    const v = t.dataSync();
    let s2 = 0;
    let maxAbs = 0;
    for (const x of v) {
      maxAbs = Math.max(maxAbs, Math.abs(x));
      s2 += x * x;
    }
    expect(maxAbs).toBeLessThanOrEqual(2);
    // Variance of a standard normal truncated to [-2, 2]: 1 - 2*2*phi(2)/(2*Phi(2)-1) = 0.7737.
    expect(s2 / v.length).toBeCloseTo(0.7737, 1);
    t.dispose();
  });

  it('bernoulli, randint and permutation', () => {
    const b = bernoulli(key(1), 0.3, [20_000]);
    const frac = Array.from(b.dataSync() as Uint8Array).reduce((s, x) => s + x, 0) / 20_000;
    expect(Math.abs(frac - 0.3)).toBeLessThan(0.015);
    expect(b.dtype).toBe('bool');
    const r = randint(key(2), [30_000], { low: -3, high: 4 });
    const counts = new Map<number, number>();
    for (const x of r.dataSync()) counts.set(x, (counts.get(x) ?? 0) + 1);
    expect([...counts.keys()].sort((a, c) => a - c)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    for (const c of counts.values()) expect(Math.abs(c / 30_000 - 1 / 7)).toBeLessThan(0.01);
    const p = permutation(key(3), 100);
    expect([...p].sort((a, c) => a - c)).toEqual([...Array(100).keys()]);
    tf.dispose([b, r]);
  });

  it('gives identical tensors on every backend (host-side sampling)', async () => {
    const before = tf.getBackend();
    const sample = () => tf.tidy(() => Array.from(normal(key(4), [16]).dataSync()));
    const a = sample();
    await tf.setBackend(before === 'cpu' ? 'wasm' : 'cpu');
    const b = sample();
    await tf.setBackend(before);
    expect(a).toEqual(b);
  });
});
