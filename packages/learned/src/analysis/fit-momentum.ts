import { checkKnownKeys, checkNumber } from '@lopt/core';
import { checkMatrix, checkNonZero, checkSameShape, heavyBall } from './check-series.js';

/** Options of {@link fitMomentum}. */
export interface FitMomentumOptions {
  /** Momentum coefficients tried before refining (each in [0, 1)). Default 0, 0.02, ..., 0.98, 0.99, 0.995, 0.999. */
  readonly betas?: readonly number[];
}

/** The momentum coefficient that best explains a trace. */
export interface MomentumFit {
  /** The fitted coefficient beta of `m[t] = beta m[t-1] + g[t]`. */
  readonly beta: number;
  /** The fitted step `lr` of `update = -lr m` (heavy-ball form; with an EMA `m' = beta m' + (1 - beta) g` it is `lr / (1 - beta)`). */
  readonly learningRate: number;
  /** Fraction of the updates' sum of squares the fit explains (1: exact). */
  readonly r2: number;
  /** R² of every beta tried (the grid, then the refinement), sorted by beta. */
  readonly curve: { beta: number; r2: number }[];
}

const DEFAULT_BETAS = [...Array.from({ length: 50 }, (_, i) => i / 50), 0.99, 0.995, 0.999];

/** Least-squares `lr` and R² of `updates = -lr * heavyBall(grads, beta)`. */
function fitAt(grads: number[][], updates: number[][], uu: number, beta: number): { beta: number; r2: number; learningRate: number } {
  const m = heavyBall(grads, beta);
  let um = 0;
  let mm = 0;
  updates.forEach((row, t) => row.forEach((u, i) => {
    const v = (m[t] as number[])[i] as number;
    um += u * v;
    mm += v * v;
  }));
  if (mm === 0) return { beta, r2: 0, learningRate: 0 };
  return { beta, r2: 1 - (uu - (um * um) / mm) / uu, learningRate: -um / mm };
}

/**
 * Fits SGD with momentum to a trace, as in "Reverse engineering learned optimizers" (Maheswaranathan
 * et al. 2021): for each beta, regresses the updates on the exponentially averaged gradients
 * `m[t] = beta m[t-1] + g[t]` (least squares over every step and coordinate), keeps the beta with
 * the smallest residual and refines it by golden-section search between its grid neighbours.
 * Inputs are `[step][coordinate]` arrays (an {@link UpdateTrace}'s `grads` and `updates`).
 */
export function fitMomentum(grads: number[][], updates: number[][], options: FitMomentumOptions = {}): MomentumFit {
  checkKnownKeys('fitMomentum', options, ['betas']);
  checkMatrix('grads', grads, 2);
  checkMatrix('updates', updates, 2);
  checkSameShape('grads', grads, 'updates', updates);
  const betas = (options.betas ?? DEFAULT_BETAS).map((b, i) => checkNumber(`betas[${i}]`, b, { min: 0, lessThan: 1 }));
  const uu = updates.reduce((a, row) => row.reduce((s, u) => s + u * u, a), 0);
  checkNonZero('updates', uu);
  const curve = [...new Set(betas)].sort((a, b) => a - b).map((b) => fitAt(grads, updates, uu, b));
  const bestIndex = curve.reduce((bi, c, i) => (c.r2 > (curve[bi] as typeof c).r2 ? i : bi), 0);
  let lo = (curve[Math.max(0, bestIndex - 1)] as { beta: number }).beta;
  let hi = (curve[Math.min(curve.length - 1, bestIndex + 1)] as { beta: number }).beta;
  let best = curve[bestIndex] as ReturnType<typeof fitAt>;
  const phi = (Math.sqrt(5) - 1) / 2;
  for (let it = 0; it < 40 && hi - lo > 1e-6; it++) {
    const a = fitAt(grads, updates, uu, hi - phi * (hi - lo));
    const b = fitAt(grads, updates, uu, lo + phi * (hi - lo));
    if (a.r2 >= b.r2) hi = b.beta;
    else lo = a.beta;
    for (const c of [a, b]) {
      curve.push(c);
      if (c.r2 > best.r2) best = c;
    }
  }
  return { beta: best.beta, learningRate: best.learningRate, r2: best.r2, curve: curve.map(({ beta, r2 }) => ({ beta, r2 })).sort((x, y) => x.beta - y.beta) };
}
