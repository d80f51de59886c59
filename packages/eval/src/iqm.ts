import { LoptError, checkNumber, foldIn, randintArray, type Key } from '@lopt/core';

function checkScores(option: string, values: readonly number[]): void {
  if (!Array.isArray(values) || values.length === 0) throw new LoptError('INVALID_OPTION', `Option '${option}' must be a non-empty array of numbers.`, { option });
  values.forEach((v, i) => {
    if (typeof v !== 'number' || Number.isNaN(v)) throw new LoptError('INVALID_OPTION', `Option '${option}[${i}]' must be a number (Infinity allowed for diverged runs), got ${String(v)}.`, { option: `${option}[${i}]` });
  });
}

/**
 * Interquartile mean: the mean of the values left after dropping the lowest and the highest
 * `floor(n / 4)` (scipy's `trim_mean(x, 0.25)`, as rliable's IQM). Infinite values (diverged
 * runs) sort to the ends; the result is infinite only when one survives the trimming.
 */
export function interquartileMean(values: readonly number[]): number {
  checkScores('values', values);
  const sorted = [...values].sort((a, b) => a - b);
  const cut = Math.floor(sorted.length / 4);
  const kept = sorted.slice(cut, sorted.length - cut);
  return kept.reduce((a, b) => a + b, 0) / kept.length;
}

/** Percentile of sorted values with linear interpolation between closest ranks (numpy's default). */
export function percentile(sorted: readonly number[], q: number): number {
  checkScores('sorted', sorted);
  checkNumber('q', q, { min: 0, max: 100 });
  const pos = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  if (lo === hi || a === b) return a;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return pos - lo < 0.5 ? a : b; // no interpolation across Infinity
  return a + (b - a) * (pos - lo);
}

/** Options of {@link stratifiedBootstrapCI}. */
export interface BootstrapOptions {
  /** Key of the resampling: the same key gives the same interval. */
  readonly key: Key;
  /** Bootstrap replicates. Default 2000. */
  readonly replicates?: number;
  /** Confidence level in (0, 1). Default 0.95. */
  readonly confidence?: number;
  /** The aggregate. Default {@link interquartileMean}. */
  readonly statistic?: (values: readonly number[]) => number;
}

/** A point estimate with a percentile bootstrap confidence interval. */
export interface ConfidenceInterval {
  /** The statistic on the data as given. */
  readonly estimate: number;
  /** Lower end of the interval. */
  readonly low: number;
  /** Upper end of the interval. */
  readonly high: number;
  /** Confidence level. */
  readonly confidence: number;
}

/** Indices of one stratified resample: within each task, `runs` run indices drawn with replacement. */
export function stratifiedResample(k: Key, runsPerTask: readonly number[]): number[][] {
  return runsPerTask.map((runs, task) => Array.from(randintArray(foldIn(k, task), runs, 0, runs)));
}

/**
 * The aggregate of `scores[task][run]` over all runs and tasks with a stratified bootstrap
 * confidence interval (rliable): each replicate resamples, for every task, its runs with
 * replacement, and applies `statistic` to the pooled resample; the interval is the
 * replicates' percentiles. Randomness comes from `key` only (fixed key, fixed interval).
 */
export function stratifiedBootstrapCI(scores: readonly (readonly number[])[], options: BootstrapOptions): ConfidenceInterval {
  if (!Array.isArray(scores) || scores.length === 0) throw new LoptError('INVALID_OPTION', "Option 'scores' must be a non-empty array of per-task score arrays.", { option: 'scores' });
  scores.forEach((row, i) => checkScores(`scores[${i}]`, row));
  const replicates = checkNumber('replicates', options.replicates ?? 2000, { integer: true, min: 1 });
  const confidence = checkNumber('confidence', options.confidence ?? 0.95, { greaterThan: 0, lessThan: 1 });
  const statistic = options.statistic ?? interquartileMean;
  const estimate = statistic(scores.flat());
  const stats: number[] = [];
  for (let r = 0; r < replicates; r++) {
    const picks = stratifiedResample(foldIn(options.key, r), scores.map((row) => row.length));
    stats.push(statistic(picks.flatMap((idx, t) => idx.map((j) => (scores[t] as readonly number[])[j] as number))));
  }
  stats.sort((a, b) => a - b);
  const tail = ((1 - confidence) / 2) * 100;
  return { estimate, low: percentile(stats, tail), high: percentile(stats, 100 - tail), confidence };
}
