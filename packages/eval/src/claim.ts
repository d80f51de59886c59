import { LoptError, checkNumber, checkOneOf, type Key } from '@lopt/core';
import { stratifiedBootstrapCI, type ConfidenceInterval } from './iqm.js';

/** The outcome of checking a claim: its interval is entirely on the claimed side, entirely on the other, or straddles the threshold. */
export type ClaimOutcome = 'holds' | 'refuted' | 'inconclusive';

/** Options of {@link claimVerdict}. */
export interface ClaimOptions {
  /** The claim is that the mean of the values is `below` (or `above`) this threshold (the stated margin). */
  readonly threshold: number;
  /** Which side of `threshold` the claim puts the mean on. */
  readonly direction: 'below' | 'above';
  /** Key of the bootstrap resampling. */
  readonly key: Key;
  /** Bootstrap replicates. Default 2000. */
  readonly replicates?: number;
  /** Confidence level. Default 0.95. */
  readonly confidence?: number;
}

/** A claim's verdict with its uncertainty. */
export interface ClaimVerdict extends ConfidenceInterval {
  /** `holds` when the whole interval is on the claimed side of the threshold, `refuted` when the whole interval is on the other side (or on it), else `inconclusive`. */
  readonly outcome: ClaimOutcome;
  /** The threshold. */
  readonly threshold: number;
  /** The claimed side. */
  readonly direction: 'below' | 'above';
  /** Number of values (paired seeds or tasks). */
  readonly n: number;
}

const meanOf = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

/**
 * Checks a quantitative claim on per-seed values (for instance the log-ratio of a candidate's
 * final loss to a tuned baseline's on the same seed): the mean with a bootstrap confidence
 * interval, and whether the interval clears the stated threshold. Values must be finite (map a
 * diverged run to a value the claim treats as a loss, e.g. a capped log-ratio).
 *
 * @example
 * ```ts
 * const v = claimVerdict([-0.4, -0.2, -0.5, -0.3], { threshold: Math.log(0.9), direction: 'below', key: key(0) });
 * console.log(v.outcome, v.low, v.high); // 'holds' when the whole interval is below log(0.9)
 * ```
 */
export function claimVerdict(values: readonly number[], options: ClaimOptions): ClaimVerdict {
  if (!options || typeof options !== 'object') throw new LoptError('INVALID_OPTION', 'claimVerdict needs options { threshold, direction, key }.', { option: 'options' });
  const threshold = checkNumber('threshold', options.threshold);
  const direction = checkOneOf('direction', options.direction, ['below', 'above'] as const);
  if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new LoptError('INVALID_OPTION', "Option 'values' must be a non-empty array of finite numbers (one per seed).", { option: 'values' });
  }
  const ci = stratifiedBootstrapCI([values], { key: options.key, statistic: meanOf, ...(options.replicates !== undefined ? { replicates: options.replicates } : {}), ...(options.confidence !== undefined ? { confidence: options.confidence } : {}) });
  const claimed = direction === 'below' ? ci.high < threshold : ci.low > threshold;
  const against = direction === 'below' ? ci.low >= threshold : ci.high <= threshold;
  return { ...ci, outcome: claimed ? 'holds' : against ? 'refuted' : 'inconclusive', threshold, direction, n: values.length };
}

/**
 * Per-seed log-ratios `log(candidate / baseline)` of two paired loss lists (lower loss is
 * better, so a negative value favours the candidate). A diverged run (non-finite loss) counts as
 * `cap` (default log 100) against its side; losses must be positive otherwise.
 */
export function pairedLogRatios(candidate: readonly number[], baseline: readonly number[], cap = Math.log(100)): number[] {
  if (!Array.isArray(candidate) || !Array.isArray(baseline) || candidate.length !== baseline.length || candidate.length === 0) {
    throw new LoptError('INVALID_OPTION', `pairedLogRatios: 'candidate' (${String(candidate?.length)}) and 'baseline' (${String(baseline?.length)}) must be non-empty arrays of one length.`, { option: 'baseline' });
  }
  checkNumber('cap', cap, { greaterThan: 0 });
  return candidate.map((c, i) => {
    const b = baseline[i] as number;
    const cOk = Number.isFinite(c);
    const bOk = Number.isFinite(b);
    if (!cOk && !bOk) return 0;
    if (!cOk) return cap;
    if (!bOk) return -cap;
    if (!(c > 0) || !(b > 0)) throw new LoptError('INVALID_OPTION', `pairedLogRatios: losses must be positive; got candidate[${i}] = ${c}, baseline[${i}] = ${b}.`, { option: !(c > 0) ? `candidate[${i}]` : `baseline[${i}]` });
    return Math.max(-cap, Math.min(cap, Math.log(c / b)));
  });
}
