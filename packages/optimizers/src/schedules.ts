import { LoptError, checkNumber } from '@lopt/core';
import type { Schedule } from './hyper.js';
import { checkBoolean, checkKnownOptions } from './hyper.js';

// Every schedule is a pure function of the step (0 for the first update), ported from
// optax/schedules/_schedule.py and _join.py with the same formulas and defaults.

function steps(option: string, v: unknown, fallback?: number): number {
  return checkNumber(option, v ?? fallback, { min: 0, integer: true });
}
function value(option: string, v: unknown, fallback?: number): number {
  return checkNumber(option, v ?? fallback);
}

/** A schedule that always returns `value` (optax `constant_schedule`). */
export function constant(v: number): Schedule {
  const c = value('value', v);
  return () => c;
}

/** Options of {@link polynomial}. */
export interface PolynomialOptions {
  /** Value at (and before) `transitionBegin`. */
  readonly initValue: number;
  /** Value after `transitionBegin + transitionSteps`. */
  readonly endValue: number;
  /** Exponent of the decay. */
  readonly power: number;
  /** Length of the transition; 0 gives the constant `initValue` (as optax). */
  readonly transitionSteps: number;
  /** Steps before the transition starts. Default 0. */
  readonly transitionBegin?: number;
}

/**
 * Polynomial transition (optax `polynomial_schedule`):
 * `(init - end) * (1 - c / transitionSteps)^power + end` with `c = clip(step - begin, 0, transitionSteps)`.
 */
export function polynomial(options: PolynomialOptions): Schedule {
  checkKnownOptions('polynomial', options, ['initValue', 'endValue', 'power', 'transitionSteps', 'transitionBegin']);
  const init = value('initValue', options?.initValue);
  const end = value('endValue', options.endValue);
  const power = value('power', options.power);
  const n = steps('transitionSteps', options.transitionSteps);
  const begin = steps('transitionBegin', options.transitionBegin, 0);
  if (n === 0) return () => init;
  return (step) => {
    const c = Math.min(Math.max(step - begin, 0), n);
    return (init - end) * (1 - c / n) ** power + end;
  };
}

/** Options of {@link linear}. */
export type LinearOptions = Omit<PolynomialOptions, 'power'>;

/** Linear transition from `initValue` to `endValue` (optax `linear_schedule`; {@link polynomial} with power 1). */
export function linear(options: LinearOptions): Schedule {
  checkKnownOptions('linear', options, ['initValue', 'endValue', 'transitionSteps', 'transitionBegin']);
  return polynomial({ ...options, power: 1 });
}

/** Options of {@link exponentialDecay}. */
export interface ExponentialDecayOptions {
  /** Value up to `transitionBegin`. */
  readonly initValue: number;
  /** Steps per factor of `decayRate`; 0 gives a constant (as optax). */
  readonly transitionSteps: number;
  /** Factor per `transitionSteps` steps (> 0). */
  readonly decayRate: number;
  /** Steps before decay starts. Default 0. */
  readonly transitionBegin?: number;
  /** Decay in discrete jumps. Default false. */
  readonly staircase?: boolean;
  /** Bound the value at this (lower bound when decaying, upper when growing). */
  readonly endValue?: number;
}

/**
 * Exponential decay (optax `exponential_decay`): `init * decayRate^((step - begin) / transitionSteps)`
 * after `transitionBegin` (floored exponent with `staircase`), clipped at `endValue`.
 */
export function exponentialDecay(options: ExponentialDecayOptions): Schedule {
  checkKnownOptions('exponentialDecay', options, ['initValue', 'transitionSteps', 'decayRate', 'transitionBegin', 'staircase', 'endValue']);
  const init = value('initValue', options?.initValue);
  const n = steps('transitionSteps', options.transitionSteps);
  const rate = checkNumber('decayRate', options.decayRate, { greaterThan: 0 });
  const begin = steps('transitionBegin', options.transitionBegin, 0);
  const staircase = checkBoolean('staircase', options.staircase, false);
  const end = options.endValue === undefined ? undefined : value('endValue', options.endValue);
  if (n === 0) return () => init;
  return (step) => {
    const dc = step - begin;
    let p = dc / n;
    if (staircase) p = Math.floor(p);
    let v = dc <= 0 ? init : init * rate ** p;
    if (end !== undefined) v = rate < 1 ? Math.max(v, end) : Math.min(v, end);
    return v;
  };
}

/** Options of {@link cosineDecay}. */
export interface CosineDecayOptions {
  /** Value at step 0. */
  readonly initValue: number;
  /** Steps to decay over (> 0). */
  readonly decaySteps: number;
  /** Final value as a fraction of `initValue`. Default 0. */
  readonly alpha?: number;
  /** Exponent of the cosine factor. Default 1. */
  readonly exponent?: number;
}

/**
 * Cosine decay (Loshchilov & Hutter 2017; optax `cosine_decay_schedule`):
 * `init * ((1 - alpha) * (0.5 (1 + cos(pi min(step, T) / T)))^exponent + alpha)`.
 */
export function cosineDecay(options: CosineDecayOptions): Schedule {
  checkKnownOptions('cosineDecay', options, ['initValue', 'decaySteps', 'alpha', 'exponent']);
  const init = value('initValue', options?.initValue);
  const T = checkNumber('decaySteps', options.decaySteps, { greaterThan: 0, integer: true });
  const alpha = value('alpha', options.alpha, 0);
  const exponent = value('exponent', options.exponent, 1);
  return (step) => {
    const c = Math.min(step, T);
    const cos = 0.5 * (1 + Math.cos((Math.PI * c) / T));
    return init * ((1 - alpha) * cos ** exponent + alpha);
  };
}

