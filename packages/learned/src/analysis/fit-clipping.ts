import { checkKnownKeys } from '@lopt/core';
import { checkNonZero, checkVector } from './check-series.js';
import { LoptError } from '@lopt/core';

/** A clipping threshold fitted to an update-versus-gradient response. */
export interface ClippingFit {
  /** The fitted threshold c of `update = -slope * clip(g, -c, c)` (the largest |g| when nothing saturates). */
  readonly threshold: number;
  /** The fitted slope (the learning rate below the threshold). */
  readonly slope: number;
  /** The largest update the fit allows, `|slope| * threshold`. */
  readonly saturation: number;
  /** R² of the clipped fit. */
  readonly r2: number;
  /** R² of the best purely linear fit `update = -slope * g`. */
  readonly linearR2: number;
  /** Whether the response saturates: the threshold is below the largest |g| and clipping halves the linear fit's residual. */
  readonly clipped: boolean;
}

/** Prefix sums over points sorted by |g|: what the residual of every threshold needs in O(1). */
function sortedSums(g: number[], u: number[]) {
  const order = g.map((_, i) => i).sort((a, b) => Math.abs(g[a] as number) - Math.abs(g[b] as number));
  const n = g.length;
  const abs = order.map((i) => Math.abs(g[i] as number));
  // A[k], B[k]: sums of u g and g^2 over the k smallest |g|; C[k]: sum of u sign(g) over the rest.
  const A = new Float64Array(n + 1);
  const B = new Float64Array(n + 1);
  const C = new Float64Array(n + 1);
  order.forEach((i, k) => {
    A[k + 1] = (A[k] as number) + (u[i] as number) * (g[i] as number);
    B[k + 1] = (B[k] as number) + (g[i] as number) ** 2;
  });
  for (let k = n - 1; k >= 0; k--) C[k] = (C[k + 1] as number) + (u[order[k] as number] as number) * Math.sign(g[order[k] as number] as number);
  return { abs, A, B, C, n };
}

/**
 * Fits a clipping threshold to pairs (gradient, update), as the saturation of the response
 * curve in "Reverse engineering learned optimizers": the least-squares fit of
 * `update = -slope * clip(g, -c, c)` over c. For each split of the points by |g|, the best c
 * has the closed form `c = C B / (A N)` (A, B: sums of `u g` and `g^2` below the threshold;
 * C, N: sum of `u sign(g)` and count above it), kept when it falls inside its interval; the
 * split points themselves are candidates too. Exact on exactly clipped data. Inputs are plain
 * arrays: a flattened trace, or a response curve over a grid of gradient values.
 */
export function fitClipping(grads: number[], updates: number[], options: Record<string, never> = {}): ClippingFit {
  checkKnownKeys('fitClipping', options, []);
  const g = checkVector('grads', grads);
  const u = checkVector('updates', updates);
  if (g.length !== u.length) throw new LoptError('INVALID_OPTION', `'grads' (${g.length}) and 'updates' (${u.length}) must have the same length.`, { option: 'updates' });
  if (g.length < 3) throw new LoptError('INVALID_OPTION', `'grads' needs at least 3 points to fit a threshold, got ${g.length}.`, { option: 'grads' });
  const uu = u.reduce((a, x) => a + x * x, 0);
  checkNonZero('updates', uu);
  const { abs, A, B, C, n } = sortedSums(g, u);
  if (!((abs[n - 1] as number) > 0)) throw new LoptError('INVALID_OPTION', "'grads' are all zero: no response to fit.", { option: 'grads' });
  const explained = (k: number, c: number): number => {
    const uh = (A[k] as number) + c * (C[k] as number);
    const hh = (B[k] as number) + c * c * (n - k);
    return hh > 0 ? (uh * uh) / hh : 0;
  };
  let best = { c: abs[n - 1] as number, k: n, e: explained(n, abs[n - 1] as number) };
  for (let k = 1; k < n; k++) {
    const lo = abs[k - 1] as number;
    const hi = abs[k] as number;
    const candidates = [lo];
    const an = (A[k] as number) * (n - k);
    if (an !== 0) {
      const c = ((C[k] as number) * (B[k] as number)) / an;
      if (c > lo && c < hi) candidates.push(c);
    }
    for (const c of candidates) {
      const e = explained(k, c);
      if (c > 0 && e > best.e) best = { c, k, e };
    }
  }
  const slope = -((A[best.k] as number) + best.c * (C[best.k] as number)) / ((B[best.k] as number) + best.c * best.c * (n - best.k));
  const linearE = explained(n, abs[n - 1] as number);
  const r2 = best.e / uu;
  const linearR2 = linearE / uu;
  const clipped = best.k < n && uu - best.e < 0.5 * (uu - linearE);
  return { threshold: best.c, slope, saturation: Math.abs(slope) * best.c, r2, linearR2, clipped };
}
