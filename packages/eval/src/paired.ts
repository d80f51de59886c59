import { LoptError } from '@lopt/core';

/** Mean of the finite values, NaN when there are none. */
export function mean(values: readonly number[]): number {
  const v = values.filter(Number.isFinite);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN;
}

/** Sample standard deviation of the finite values (0 for one value, NaN for none). */
export function std(values: readonly number[]): number {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return Number.NaN;
  if (v.length === 1) return 0;
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
}

/** A paired comparison of one optimizer's per-task losses with a reference's on the same tasks. */
export interface PairedComparison {
  /** Mean of `value - reference` over the pairs where both are finite (NaN if none). */
  readonly meanDiff: number;
  /** Standard error of that mean (sample std / sqrt(pairs)); NaN with fewer than 2 pairs. */
  readonly stdErr: number;
  /** Pairs where the value is strictly lower than the reference (a diverged value never is; a finite value always is below a diverged reference). */
  readonly lower: number;
  /** Number of pairs. */
  readonly pairs: number;
  /** Pairs in the mean and standard error (both finite; fewer than `pairs` when a run diverged). */
  readonly finitePairs: number;
}

/**
 * Compares `values[i]` with `reference[i]` pair by pair: the mean difference with its
 * standard error, and how many values are lower. Non-finite values (diverged runs) are
 * left out of the mean but count in `lower`. Throws `LoptError` (`INVALID_OPTION`) when the lengths differ.
 */
export function pairedComparison(values: readonly number[], reference: readonly number[]): PairedComparison {
  if (!Array.isArray(values) || !Array.isArray(reference) || values.length !== reference.length) {
    throw new LoptError('INVALID_OPTION', `pairedComparison: 'values' (${String(values?.length)}) and 'reference' (${String(reference?.length)}) must be arrays of one length.`, { option: 'reference' });
  }
  const diffs: number[] = [];
  let lower = 0;
  values.forEach((v, i) => {
    const r = reference[i] as number;
    if (v < r) lower++;
    if (Number.isFinite(v) && Number.isFinite(r)) diffs.push(v - r);
  });
  const meanDiff = mean(diffs);
  const stdErr = diffs.length >= 2 ? std(diffs) / Math.sqrt(diffs.length) : Number.NaN;
  return { meanDiff, stdErr, lower, pairs: values.length, finitePairs: diffs.length };
}