/** Options of {@link warmupCosineDecay}. */
export interface WarmupCosineDecayOptions {
  /** Value at step 0. Default 0. */
  readonly initValue?: number;
  /** Value at the end of warm-up. */
  readonly peakValue: number;
  /** Linear warm-up length. */
  readonly warmupSteps: number;
  /** Total length including warm-up (> warmupSteps). */
  readonly decaySteps: number;
  /** Final value. Default 0. */
  readonly endValue?: number;
  /** Exponent of the cosine factor. Default 1. */
  readonly exponent?: number;
}

/**
 * Linear warm-up from `initValue` to `peakValue`, then cosine decay to `endValue` at
 * `decaySteps` (optax `warmup_cosine_decay_schedule`; `decaySteps` includes the warm-up).
 */
export function warmupCosineDecay(options: WarmupCosineDecayOptions): Schedule {
  checkKnownOptions('warmupCosineDecay', options, ['initValue', 'peakValue', 'warmupSteps', 'decaySteps', 'endValue', 'exponent']);
  const init = value('initValue', options?.initValue, 0);
  const peak = value('peakValue', options.peakValue);
  const warm = steps('warmupSteps', options.warmupSteps);
  const decaySteps = checkNumber('decaySteps', options.decaySteps, { greaterThan: warm, integer: true });
  const end = value('endValue', options.endValue, 0);
  const exponent = value('exponent', options.exponent, 1);
  const alpha = peak === 0 ? 0 : end / peak;
  return joinSchedules(
    [
      linear({ initValue: init, endValue: peak, transitionSteps: warm }),
      cosineDecay({ initValue: peak, decaySteps: decaySteps - warm, alpha, exponent }),
    ],
    [warm],
  );
}

/** Options of {@link warmupConstant}. */
export interface WarmupConstantOptions {
  /** Value at step 0. Default 0. */
  readonly initValue?: number;
  /** Value from `warmupSteps` on. */
  readonly peakValue: number;
  /** Linear warm-up length. */
  readonly warmupSteps: number;
}

/** Linear warm-up to `peakValue`, then constant (optax `warmup_constant_schedule`). */
export function warmupConstant(options: WarmupConstantOptions): Schedule {
  checkKnownOptions('warmupConstant', options, ['initValue', 'peakValue', 'warmupSteps']);
  return linear({ initValue: options?.initValue ?? 0, endValue: options.peakValue, transitionSteps: options.warmupSteps });
}

/** Options of {@link piecewiseConstant}. */
export interface PiecewiseConstantOptions {
  /** Value before the first boundary. */
  readonly initValue: number;
  /** `{ boundary: scale }`: from step `boundary` on, the value is multiplied by `scale` (>= 0). */
  readonly boundariesAndScales?: Readonly<Record<number, number>>;
}

/**
 * Piecewise constant (optax `piecewise_constant_schedule`): starts at `initValue`; at each
 * boundary (in increasing order) with `step >= boundary` the value is multiplied by its scale.
 */
export function piecewiseConstant(options: PiecewiseConstantOptions): Schedule {
  checkKnownOptions('piecewiseConstant', options, ['initValue', 'boundariesAndScales']);
  const init = value('initValue', options?.initValue);
  const pairs = Object.entries(options.boundariesAndScales ?? {}).map(([b, s]) => {
    const boundary = checkNumber(`boundariesAndScales.${b}`, Number(b), { min: 0, integer: true });
    return [boundary, checkNumber(`boundariesAndScales.${b}`, s, { min: 0 })] as const;
  });
  pairs.sort((a, b) => a[0] - b[0]);
  return (step) => {
    let v = init;
    for (const [b, s] of pairs) if (step >= b) v *= s;
    return v;
  };
}

/**
 * Stochastic gradient descent with warm restarts (Loshchilov & Hutter 2017; optax
 * `sgdr_schedule`): consecutive {@link warmupCosineDecay} cycles, each `decaySteps` long.
 */
export function sgdr(cycles: readonly WarmupCosineDecayOptions[]): Schedule {
  if (!Array.isArray(cycles) || cycles.length === 0) {
    throw new LoptError('INVALID_OPTION', "sgdr needs a non-empty array of warmupCosineDecay options ('cycles').", { option: 'cycles' });
  }
  const schedules: Schedule[] = [];
  const boundaries: number[] = [];
  let step = 0;
  for (const c of cycles) {
    schedules.push(warmupCosineDecay(c));
    step += c.decaySteps;
    boundaries.push(step);
  }
  return joinSchedules(schedules, boundaries.slice(0, -1));
}

/**
 * Joins schedules at boundaries (optax `join_schedules`): before `boundaries[0]` the first
 * schedule runs; from `boundaries[i]` on, schedule `i + 1` runs at `step - boundaries[i]`.
 */
export function joinSchedules(schedules: readonly Schedule[], boundaries: readonly number[]): Schedule {
  if (!Array.isArray(schedules) || schedules.length === 0 || !schedules.every((s) => typeof s === 'function')) {
    throw new LoptError('INVALID_OPTION', "joinSchedules needs a non-empty array of schedule functions ('schedules').", { option: 'schedules' });
  }
  if (!Array.isArray(boundaries) || boundaries.length !== schedules.length - 1) {
    throw new LoptError('INVALID_OPTION', `joinSchedules needs ${schedules.length - 1} boundaries for ${schedules.length} schedules.`, {
      option: 'boundaries',
    });
  }
  boundaries.forEach((b, i) => checkNumber(`boundaries.${i}`, b, { min: 0, integer: true }));
  const first = schedules[0] as Schedule;
  return (step) => {
    let out = first(step);
    boundaries.forEach((b, i) => {
      if (step >= b) out = (schedules[i + 1] as Schedule)(step - b);
    });
    return out;
  };
}
