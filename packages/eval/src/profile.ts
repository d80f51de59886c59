import { LoptError, checkNumber } from '@lopt/core';

/** The AlgoPerf performance profile of every submission ({@link performanceProfile}). */
export interface PerformanceProfile {
  /** `ratios[s][w]`: submission s's time on workload w over the best time on w (Infinity: never reached). */
  readonly ratios: number[][];
  /** ρ_s(τ): the fraction of workloads on which submission s is within a factor τ of the best. */
  readonly rho: (submission: number, tau: number) => number;
  /** Area scores B_s in [0, 1] (see {@link profileScores}). */
  readonly scores: number[];
  /** Upper end of the integration, r_max. */
  readonly maxRatio: number;
}

function checkTimes(times: readonly (readonly number[])[]): void {
  if (!Array.isArray(times) || times.length === 0) throw new LoptError('INVALID_OPTION', "Option 'times' must be a non-empty array (one row per submission).", { option: 'times' });
  const w = times[0]?.length ?? 0;
  if (w === 0) throw new LoptError('INVALID_OPTION', "Option 'times[0]' must list one time per workload (at least one).", { option: 'times[0]' });
  times.forEach((row, s) => {
    if (!Array.isArray(row) || row.length !== w) throw new LoptError('INVALID_OPTION', `Option 'times[${s}]' must have ${w} entries (one per workload).`, { option: `times[${s}]` });
    row.forEach((t, i) => {
      if (typeof t !== 'number' || Number.isNaN(t) || t <= 0) throw new LoptError('INVALID_OPTION', `Option 'times[${s}][${i}]' must be > 0 (Infinity: target never reached), got ${String(t)}.`, { option: `times[${s}][${i}]` });
    });
  });
}

/** `times[s][w] / min_s times[s][w]`; Infinity where submission s never reached the target, or no submission did. */
export function performanceRatios(times: readonly (readonly number[])[]): number[][] {
  checkTimes(times);
  const w = (times[0] as readonly number[]).length;
  const best = Array.from({ length: w }, (_, i) => Math.min(...times.map((row) => row[i] as number)));
  return times.map((row) => row.map((t, i) => (Number.isFinite(t) && Number.isFinite(best[i] as number) ? t / (best[i] as number) : Infinity)));
}

/**
 * AlgoPerf benchmark scores: the normalized area under each submission's performance
 * profile, `B_s = 1/(r_max - 1) ∫_1^{r_max} ρ_s(τ) dτ` (Dahl et al. 2023, r_max = 4). ρ_s
 * is a step function, so the integral is exact: each workload with ratio r adds
 * `(r_max - max(r, 1)) / (r_max - 1) / W` when r < r_max.
 */
export function profileScores(ratios: readonly (readonly number[])[], maxRatio = 4): number[] {
  checkNumber('maxRatio', maxRatio, { greaterThan: 1 });
  return ratios.map((row) => row.reduce((a, r) => a + Math.max(0, maxRatio - Math.max(r, 1)) / (maxRatio - 1), 0) / row.length);
}

/**
 * The AlgoPerf performance profile of submissions (rows of `times`) on workloads (columns):
 * `times[s][w]` is how long submission s needed to reach workload w's target (steps or
 * seconds; Infinity when it never did). Smaller times are better.
 */
export function performanceProfile(times: readonly (readonly number[])[], maxRatio = 4): PerformanceProfile {
  const ratios = performanceRatios(times);
  const rho = (submission: number, tau: number): number => {
    const row = ratios[submission];
    if (!row) throw new LoptError('INVALID_OPTION', `Option 'submission' must be an index below ${ratios.length}, got ${submission}.`, { option: 'submission' });
    return row.filter((r) => r <= tau).length / row.length;
  };
  return { ratios, rho, scores: profileScores(ratios, maxRatio), maxRatio };
}
