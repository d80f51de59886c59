import { checkKnownKeys } from '@lopt/core';
import { heavyBall } from './check-series.js';
import { fitClipping, type ClippingFit } from './fit-clipping.js';
import { fitMomentum, type MomentumFit } from './fit-momentum.js';
import { fitLearningRateSchedule, type ScheduleFit } from './fit-schedule.js';
import type { UpdateTrace } from './trace.js';

/** The hand-designed behaviour closest to a recorded run. */
export interface BehaviourFit {
  /** SGD with momentum: {@link fitMomentum} on the trace. */
  readonly momentum: MomentumFit;
  /** Per-step scale against the fitted momentum direction: {@link fitLearningRateSchedule}. */
  readonly schedule: ScheduleFit;
  /** Per-step scale against Adam's direction (beta1 = the fitted momentum, beta2 = 0.999). */
  readonly adamSchedule: ScheduleFit;
  /** Clipping of the response of updates to the gradient or the momentum direction, whichever fits better: {@link fitClipping}. */
  readonly clipping: ClippingFit;
  /** What the clipping fit saw as input: the raw gradient or the fitted momentum. */
  readonly clippingInput: 'gradient' | 'momentum';
}

/** One row of {@link behaviourTable}. */
export interface BehaviourRow {
  /** What was fitted. */
  readonly behaviour: string;
  /** The fitted value, formatted. */
  readonly value: string;
  /** How well it fits (R² or relative residual), formatted. */
  readonly fit: string;
}

/**
 * Fits every hand-designed behaviour to a trace: momentum, the effective learning-rate schedule
 * (against SGD-with-momentum's and Adam's directions) and clipping, as in "Reverse engineering
 * learned optimizers". The clipping fit sees every (gradient, update) pair of the trace and,
 * separately, every (momentum, update) pair, with each step's update divided by its fitted
 * schedule scale relative to the mean (so that a schedule is not mistaken for saturation); the
 * better of the two is kept.
 */
export function fitBehaviour(trace: UpdateTrace, options: Record<string, never> = {}): BehaviourFit {
  checkKnownKeys('fitBehaviour', options, []);
  const momentum = fitMomentum(trace.grads, trace.updates);
  const schedule = fitLearningRateSchedule(trace.grads, trace.updates, { momentum: momentum.beta });
  const adamSchedule = fitLearningRateSchedule(trace.grads, trace.updates, { momentum: Math.min(momentum.beta, 0.99), precondition: { beta2: 0.999 } });
  const m = heavyBall(trace.grads, momentum.beta);
  const mean = schedule.scale.reduce((a, x) => a + Math.abs(x), 0) / schedule.scale.length;
  const pairs = (inputs: number[][]): { d: number[]; u: number[] } => {
    const d: number[] = [];
    const u: number[] = [];
    trace.updates.forEach((row, t) => {
      const s = Math.abs(schedule.scale[t] as number);
      if (s === 0) return;
      row.forEach((x, i) => {
        d.push((inputs[t] as number[])[i] as number);
        u.push((x * mean) / s);
      });
    });
    return { d, u };
  };
  const onGrad = pairs(trace.grads);
  const onMom = pairs(m);
  const byGrad = fitClipping(onGrad.d, onGrad.u);
  const byMom = fitClipping(onMom.d, onMom.u);
  const gradient = byGrad.r2 >= byMom.r2;
  return { momentum, schedule, adamSchedule, clipping: gradient ? byGrad : byMom, clippingInput: gradient ? 'gradient' : 'momentum' };
}

const fmt = (x: number): string => (x === 0 ? '0' : Math.abs(x) >= 1e-2 && Math.abs(x) < 1e4 ? x.toPrecision(3) : x.toExponential(2));

/** The fits as table rows (behaviour, fitted value, quality), for printing. */
export function behaviourTable(fit: BehaviourFit): BehaviourRow[] {
  const s = fit.schedule;
  const a = fit.adamSchedule;
  const first = s.scale[0] as number;
  const last = s.scale[s.scale.length - 1] as number;
  return [
    { behaviour: 'momentum beta (SGD-momentum fit)', value: fmt(fit.momentum.beta), fit: `R² ${fmt(fit.momentum.r2)}` },
    { behaviour: 'learning rate (heavy-ball)', value: fmt(fit.momentum.learningRate), fit: `R² ${fmt(fit.momentum.r2)}` },
    { behaviour: 'lr schedule vs momentum direction', value: `${s.closest.name} (first ${fmt(first)}, last ${fmt(last)})`, fit: `rel. residual ${fmt(s.closest.relativeResidual)}` },
    { behaviour: "lr schedule vs Adam's direction", value: `${a.closest.name} (amplitude ${fmt(a.closest.amplitude)})`, fit: `rel. residual ${fmt(a.closest.relativeResidual)}` },
    { behaviour: `clipping threshold (of the ${fit.clippingInput})`, value: fit.clipping.clipped ? fmt(fit.clipping.threshold) : `none (max |input| ${fmt(fit.clipping.threshold)})`, fit: `R² ${fmt(fit.clipping.r2)} (linear ${fmt(fit.clipping.linearR2)})` },
  ];
}
