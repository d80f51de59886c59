// The float64 host linear algebra of Shampoo and SOAP against its defining properties.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { eigenFunction, householderQ, inversePthRoot, symmetricEigen } from './symmetric-eigen.js';

const mul = (a: Float64Array | number[], b: Float64Array | number[], n: number) => {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) out[i * n + j]! += a[i * n + k]! * b[k * n + j]!;
  return out;
};
const transpose = (a: Float64Array, n: number) => Float64Array.from({ length: n * n }, (_, f) => a[(f % n) * n + Math.floor(f / n)]!);
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const identity = (n: number) => Float64Array.from({ length: n * n }, (_, f) => (f % (n + 1) === 0 ? 1 : 0));

/** A random symmetric PSD matrix X X^T from n x (n - 1) entries (rank-deficient on purpose). */
const psd = fc.integer({ min: 1, max: 7 }).chain((n) =>
  fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: n * n, maxLength: n * n }).map((x) => {
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n - 1; k++) a[i * n + j]! += x[i * n + k]! * x[j * n + k]!;
    return { n, a };
  }),
);

describe('symmetricEigen', () => {
  it('reconstructs the matrix from orthonormal eigenvectors and ascending eigenvalues', () => {
    fc.assert(
      fc.property(psd, ({ n, a }) => {
        const e = symmetricEigen(a, n);
        expect(maxAbsDiff(mul(transpose(e.vectors, n), e.vectors, n), identity(n))).toBeLessThan(1e-12);
        expect(maxAbsDiff(eigenFunction(e, (l) => l), a)).toBeLessThan(1e-10 * (1 + Math.max(...Array.from(a, Math.abs))));
        for (let i = 1; i < n; i++) expect(e.values[i]!).toBeGreaterThanOrEqual(e.values[i - 1]!);
      }),
    );
  });

  it('rejects non-finite input', () => {
    expect(() => symmetricEigen([1, NaN, NaN, 1], 2)).toThrow(/non-finite/);
  });
});

describe('inversePthRoot', () => {
  it('R^p (A + ridge I) = I with the ridge relative to the largest eigenvalue', () => {
    fc.assert(
      fc.property(psd, fc.integer({ min: 1, max: 6 }), ({ n, a }, p) => {
        const r = inversePthRoot(a, n, p, 1e-3, true);
        const maxEv = symmetricEigen(a, n).values[n - 1]!;
        const ridge = 1e-3 * Math.max(maxEv, 1e-6);
        const damped = Float64Array.from(a, (v, f) => v + (f % (n + 1) === 0 ? ridge : 0));
        let rp = identity(n);
        for (let i = 0; i < p; i++) rp = mul(rp, r, n);
        expect(maxAbsDiff(mul(rp, damped, n), identity(n))).toBeLessThan(1e-6);
      }),
    );
  });
  it('matches the closed form on a diagonal matrix', () => {
    const r = inversePthRoot([4, 0, 0, 16], 2, 4, 1, false);
    expect(Array.from(r).map((v) => +v.toFixed(12))).toEqual([+(5 ** -0.25).toFixed(12), 0, 0, +(17 ** -0.25).toFixed(12)]);
  });
});

describe('householderQ', () => {
  it('is orthonormal and spans the columns of A (Q^T A is upper triangular), also for rank-deficient A', () => {
    fc.assert(
      fc.property(psd, ({ n, a }) => {
        const q = householderQ(a, n);
        expect(maxAbsDiff(mul(transpose(q, n), q, n), identity(n))).toBeLessThan(1e-12);
        const r = mul(transpose(q, n), a, n);
        const scale = 1 + Math.max(...Array.from(a, Math.abs));
        for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(Math.abs(r[i * n + j]!)).toBeLessThan(1e-10 * scale);
      }),
    );
  });
});

describe('spdInverse', () => {
  it('inverts damped PSD matrices (A inv(A) = I) and refuses indefinite ones', async () => {
    const { spdInverse } = await import('./symmetric-eigen.js');
    fc.assert(
      fc.property(psd, ({ n, a }) => {
        const damped = Float64Array.from(a, (v, f) => v + (f % (n + 1) === 0 ? 0.1 : 0));
        const inv = spdInverse(damped, n)!;
        expect(maxAbsDiff(mul(damped, inv, n), identity(n))).toBeLessThan(1e-9);
      }),
    );
    expect(spdInverse([1, 2, 2, 1], 2)).toBeUndefined();
  });
});
