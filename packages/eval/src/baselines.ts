import { LoptError, type Optimizer } from '@lopt/core';
import { adam, adamw, muon, scheduleFreeAdamw, sgd, warmupCosineDecay } from '@lopt/optimizers';

/** Hyperparameters of one trial: name -> value. */
export type Hyperparams = Readonly<Record<string, number>>;

/** One searched hyperparameter: an explicit grid, or a range sampled by random search. */
export type SearchDimension =
  | { readonly grid: readonly number[] }
  | { readonly low: number; readonly high: number; readonly scale?: 'log' | 'linear' };

/** A declared search space: hyperparameter name -> dimension. */
export type SearchSpace = Readonly<Record<string, SearchDimension>>;

/** A tunable baseline: a search space and how to build the optimizer of one trial. */
export interface Baseline {
  /** Name, e.g. `adam`. */
  readonly name: string;
  /** One line for tables and help. */
  readonly description: string;
  /** The hyperparameters searched. */
  readonly space: SearchSpace;
  /** The optimizer of hyperparameters `hp` for a run of `numSteps` steps. */
  build(hp: Hyperparams, numSteps: number): Optimizer;
}

/** Seven half-decades from `low`: low, low*10^0.5, ..., low*10^3. */
function halfDecades(low: number): number[] {
  return Array.from({ length: 7 }, (_, i) => Number((low * 10 ** (i / 2)).toPrecision(3)));
}

const need = (hp: Hyperparams, name: string): number => {
  const v = hp[name];
  if (typeof v !== 'number') throw new LoptError('INVALID_OPTION', `Baseline hyperparameter '${name}' is missing.`, { option: name });
  return v;
};

/** Adam over a 7-point learning-rate grid, 1e-4 to 1e-1. */
export const ADAM_BASELINE: Baseline = {
  name: 'adam',
  description: 'Adam, learning rate from {1e-4, 3.16e-4, ..., 1e-1}',
  space: { learningRate: { grid: halfDecades(1e-4) } },
  build: (hp) => adam({ learningRate: need(hp, 'learningRate') }),
};

/** AdamW with linear warm-up (5% of the steps) and cosine decay to 0, over a 7-point peak grid; weight decay 1e-4 unless searched. */
export const ADAMW_COSINE_BASELINE: Baseline = {
  name: 'adamw-cosine',
  description: 'AdamW (weight decay 1e-4) with 5% warm-up and cosine decay, peak from {1e-4, ..., 1e-1}',
  space: { peakValue: { grid: halfDecades(1e-4) } },
  build: (hp, numSteps) => {
    const warmupSteps = Math.max(1, Math.round(0.05 * numSteps));
    const schedule = warmupCosineDecay({ peakValue: need(hp, 'peakValue'), warmupSteps, decaySteps: Math.max(warmupSteps + 1, numSteps) });
    return adamw({ learningRate: schedule, weightDecay: hp.weightDecay ?? 1e-4 });
  },
};

/** SGD with momentum 0.9 over a 7-point learning-rate grid, 1e-3 to 1. */
export const SGDM_BASELINE: Baseline = {
  name: 'sgdm',
  description: 'SGD with momentum 0.9, learning rate from {1e-3, 3.16e-3, ..., 1}',
  space: { learningRate: { grid: halfDecades(1e-3) } },
  build: (hp) => sgd({ learningRate: need(hp, 'learningRate'), momentum: 0.9 }),
};

/**
 * Schedule-Free AdamW (Defazio et al. 2024) with 5% linear warm-up, over a 7-point learning-rate
 * grid; evaluated at its averaged iterate (`evalParams`).
 */
export const SCHEDULE_FREE_ADAMW_BASELINE: Baseline = {
  name: 'schedule-free-adamw',
  description: 'Schedule-Free AdamW with 5% warm-up, learning rate from {1e-4, ..., 1e-1}',
  space: { learningRate: { grid: halfDecades(1e-4) } },
  build: (hp, numSteps) => scheduleFreeAdamw({ learningRate: need(hp, 'learningRate'), warmupSteps: Math.max(1, Math.round(0.05 * numSteps)) }),
};

/**
 * Muon (Newton–Schulz-orthogonalized momentum for matrices, AdamW for the other leaves) over a
 * 7-point grid of the matrices' learning rate, 1e-3 to 1; the other leaves' Adam takes a tenth
 * of it.
 */
export const MUON_BASELINE: Baseline = {
  name: 'muon',
  description: 'Muon, matrix learning rate from {1e-3, ..., 1}, AdamW for the rest at a tenth of it',
  space: { learningRate: { grid: halfDecades(1e-3) } },
  build: (hp) => muon({ learningRate: need(hp, 'learningRate'), adamLearningRate: need(hp, 'learningRate') / 10 }),
};

/** The built-in baselines by name. */
export const BASELINES: Readonly<Record<string, Baseline>> = {
  adam: ADAM_BASELINE,
  'adamw-cosine': ADAMW_COSINE_BASELINE,
  sgdm: SGDM_BASELINE,
  'schedule-free-adamw': SCHEDULE_FREE_ADAMW_BASELINE,
  muon: MUON_BASELINE,
};

/** The built-in baseline called `name`; `LoptError('UNKNOWN_NAME')` listing the known ones otherwise. */
export function getBaseline(name: string): Baseline {
  const b = BASELINES[name];
  if (!b) throw new LoptError('UNKNOWN_NAME', `No baseline named ${JSON.stringify(name)}. Known baselines: ${Object.keys(BASELINES).join(', ')}.`, { option: 'baselines' });
  return b;
}
