import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, key, normalArray } from '@lopt/core';
import { newtonSchulz, scaleByNewtonSchulz } from './newton_schulz.js';

type Mat = number[][];
const A = 3.4445;
const B = -4.775;
const C = 2.0315;

function matmul(x: Mat, y: Mat): Mat {
  return x.map((row) => (y[0] as number[]).map((_, j) => row.reduce((s, v, k) => s + v * ((y[k] as number[])[j] as number), 0)));
}
function transpose(x: Mat): Mat {
  return (x[0] as number[]).map((_, j) => x.map((r) => r[j] as number));
}
function toMat(flat: readonly number[], m: number, n: number): Mat {
  return Array.from({ length: m }, (_, i) => Array.from(flat.slice(i * n, (i + 1) * n)));
}

/** The same quintic iteration in float64 (transposing tall matrices), the reference for rounding. */
function nsFloat64(x: Mat): Mat {
  const tall = x.length > (x[0] as number[]).length;
  let y = tall ? transpose(x) : x.map((r) => [...r]);
  const norm = Math.sqrt(y.flat().reduce((s, v) => s + v * v, 0));
  y = y.map((r) => r.map((v) => v / (norm + 1e-8)));
  for (let it = 0; it < 5; it++) {
    const p = matmul(y, transpose(y));
    const pp = matmul(p, p);
    const q = p.map((r, i) => r.map((v, j) => B * v + C * ((pp[i] as number[])[j] as number)));
    const qy = matmul(q, y);
    y = y.map((r, i) => r.map((v, j) => A * v + ((qy[i] as number[])[j] as number)));
  }
  return tall ? transpose(y) : y;
}

/**
 * One-sided Jacobi SVD in float64: returns U (m x k), s (k), V (n x k) with x = U diag(s) V^T,
 * k = min(m, n). Works on the wide or tall orientation by transposing to tall.
 */
function jacobiSvd(x: Mat): { u: Mat; s: number[]; v: Mat } {
  const m = x.length;
  const n = (x[0] as number[]).length;
  if (m < n) {
    const t = jacobiSvd(transpose(x));
    return { u: t.v, s: t.s, v: t.u };
  }
  const a = x.map((r) => [...r]);
  const v: Mat = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          const ap = (a[i] as number[])[p] as number;
          const aq = (a[i] as number[])[q] as number;
          alpha += ap * ap;
          beta += aq * aq;
          gamma += ap * aq;
        }
        off = Math.max(off, Math.abs(gamma) / Math.sqrt(alpha * beta));
        if (gamma === 0) continue;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (const rows of [a, v]) {
          for (const r of rows) {
            const rp = r[p] as number;
            const rq = r[q] as number;
            r[p] = c * rp - s * rq;
            r[q] = s * rp + c * rq;
          }
        }
      }
    }
    if (off < 1e-15) break;
  }
  const s = Array.from({ length: n }, (_, j) => Math.sqrt(a.reduce((acc, r) => acc + ((r[j] as number) ** 2), 0)));
  const u = a.map((r) => r.map((val, j) => val / (s[j] as number)));
  return { u, s, v };
}

/** The scalar polynomial the iteration applies to each singular value. */
function phi(sigma: number): number {
  let y = sigma;
  for (let it = 0; it < 5; it++) y = A * y + B * y ** 3 + C * y ** 5;
  return y;
}

function randomMat(seed: number, m: number, n: number): Mat {
  return toMat(Array.from(normalArray(key(seed), m * n)), m, n);
}

function maxRelDiff(got: Mat, want: Mat): number {
  const scale = Math.max(...want.flat().map(Math.abs));
  return Math.max(...got.flat().map((v, i) => Math.abs(v - (want.flat()[i] as number)))) / scale;
}

