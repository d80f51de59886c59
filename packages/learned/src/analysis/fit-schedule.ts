import { LoptError, checkKnownKeys, checkNumber } from '@lopt/core';
import { checkMatrix, checkNonZero, checkSameShape, heavyBall } from './check-series.js';

/** Options of {@link fitLearningRateSchedule}. */
export interface FitScheduleOptions {
  /**
   * Momentum of the direction the updates are regressed on. Without `precondition`, the heavy-ball
   * `m[t] = momentum m[t-1] + g[t]` (as {@link fitMomentum}); with it, Adam's bias-corrected EMA.
   * Default 0 (the raw gradient).
   */
  readonly momentum?: number;
  /**
   * Regress on Adam's direction `m^ / (sqrt(v^) + eps)` instead (bias-corrected EMAs of g and
   * g^2): the per-step scale is then Adam's learning rate.
   */
  readonly precondition?: { readonly beta2: number; readonly eps?: number };
}

/** Templates a fitted schedule is compared with (`t` from 0 to the trace's length `T`). */
export const SCHEDULE_TEMPLATES: Readonly<Record<string, (t: number, T: number) => number>> = Object.freeze({
  constant: () => 1,
  linear: (t: number, T: number) => 1 - t / T,
  cosine: (t: number, T: number) => 0.5 * (1 + Math.cos((Math.PI * t) / T)),
  'warmup-cosine': (t: number, T: number) => (t < T / 10 ? (10 * t) / T : 0.5 * (1 + Math.cos((Math.PI * (t - T / 10)) / (0.9 * T)))),
});

/** An effective learning-rate schedule fitted to a trace. */
export interface ScheduleFit {
  /** Per-step least-squares scale `s[t]` of `update[t] = -s[t] d[t]` over the coordinates (0 where `d[t]` is 0). */
  readonly scale: number[];
  /** Per-step R² of that regression. */
  readonly r2: number[];
  /** The template closest to `scale` (after fitting its amplitude), and the amplitude. */
  readonly closest: { readonly name: string; readonly amplitude: number; readonly relativeResidual: number };
  /** Every template's amplitude and relative residual `||scale - a f|| / ||scale||`. */
  readonly templates: { name: string; amplitude: number; relativeResidual: number }[];
}

/** Adam's bias-corrected direction for every step. */
function adamDirection(grads: number[][], b1: number, b2: number, eps: number): number[][] {
  let m = (grads[0] as number[]).map(() => 0);
  let v = m.slice();
  return grads.map((g, t) => {
    m = g.map((x, i) => b1 * (m[i] as number) + (1 - b1) * x);
    v = g.map((x, i) => b2 * (v[i] as number) + (1 - b2) * x * x);
    const c1 = 1 - b1 ** (t + 1);
    const c2 = 1 - b2 ** (t + 1);
    return m.map((x, i) => x / c1 / (Math.sqrt((v[i] as number) / c2) + eps));
  });
}

function compareTemplates(scale: number[]): ScheduleFit['templates'] {
  const T = scale.length;
  const ss = Math.sqrt(scale.reduce((a, s) => a + s * s, 0));
  return Object.entries(SCHEDULE_TEMPLATES).map(([name, f]) => {
    const fv = scale.map((_, t) => f(t, T));
    const ff = fv.reduce((a, x) => a + x * x, 0);
    const amplitude = scale.reduce((a, s, t) => a + s * (fv[t] as number), 0) / ff;
    const res = Math.sqrt(scale.reduce((a, s, t) => a + (s - amplitude * (fv[t] as number)) ** 2, 0));
    return { name, amplitude, relativeResidual: ss > 0 ? res / ss : 0 };
  });
}

/**
 * Fits an effective learning-rate schedule to a trace: per step, the least-squares scale of the
 * updates against a direction (the gradient, its momentum, or Adam's normalized direction; see
 * {@link FitScheduleOptions}), then the closest of {@link SCHEDULE_TEMPLATES}. Inputs are
 * `[step][coordinate]` arrays (an {@link UpdateTrace}'s `grads` and `updates`).
 */
export function fitLearningRateSchedule(grads: number[][], updates: number[][], options: FitScheduleOptions = {}): ScheduleFit {
  checkKnownKeys('fitLearningRateSchedule', options, ['momentum', 'precondition']);
  checkMatrix('grads', grads, 2);
  checkMatrix('updates', updates, 2);
  checkSameShape('grads', grads, 'updates', updates);
  const momentum = checkNumber('momentum', options.momentum ?? 0, { min: 0, lessThan: 1 });
  const pre = options.precondition;
  if (pre !== undefined && (typeof pre !== 'object' || pre === null)) throw new LoptError('INVALID_OPTION', "Option 'precondition' must be { beta2, eps? }.", { option: 'precondition' });
  if (pre !== undefined) checkKnownKeys('precondition', pre, ['beta2', 'eps']);
  const dir = pre === undefined
    ? heavyBall(grads, momentum)
    : adamDirection(grads, momentum, checkNumber('precondition.beta2', pre.beta2, { min: 0, lessThan: 1 }), checkNumber('precondition.eps', pre.eps ?? 1e-8, { min: 0 }));
  checkNonZero('updates', updates.reduce((a, row) => row.reduce((s, u) => s + u * u, a), 0));
  const scale: number[] = [];
  const r2: number[] = [];
  updates.forEach((row, t) => {
    const d = dir[t] as number[];
    const ud = row.reduce((a, u, i) => a + u * (d[i] as number), 0);
    const dd = d.reduce((a, x) => a + x * x, 0);
    const uu = row.reduce((a, u) => a + u * u, 0);
    scale.push(dd > 0 ? -ud / dd : 0);
    r2.push(dd > 0 && uu > 0 ? (ud * ud) / (dd * uu) : 0);
  });
  const templates = compareTemplates(scale);
  const closest = templates.reduce((b, c) => (c.relativeResidual < b.relativeResidual ? c : b));
  return { scale, r2, closest, templates };
}
