import { LoptError, checkNumber, type Key } from '@lopt/core';
import type { Hyperparams, SearchSpace } from './baselines.js';
import { randomTrials, type ScoredTrial } from './search.js';

/** Options of {@link successiveHalving}. */
export interface HalvingOptions {
  /** The full budget (e.g. training steps) a surviving trial is finally scored at; integer >= 1. */
  readonly maxBudget: number;
  /** Budget of the first rung; integer in [1, maxBudget]. Default `max(1, round(maxBudget / eta^2))` (three rungs). */
  readonly minBudget?: number;
  /** Keep the best `1/eta` of the trials at each rung and multiply the budget by `eta`; integer >= 2. Default 3. */
  readonly eta?: number;
}

/** One trial of a successive-halving search. */
export interface HalvingTrial extends ScoredTrial {
  /** The largest budget it was scored at (`maxBudget` for the trials that reached the last rung). */
  readonly budget: number;
  /** Its score at each rung it reached (lowest budget first). */
  readonly rungScores: readonly number[];
  /** Whether it was stopped before the last rung. */
  readonly stopped: boolean;
}

/** What {@link successiveHalving} found. */
export interface HalvingResult {
  /** Every trial, in the order given. */
  readonly trials: readonly HalvingTrial[];
  /** The best trial at the full budget (the first on ties). */
  readonly best: HalvingTrial;
  /** The rung budgets, ascending; the last is `maxBudget`. */
  readonly rungs: readonly number[];
  /** Total budget spent: the sum over evaluations of their budget (runs restart at each rung). */
  readonly cost: number;
}

/**
 * Scores `trials` at `budget` (lower is better; a diverged trial scores `Infinity`). Returns
 * one score per trial, in order.
 */
export type TrialEvaluator = (trials: readonly Hyperparams[], budget: number) => readonly number[] | Promise<readonly number[]>;

/** The rung budgets from `minBudget` to `maxBudget`, growing by `eta` (the last rung is exactly `maxBudget`). */
export function halvingRungs(options: HalvingOptions): number[] {
  if (!options || typeof options !== 'object') throw new LoptError('INVALID_OPTION', 'Successive halving needs options { maxBudget, minBudget?, eta? }.', { option: 'options' });
  const maxBudget = checkNumber('maxBudget', options.maxBudget, { integer: true, min: 1 });
  const eta = checkNumber('eta', options.eta ?? 3, { integer: true, min: 2 });
  const minBudget = checkNumber('minBudget', options.minBudget ?? Math.max(1, Math.round(maxBudget / eta ** 2)), { integer: true, min: 1, max: maxBudget });
  const rungs: number[] = [];
  for (let b = minBudget; b < maxBudget; b *= eta) rungs.push(Math.round(b));
  rungs.push(maxBudget);
  return rungs;
}

function checkScores(scores: readonly number[], n: number, budget: number): void {
  if (!Array.isArray(scores) || scores.length !== n || scores.some((s) => typeof s !== 'number' || Number.isNaN(s))) {
    throw new LoptError('INVALID_OPTION', `The trial evaluator must return ${n} scores (numbers, Infinity for a diverged trial) at budget ${budget}.`, { option: 'evaluate' });
  }
}

/**
 * Successive halving (Jamieson & Talwalkar 2016; the synchronous core of Hyperband):
 * scores every trial at the smallest budget, keeps the best `1/eta` (never a trial with a
 * non-finite score, unless none is finite), scores those at `eta` times the budget, and so on
 * until the survivors are scored at `maxBudget`. Bad trials stop early, so the search costs a
 * fraction of scoring every trial at the full budget. Deterministic given the trials and the
 * evaluator.
 */
export async function successiveHalving(trials: readonly Hyperparams[], evaluate: TrialEvaluator, options: HalvingOptions): Promise<HalvingResult> {
  if (!Array.isArray(trials) || trials.length === 0) throw new LoptError('INVALID_OPTION', 'No trials to search: pass at least one.', { option: 'trials' });
  if (typeof evaluate !== 'function') throw new LoptError('INVALID_OPTION', "Argument 'evaluate' must be a function (trials, budget) => scores.", { option: 'evaluate' });
  const rungs = halvingRungs(options);
  const eta = options.eta ?? 3;
  const scores: number[][] = trials.map(() => []);
  let alive = trials.map((_, i) => i);
  let cost = 0;
  for (const [r, budget] of rungs.entries()) {
    const got = await evaluate(alive.map((i) => trials[i] as Hyperparams), budget);
    checkScores(got, alive.length, budget);
    alive.forEach((i, j) => (scores[i] as number[]).push(got[j] as number));
    cost += budget * alive.length;
    if (r === rungs.length - 1) break;
    const finite = alive.filter((i) => Number.isFinite(scores[i]?.at(-1))).length;
    const keep = Math.max(1, Math.min(finite, Math.ceil(alive.length / eta)));
    const ranked = [...alive].sort((a, b) => (scores[a]?.at(-1) as number) - (scores[b]?.at(-1) as number) || a - b);
    alive = ranked.slice(0, keep).sort((a, b) => a - b);
  }
  const out = trials.map((hp, i): HalvingTrial => {
    const s = scores[i] as number[];
    return { hyperparams: hp, score: s.at(-1) as number, budget: rungs[s.length - 1] as number, rungScores: s, stopped: s.length < rungs.length };
  });
  const finalists = out.filter((t) => !t.stopped);
  const best = finalists.reduce((a, b) => (b.score < a.score ? b : a));
  return { trials: out, best, rungs, cost };
}

/** Options of {@link randomSearch}. */
export interface RandomSearchOptions extends HalvingOptions {
  /** Number of random trials drawn from the space (integer >= 1). */
  readonly trials: number;
  /** Key of the draws: the same key gives the same trials. */
  readonly key: Key;
}

/**
 * Random search with early stopping over any declared hyperparameter space: `trials` draws
 * from `space` (see `randomTrials`), stopped early by {@link successiveHalving}. The 001
 * seed's "random search is a competitive baseline", for any optimizer whose hyperparameters
 * are declared as a {@link SearchSpace}.
 *
 * @example
 * ```ts
 * const r = await randomSearch({ learningRate: { low: 1e-4, high: 1 } }, (hps, steps) =>
 *   hps.map((hp) => trainOnTask(task, adam(hp), { steps, key: key(0) }).finalTrainLoss),
 *   { trials: 27, key: key(1), maxBudget: 900 });
 * console.log(r.best.hyperparams, r.cost);
 * ```
 */
export function randomSearch(space: SearchSpace, evaluate: TrialEvaluator, options: RandomSearchOptions): Promise<HalvingResult> {
  if (!options || typeof options !== 'object') throw new LoptError('INVALID_OPTION', 'randomSearch needs options { trials, key, maxBudget, ... }.', { option: 'options' });
  return successiveHalving(randomTrials(space, options.trials, options.key), evaluate, options);
}