describe('newtonSchulz', () => {
  it.each([
    [6, 6],
    [5, 9],
    [9, 5],
  ])('on a %ix%i matrix equals U phi(S) V^T from a float64 Jacobi SVD and the float64 iteration', (m, n) => {
    const x = randomMat(10 + m * n, m, n);
    const out = newtonSchulz(tf.tensor2d(x));
    const got = out.arraySync() as Mat;
    out.dispose();
    const { u, s, v } = jacobiSvd(x);
    const norm = Math.sqrt(s.reduce((acc, sv) => acc + sv * sv, 0));
    // The SVD reconstructs x (the reference itself is right).
    const recon = matmul(u.map((r) => r.map((val, j) => val * (s[j] as number))), transpose(v));
    expect(maxRelDiff(recon, x)).toBeLessThan(1e-12);
    const viaSvd = matmul(u.map((r) => r.map((val, j) => val * phi((s[j] as number) / (norm + 1e-8)))), transpose(v));
    expect(maxRelDiff(got, viaSvd)).toBeLessThan(2e-5);
    expect(maxRelDiff(got, nsFloat64(x))).toBeLessThan(2e-5);
  });

  it('puts the singular values of a well-conditioned matrix into the designed band [0.68, 1.13]', () => {
    // Condition number ~ 3: random orthogonal factors around fixed singular values.
    const q1 = jacobiSvd(randomMat(1, 8, 8)).u;
    const q2 = jacobiSvd(randomMat(2, 12, 12)).u;
    const sig = [3, 2.6, 2.2, 2, 1.7, 1.4, 1.2, 1];
    const core = Array.from({ length: 8 }, (_, i) => Array.from({ length: 12 }, (_, j) => (i === j ? (sig[i] as number) : 0)));
    const x = matmul(matmul(q1, core), q2);
    const out = newtonSchulz(tf.tensor2d(x));
    const { s } = jacobiSvd(out.arraySync() as Mat);
    out.dispose();
    for (const sv of s) {
      expect(sv).toBeGreaterThan(0.68);
      expect(sv).toBeLessThan(1.13);
    }
    // The unorthogonalized input is far outside the band: the test can fail.
    expect(Math.max(...jacobiSvd(x).s)).toBeGreaterThan(2);
  });

  it('batches over leading axes: each slice of a [2, 3, 7, 4] tensor equals its own result', () => {
    const flat = Array.from(normalArray(key(5), 2 * 3 * 7 * 4));
    const x = tf.tensor4d(Array.from(flat), [2, 3, 7, 4]);
    const out = newtonSchulz(x);
    expect(out.shape).toEqual([2, 3, 7, 4]);
    const got = out.dataSync();
    for (let b = 0; b < 6; b++) {
      const slice = toMat(flat.slice(b * 28, (b + 1) * 28), 7, 4);
      const want = nsFloat64(slice).flat();
      const err = Math.max(...want.map((w, i) => Math.abs(w - (got[b * 28 + i] as number))));
      expect(err).toBeLessThan(2e-5);
    }
    tf.dispose([x, out]);
  });

  it('rejects non-matrices and bad options with LoptError naming them', () => {
    const v = tf.tensor1d([1, 2]);
    expect(() => newtonSchulz(v)).toThrow(/rank >= 2/);
    expect(() => newtonSchulz(tf.zeros([2, 2]), { iterations: -1 })).toThrow(/'iterations'/);
    expect(() => newtonSchulz(tf.zeros([2, 2]), { coeffs: [1, 2] as unknown as [number, number, number] })).toThrow(LoptError);
    expect(() => scaleByNewtonSchulz({ eps: Number.NaN })).toThrow(/'eps'/);
    v.dispose();
  });
});

describe('scaleByNewtonSchulz', () => {
  it('orthogonalizes matrices and rank-3 slices, passes vectors and scalars through, leaks nothing', () => {
    const t = scaleByNewtonSchulz();
    const x = randomMat(3, 4, 6);
    const updates = { w: tf.tensor2d(x), b: tf.tensor1d([1, -2, 3]), s: tf.scalar(0.5), k: tf.tensor3d(Array.from(normalArray(key(4), 2 * 3 * 3)), [2, 3, 3]) };
    const state = t.init(updates);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) {
      const r = tf.tidy(() => {
        const { updates: u } = t.update(updates, state, updates);
        return [(u as typeof updates).w.arraySync() as Mat, Array.from((u as typeof updates).b.dataSync()), (u as typeof updates).s.dataSync()[0]] as const;
      });
      if (i === 0) {
        expect(maxRelDiff(r[0], nsFloat64(x))).toBeLessThan(2e-5);
        expect(r[1]).toEqual([1, -2, 3]);
        expect(r[2]).toBe(0.5);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(updates));
  });
});
