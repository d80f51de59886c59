// Shared pieces of the seed-claim experiments: the report shape, training over paired seeds,
// grid tuning on tuning seeds, and the markdown table a report prints as.
import { LoptError, key as makeKey, type Optimizer, type Task } from '@lopt/core';
import { bestTrial, claimVerdict, gridTrials, mean, trainOnTask, type ClaimVerdict, type Hyperparams, type SearchSpace, type TrainResult } from '@lopt/eval';

/** `quick`: the size the claim tests run (seconds); `full`: the size `lopt experiment` runs by default (minutes). */
export type ExperimentScale = 'quick' | 'full';

/** One checked statement of an experiment, with its verdict. */
export interface ClaimCheck {
  /** What is checked, with its margin, e.g. `log(lopt / tuned Adam) < log(0.95)`. */
  readonly statement: string;
  /** The verdict on the per-seed values. */
  readonly verdict: ClaimVerdict;
}

/** What an experiment run produced. */
export interface ExperimentReport {
  /** Experiment name. */
  readonly name: string;
  /** The claim, as the paper states it. */
  readonly claim: string;
  /** The paper's setting. */
  readonly paper: string;
  /** This run's scaled-down setting. */
  readonly setting: string;
  /** Column headers of the result table. */
  readonly columns: readonly string[];
  /** Result rows. */
  readonly rows: readonly (readonly string[])[];
  /** The checked statements. */
  readonly checks: readonly ClaimCheck[];
  /** Wall-clock seconds. */
  readonly seconds: number;
}

/** A rerunnable experiment of one seed claim. */
export interface Experiment {
  /** Name on the command line. */
  readonly name: string;
  /** The claim in one line. */
  readonly claim: string;
  /** Runs it at `scale`. */
  run(scale: ExperimentScale): Promise<ExperimentReport>;
}

/** Formats a number for tables: 4 significant digits, `inf` for a diverged value. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : 'inf';
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toPrecision(4);
}

/** `mean ± std/sqrt(n)` of the finite values, with the count of non-finite ones. */
export function meanSe(values: readonly number[]): string {
  const finite = values.filter(Number.isFinite);
  const m = mean(finite);
  const se = finite.length > 1 ? Math.sqrt(finite.reduce((a, v) => a + (v - m) ** 2, 0) / (finite.length - 1) / finite.length) : 0;
  const bad = values.length - finite.length;
  return `${fmt(m)} ± ${fmt(se)}${bad ? ` (${bad} diverged)` : ''}`;
}

/** The verdict of per-seed values against `threshold` on the claimed side, with a fixed bootstrap key. */
export function check(statement: string, values: readonly number[], threshold: number, direction: 'below' | 'above' = 'below'): ClaimCheck {
  return { statement, verdict: claimVerdict(values, { threshold, direction, key: makeKey(2026), replicates: 2000 }) };
}

/** Trains a fresh optimizer on each seed's task: `seed` picks the task (if it depends on it), the initial parameters and the batches. */
export function trainSeeds(seeds: readonly number[], task: (seed: number) => Task, optimizer: () => Optimizer, steps: number, evalEvery = steps): TrainResult[] {
  return seeds.map((seed) => trainOnTask(task(seed), optimizer(), { steps, key: makeKey(seed), evalEvery }));
}

/**
 * The best hyperparameters of `space`'s grid by mean final train loss on `tuningSeeds`
 * (disjoint from the evaluation seeds), as the evaluation protocol tunes its baselines.
 */
export function tuneGrid(space: SearchSpace, build: (hp: Hyperparams) => Optimizer, task: (seed: number) => Task, steps: number, tuningSeeds: readonly number[], score: (r: TrainResult) => number = (r) => r.finalTrainLoss, evalEvery = steps): Hyperparams {
  if (tuningSeeds.length === 0) throw new LoptError('INVALID_OPTION', 'Tuning needs at least one tuning seed.', { option: 'tuningSeeds' });
  const trials = gridTrials(space).map((hp) => {
    const finals = trainSeeds(tuningSeeds, task, () => build(hp), steps, evalEvery).map(score);
    return { hyperparams: hp, score: finals.some((f) => !Number.isFinite(f)) ? Infinity : mean(finals) };
  });
  return bestTrial(trials).hyperparams;
}

/** Mean of the logged train losses from step `from` on (a steady-state level). */
export function tailMean(r: TrainResult, from: number): number {
  if (r.diverged) return Infinity;
  const tail = r.curve.filter((p) => p.step >= from).map((p) => p.trainLoss);
  return tail.reduce((a, b) => a + b, 0) / tail.length;
}

/** Mean logged train loss over a whole run (the meta-training objective of an unroll); Infinity if it diverged. */
export function curveMean(r: TrainResult): number {
  if (r.diverged) return Infinity;
  return r.curve.reduce((a, p) => a + p.trainLoss, 0) / r.curve.length;
}

/** The report as markdown: claim, settings, table, verdicts. */
export function formatReport(r: ExperimentReport): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  const table = [line(r.columns), line(r.columns.map(() => '---')), ...r.rows.map(line)].join('\n');
  const checks = r.checks.map((c) => {
    const v = c.verdict;
    return `| ${c.statement} | ${fmt(v.estimate)} | [${fmt(v.low)}, ${fmt(v.high)}] | ${v.n} | **${v.outcome}** |`;
  });
  return [
    `### ${r.name}`,
    '',
    `- Claim: ${r.claim}`,
    `- Paper: ${r.paper}`,
    `- Here: ${r.setting}`,
    '',
    table,
    '',
    '| check (per-seed values; mean, 95% bootstrap interval) | mean | interval | seeds | verdict |',
    '| --- | --- | --- | --- | --- |',
    ...checks,
    '',
    `(${r.seconds.toFixed(0)} s)`,
  ].join('\n');
}

/** What an experiment's body returns: its report less the name, claim and wall-clock seconds that {@link experiment} adds. */
export type ExperimentResult = Omit<ExperimentReport, 'name' | 'claim' | 'seconds'>;

/**
 * An {@link Experiment} from its name, its claim, its sizes per scale and a body that runs it at
 * one size; `run(scale)` times the body and completes its result into the report.
 */
export function experiment<Sizes extends Readonly<Record<ExperimentScale, object>>>(name: string, claim: string, sizes: Sizes, body: (size: Sizes[ExperimentScale]) => ExperimentResult | Promise<ExperimentResult>): Experiment {
  return {
    name,
    claim,
    async run(scale: ExperimentScale): Promise<ExperimentReport> {
      const t0 = performance.now();
      const result = await body(sizes[scale]);
      return { name, claim, ...result, seconds: (performance.now() - t0) / 1000 };
    },
  };
}

/** The evaluation seeds `0, 1, ..., n - 1`. */
export function seedRange(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
