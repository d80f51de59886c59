import { LoptError, type Key } from '@lopt/core';
import { stratifiedBootstrapCI, type ConfidenceInterval } from './iqm.js';
import { mean, pairedComparison, type PairedComparison } from './paired.js';
import { performanceProfile } from './profile.js';
import type { RunRecord } from './record.js';
import type { SuiteResult } from './runner.js';
import { speedupToTarget, stepsToReach, type LossCurve, type Speedup } from './speedup.js';

/** One optimizer on one task, against the reference. */
export interface TaskCell {
  /** Mean final train loss over seeds (Infinity if every seed diverged). */
  readonly meanFinal: number;
  /** `meanFinal` over the reference's (1 for the reference; < 1 is better). */
  readonly normalized: number;
  /** Speedup to target on the seed-mean curves, and the reverse. */
  readonly speedup: Speedup;
  /** Final train loss minus the reference's, seed by seed. */
  readonly paired: PairedComparison;
  /** Seeds that diverged. */
  readonly diverged: number;
}

/** One optimizer over the whole suite. */
export interface RowSummary {
  /** Row label. */
  readonly label: string;
  /** Baseline name, or null for a candidate. */
  readonly baseline: string | null;
  /** By task id. */
  readonly cells: Readonly<Record<string, TaskCell>>;
  /** IQM over tasks and seeds of the final train loss over the reference's on the same seed ({@link pairedRatios}), with a stratified bootstrap CI (tasks are the strata). */
  readonly iqm: ConfidenceInterval;
  /** Tasks where the mean final train loss is strictly below the reference's. */
  readonly wins: number;
  /** AlgoPerf performance-profile score (area, r_max 4) for reaching the reference's final loss. */
  readonly profileScore: number;
  /** `profile[i]`: the profile's ρ at `profileTaus[i]`. */
  readonly profile: readonly number[];
}

/** Aggregates of a {@link SuiteResult}. */
export interface SuiteSummary {
  /** Reference label. */
  readonly reference: string;
  /** Task ids in suite order. */
  readonly tasks: readonly string[];
  /** Rows in result order. */
  readonly rows: readonly RowSummary[];
  /** τ values of the sampled profiles (1 to 4). */
  readonly profileTaus: readonly number[];
}

/** Options of {@link summarizeSuite}. */
export interface SummaryOptions {
  /** Key of the bootstrap. */
  readonly key: Key;
  /** Bootstrap replicates. Default 2000. */
  readonly replicates?: number;
}

/** The seed-mean train-loss curve of runs (a seed that stopped early counts as Infinity from there on). */
export function meanCurve(runs: readonly RunRecord[]): LossCurve {
  const longest = runs.reduce((a, r) => (r.curve.length > a.curve.length ? r : a));
  const steps = longest.curve.map((p) => p.step);
  const losses = steps.map((s) => {
    const values = runs.map((r) => r.curve.find((p) => p.step === s)?.trainLoss ?? Infinity);
    return values.some((v) => !Number.isFinite(v)) ? Infinity : values.reduce((a, b) => a + b, 0) / values.length;
  });
  return { steps, losses };
}

function finals(runs: readonly RunRecord[]): number[] {
  return runs.map((r) => r.finalTrainLoss);
}

/**
 * Seed-by-seed `value / reference` of final losses (the runs of one seed share initial
 * parameters and batches): a diverged value scores Infinity, a finite value against a
 * diverged reference 0, and two diverged runs tie at 1.
 */
export function pairedRatios(values: readonly number[], reference: readonly number[]): number[] {
  return values.map((v, i) => {
    const r = reference[i] ?? Number.NaN;
    if (!Number.isFinite(v)) return Number.isFinite(r) ? Infinity : 1;
    if (!Number.isFinite(r)) return 0;
    return r === 0 ? (v === 0 ? 1 : Infinity) : v / r;
  });
}

function cell(runs: readonly RunRecord[], ref: readonly RunRecord[]): TaskCell {
  const f = finals(runs);
  const refMean = mean(finals(ref));
  const meanFinal = f.some((x) => !Number.isFinite(x)) ? Infinity : mean(f);
  return {
    meanFinal,
    normalized: meanFinal / refMean,
    speedup: speedupToTarget(meanCurve(runs), meanCurve(ref)),
    paired: pairedComparison(f, finals(ref)),
    diverged: runs.filter((r) => r.diverged).length,
  };
}

/**
 * Per-task cells (normalized final loss, speedup to target, paired difference against the
 * reference), and per optimizer the IQM of normalized final losses with a stratified
 * bootstrap CI, the win count and the AlgoPerf profile score.
 */
export function summarizeSuite(result: SuiteResult, options: SummaryOptions): SuiteSummary {
  const tasks = result.suite.tasks.map((t) => t.id);
  const refRow = result.rows.find((r) => r.label === result.reference);
  if (!refRow) throw new LoptError('INVALID_OPTION', `The result has no reference row '${result.reference}'.`, { option: 'reference' });
  const refRuns = (id: string): readonly RunRecord[] => refRow.runs[id] ?? [];
  const targets = tasks.map((id) => meanCurve(refRuns(id)).losses.at(-1) as number);
  const times = result.rows.map((row) => tasks.map((id, w) => {
    const s = Number.isFinite(targets[w] as number) ? stepsToReach(meanCurve(row.runs[id] ?? []), targets[w] as number) : null;
    return s === null ? Infinity : Math.max(s, 1);
  }));
  const profile = performanceProfile(times);
  const taus = Array.from({ length: 31 }, (_, i) => 1 + i * 0.1);
  const rows = result.rows.map((row, r): RowSummary => {
    const cells = Object.fromEntries(tasks.map((id) => [id, cell(row.runs[id] ?? [], refRuns(id))]));
    const scores = tasks.map((id) => pairedRatios(finals(row.runs[id] ?? []), finals(refRuns(id))));
    const iqm = stratifiedBootstrapCI(scores, { key: options.key, ...(options.replicates === undefined ? {} : { replicates: options.replicates }) });
    const wins = tasks.filter((id) => (cells[id] as TaskCell).meanFinal < mean(finals(refRuns(id)))).length;
    return { label: row.label, baseline: row.baseline, cells, iqm, wins, profileScore: profile.scores[r] as number, profile: taus.map((t) => profile.rho(r, t)) };
  });
  return { reference: result.reference, tasks, rows, profileTaus: taus };
}
