import { LoptError, checkNumber, foldIn, randintArray, uniformArray, type Key } from '@lopt/core';
import type { Hyperparams, SearchDimension, SearchSpace } from './baselines.js';

/** Hyperparameters that may be 0 (a decay turned off); every other searched value must be > 0. */
const MAY_BE_ZERO = new Set(['weightDecay']);

function checkValue(path: string, name: string, v: unknown): void {
  const ok = typeof v === 'number' && Number.isFinite(v) && (MAY_BE_ZERO.has(name) ? v >= 0 : v > 0);
  if (!ok) throw new LoptError('INVALID_OPTION', `Search space '${path}' must be ${MAY_BE_ZERO.has(name) ? '>= 0' : '> 0'} and finite, got ${JSON.stringify(v)}.`, { option: path });
}

function checkDimension(name: string, d: SearchDimension): void {
  if (!d || typeof d !== 'object') throw new LoptError('INVALID_OPTION', `Search space '${name}' must be { grid: [...] } or { low, high, scale }.`, { option: name });
  if ('grid' in d) {
    if (!Array.isArray(d.grid) || d.grid.length === 0) throw new LoptError('INVALID_OPTION', `Search space '${name}.grid' must be a non-empty array.`, { option: `${name}.grid` });
    d.grid.forEach((v, i) => checkValue(`${name}.grid[${i}]`, name, v));
    return;
  }
  checkValue(`${name}.low`, name, d.low);
  checkValue(`${name}.high`, name, d.high);
  if (!(d.high >= d.low)) throw new LoptError('INVALID_OPTION', `Search space '${name}': high (${d.high}) must be >= low (${d.low}).`, { option: `${name}.high` });
  if (d.scale !== undefined && d.scale !== 'log' && d.scale !== 'linear') throw new LoptError('INVALID_OPTION', `Search space '${name}.scale' must be 'log' or 'linear'.`, { option: `${name}.scale` });
  if ((d.scale ?? 'log') === 'log' && d.low <= 0) throw new LoptError('INVALID_OPTION', `Search space '${name}.low' must be > 0 on a log scale.`, { option: `${name}.low` });
}

/** Validates a search space: at least one dimension; grids non-empty; values finite and positive (weight decay may be 0). */
export function validateSpace(space: SearchSpace): SearchSpace {
  if (!space || typeof space !== 'object' || Object.keys(space).length === 0) throw new LoptError('INVALID_OPTION', 'The search space is empty: declare at least one hyperparameter.', { option: 'space' });
  for (const [name, d] of Object.entries(space)) checkDimension(name, d);
  return space;
}

/** Every combination of the grids of `space`, in declaration order (the last name varies fastest). */
export function gridTrials(space: SearchSpace): Hyperparams[] {
  validateSpace(space);
  let trials: Record<string, number>[] = [{}];
  for (const [name, d] of Object.entries(space)) {
    if (!('grid' in d)) throw new LoptError('INVALID_OPTION', `Grid search needs a grid for '${name}' (it has a range; use random search).`, { option: name });
    trials = trials.flatMap((t) => d.grid.map((v) => ({ ...t, [name]: v })));
  }
  return trials;
}

function sampleDimension(k: Key, d: SearchDimension, n: number): number[] {
  if ('grid' in d) return Array.from(randintArray(k, n, 0, d.grid.length), (i) => d.grid[i] as number);
  const u = uniformArray(k, n);
  if ((d.scale ?? 'log') === 'linear') return Array.from(u, (x) => d.low + x * (d.high - d.low));
  return Array.from(u, (x) => Math.exp(Math.log(d.low) + x * (Math.log(d.high) - Math.log(d.low))));
}

/** `trials` random trials from `space` (ranges log-uniform unless `scale: 'linear'`, grids uniform), from `key` only. */
export function randomTrials(space: SearchSpace, trials: number, key: Key): Hyperparams[] {
  validateSpace(space);
  checkNumber('trials', trials, { integer: true, min: 1 });
  const columns = Object.entries(space).map(([name, d], i) => [name, sampleDimension(foldIn(key, i), d, trials)] as const);
  return Array.from({ length: trials }, (_, t) => Object.fromEntries(columns.map(([name, values]) => [name, values[t] as number])));
}

/**
 * The trials of one tuning: the full grid, `trials` random draws, or `trials` random draws
 * stopped early by successive halving (`halving`: each rung keeps the best `1/eta` and
 * multiplies the training steps by `eta`, from `minFraction` of the task's steps; defaults
 * 3 and `1/eta^2`).
 */
export type SearchMethod =
  | { readonly method: 'grid' }
  | { readonly method: 'random'; readonly trials: number; readonly key: Key }
  | { readonly method: 'halving'; readonly trials: number; readonly key: Key; readonly eta?: number; readonly minFraction?: number };

/** The trials of `space` under `search`. */
export function searchTrials(space: SearchSpace, search: SearchMethod): Hyperparams[] {
  if (search.method === 'grid') return gridTrials(space);
  if (search.method === 'random' || search.method === 'halving') return randomTrials(space, search.trials, search.key);
  throw new LoptError('INVALID_OPTION', `Option 'method' must be 'grid', 'random' or 'halving'.`, { option: 'method' });
}

/** A trial's hyperparameters with its score (lower is better). */
export interface ScoredTrial {
  /** The hyperparameters. */
  readonly hyperparams: Hyperparams;
  /** Its score: the mean normalized final train loss over the tuning runs (Infinity if any diverged). */
  readonly score: number;
}

/** The best trial (lowest score; the first on ties). Throws when there are none. */
export function bestTrial(trials: readonly ScoredTrial[]): ScoredTrial {
  if (trials.length === 0) throw new LoptError('INVALID_OPTION', 'No trials to choose from: the tuning budget is empty.', { option: 'trials' });
  return trials.reduce((a, b) => (b.score < a.score ? b : a));
}
