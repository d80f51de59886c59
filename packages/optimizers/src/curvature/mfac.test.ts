// M-FAC against float64 references: the host Woodbury coefficients against an explicitly
// formed and inverted damped Fisher, and whole trajectories (ring-buffer wrap, momentum,
// weight decay) against the authors' naive `HInvSlow` construction written in plain JS.
import { describe, expect, it } from 'vitest';
import { LoptError } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { mfac } from '../index.js';
import { GRADS, P0, expectTrajectory, runSteps, type Leaves } from '../../test/reference.js';
import { woodburyCoefficients, woodburyWeights } from './woodbury.js';

/** HInvSlow: H = (damp I + (1/m) sum g g^T)^-1 by m Sherman–Morrison steps on a dense d x d matrix. */
function inverseFisher(window: number[][], d: number, damp: number): number[][] {
  const m = window.length;
  const h = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? 1 / damp : 0)));
  for (const g of window) {
    const hg = h.map((row) => row.reduce((s, v, k) => s + v * (g[k] as number), 0));
    const den = m + g.reduce((s, v, k) => s + v * (hg[k] as number), 0);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) (h[i] as number[])[j]! -= ((hg[i] as number) * (hg[j] as number)) / den;
  }
  return h;
}

const matVec = (h: number[][], x: number[]) => h.map((row) => row.reduce((s, v, k) => s + v * (x[k] as number), 0));

/** Gaussian elimination in float64: solves (damp I + (1/m) G^T G) y = x directly. */
function solveFisher(window: number[][], d: number, damp: number, x: number[]): number[] {
  const m = window.length;
  const a = Array.from({ length: d }, (_, i) =>
    Array.from({ length: d }, (_, j) => (i === j ? damp : 0) + window.reduce((s, g) => s + ((g[i] as number) * (g[j] as number)) / m, 0)),
  );
  const b = [...x];
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    [b[c], b[p]] = [b[p]!, b[c]!];
    for (let r = c + 1; r < d; r++) {
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k < d; k++) a[r]![k]! -= f * a[c]![k]!;
      b[r]! -= f * b[c]!;
    }
  }
  const y = new Array<number>(d).fill(0);
  for (let r = d - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let k = r + 1; k < d; k++) s -= a[r]![k]! * y[k]!;
    y[r] = s / a[r]![r]!;
  }
  return y;
}

describe('M-FAC Woodbury coefficients (float64, host)', () => {
  it('give the inverse damped empirical Fisher times a vector, as a direct solve does', () => {
    const [m, d, damp] = [5, 9, 0.05];
    const window = Array.from({ length: m }, (_, i) => Array.from({ length: d }, (_, j) => Math.sin(1.3 * i + 0.7 * j + 0.2 * i * j)));
    const x = Array.from({ length: d }, (_, j) => Math.cos(0.9 * j) - 0.3);
    const dots = window.flatMap((gi) => window.map((gj) => gi.reduce((s, v, k) => s + v * (gj[k] as number), 0)));
    const gx = window.map((g) => g.reduce((s, v, k) => s + v * (x[k] as number), 0));
    const w = woodburyWeights(woodburyCoefficients(dots, m, damp), gx);
    const got = x.map((v, j) => v / damp - window.reduce((s, g, k) => s + (w[k] as number) * (g[j] as number), 0));
    expectClose(got, solveFisher(window, d, damp, x), { rtol: 1e-9, atol: 1e-9 });
    expectClose(got, matVec(inverseFisher(window, d, damp), x), { rtol: 1e-9, atol: 1e-9 });
  });
});

/** The reference optimizer: flatten, replace the oldest window slot, H g, momentum, p -= lr v. */
function mfacReference(lr: number, m: number, damp: number, mu: number, wd: number, steps: number): Leaves[] {
  const sizes = P0.map((l) => l.length);
  const d = sizes.reduce((s, n) => s + n, 0);
  const window = Array.from({ length: m }, () => new Array<number>(d).fill(0));
  let v = new Array<number>(d).fill(0);
  let p = P0.flat();
  const out: Leaves[] = [];
  for (let t = 0; t < steps; t++) {
    const g = (GRADS[t % GRADS.length] as Leaves).flat().map((x, j) => x + wd * (p[j] as number));
    window[t % m] = g;
    const dir = matVec(inverseFisher(window, d, damp), g);
    v = mu > 0 ? v.map((x, j) => mu * x + (1 - mu) * (dir[j] as number)) : dir;
    p = p.map((x, j) => x - lr * (v[j] as number));
    out.push([p.slice(0, sizes[0]), p.slice(sizes[0])]);
  }
  return out;
}

describe('mfac', () => {
  it('matches the float64 reference over 7 steps with a window of 3 (wraps twice)', () => {
    const ref = mfacReference(0.05, 3, 0.5, 0, 0, 7);
    expectTrajectory(runSteps(mfac({ learningRate: 0.05, numGradients: 3, damping: 0.5 }), 7), ref, 'mfac', 2e-5);
  });

  it('matches the reference with momentum and weight decay', () => {
    const ref = mfacReference(0.02, 4, 0.2, 0.9, 0.01, 6);
    expectTrajectory(runSteps(mfac({ learningRate: 0.02, numGradients: 4, damping: 0.2, momentum: 0.9, weightDecay: 0.01 }), 6), ref, 'mfac momentum', 2e-5);
  });

  it.each([
    [{ numGradients: 0 }, 'numGradients'],
    [{ numGradients: 2.5 }, 'numGradients'],
    [{ damping: 0 }, 'damping'],
    [{ momentum: 1 }, 'momentum'],
    [{ weightDecay: -1 }, 'weightDecay'],
    [{ window: 3 }, 'window'],
  ])('rejects %o naming the option', (options, name) => {
    expect(() => mfac(options as never)).toThrow(LoptError);
    expect(() => mfac(options as never)).toThrow(name);
  });
});
