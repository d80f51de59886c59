import { create, foldIn, has, key as makeKey, list, uniformArray, type Task, type TaskFamily } from '@lopt/core';
import { buildOptimizer } from './build-optimizer.js';
import { CliError, withContext } from './errors.js';
import { parseKeyValues, type OptionValue } from './options.js';
import { createProgress } from './progress.js';
import { parseOptimizerSpec, specLabel, type OptimizerSpec } from './spec.js';
import { formatMeanStd, formatNumber, formatPaired, mean, pairedComparison, renderMarkdownTable, renderTable, std, type PairedComparison } from './stats.js';
import { trainOnTask, type BatchHolder, type CurvePoint } from '@lopt/eval';

/** What `eval` trains on: a registered task, or held-out tasks of a registered family. */
export interface EvalTarget {
  readonly kind: 'task' | 'task-family';
  readonly name: string;
  readonly options: Record<string, OptionValue>;
}

/** Settings of a random search over Adam's learning rate. */
export interface TuneSettings {
  /** Number of learning rates tried. */
  readonly trials: number;
  /** Log-uniform search range [low, high]. */
  readonly low: number;
  readonly high: number;
  /** Tuning tasks (family) or seeds (task) per trial; drawn apart from the evaluation ones. */
  readonly seeds: number;
}

/** Settings of an evaluation. */
export interface EvalSettings {
  readonly steps: number;
  readonly seeds: number;
  /** Base seed: tasks, initial parameters and batches derive from it. */
  readonly seed: number;
  /** Curve points per run (about). */
  readonly points: number;
  /** Batches averaged per logged loss. */
  readonly evalBatches: number;
  readonly tune?: TuneSettings;
}

/** One optimizer on one seed. */
export interface EvalRun {
  readonly seed: number;
  /** The task configuration (families) or null. */
  readonly taskConfig: unknown;
  readonly curve: CurvePoint[];
  readonly finalTrainLoss: number;
  readonly finalValidLoss: number | null;
  readonly diverged: boolean;
  readonly msPerStep: number;
  /** First logged step at which the train loss reached the reference's final train loss (null: never). */
  stepsToReach: number | null;
}

/** Aggregates of one optimizer over seeds. */
export interface EvalSummaryRow {
  readonly label: string;
  readonly spec: string;
  readonly finalTrainMean: number;
  readonly finalTrainStd: number;
  readonly finalValidMean: number | null;
  readonly finalValidStd: number | null;
  readonly diverged: number;
  /** Mean steps to reach the reference's final loss over the seeds that reached it. */
  readonly stepsToReachMean: number | null;
  readonly reached: number;
  /** Final train loss minus the reference's, task by task (null for the reference itself or without one). */
  readonly trainVsReference: PairedComparison | null;
  /** Final held-out loss minus the reference's, task by task (null likewise, or for data-free tasks). */
  readonly validVsReference: PairedComparison | null;
  readonly msPerStep: number;
  /** Text cells as printed. */
  readonly cells: readonly string[];
}

/** Everything an evaluation produced (written as `curves.json` / `summary.json`). */
export interface EvalResult {
  readonly target: EvalTarget;
  readonly steps: number;
  readonly seeds: number;
  readonly seed: number;
  /** Label of the optimizer whose final loss defines steps-to-reach (the tuned Adam when tuning). */
  readonly reference: string | null;
  readonly tuning: { readonly trials: { learningRate: number; meanFinalTrainLoss: number }[]; readonly best: number } | null;
  readonly optimizers: { readonly label: string; readonly spec: string; readonly runs: EvalRun[] }[];
  readonly summary: EvalSummaryRow[];
  readonly header: readonly string[];
}

/** Parses `name` or `name:key=value,...` into a target, looking the name up as a task, then as a family. */
export function parseTarget(text: string): EvalTarget {
  const colon = text.indexOf(':');
  const name = (colon < 0 ? text : text.slice(0, colon)).trim();
  const options = colon < 0 ? {} : parseKeyValues(text.slice(colon + 1), `task '${name}'`);
  if (has('task', name)) return { kind: 'task', name, options };
  if (has('task-family', name)) return { kind: 'task-family', name, options };
  const tasks = list('task').map((e) => e.name);
  const families = list('task-family').map((e) => e.name);
  throw new CliError(
    `No task or task family named '${name}' is registered.`,
    `Tasks: ${tasks.join(', ') || '(none)'}. Task families: ${families.join(', ') || '(none)'}. Load a plugin with --plugin for others.`,
  );
}

/**
 * Builds the tasks of a target for `count` seeds: one task repeated, or `count` samples of
 * the family from the key stream `(streamSeed, salt)`.
 */
export function buildTasks(target: EvalTarget, streamSeed: number, salt: number, count: number): { task: Task; config: unknown }[] {
  const where = `${target.kind === 'task' ? 'Task' : 'Task family'} '${target.name}'`;
  try {
    if (target.kind === 'task') {
      const task = create('task', target.name, target.options);
      return Array.from({ length: count }, () => ({ task, config: null }));
    }
    const family: TaskFamily = create('task-family', target.name, target.options);
    return Array.from({ length: count }, (_, i) => {
      const config = family.sample(foldIn(foldIn(makeKey(streamSeed), salt), i));
      return { task: family.task(config), config };
    });
  } catch (e) {
    throw withContext(e, where);
  }
}

/** Key salts: evaluation tasks, tuning tasks, run keys and validation tasks come from disjoint streams. */
const EVAL_TASKS = 0x4e1d;
const TUNE_TASKS = 0x7e4e;
const RUN_KEYS = 0x52a1;
/** Salt of the validation tasks of meta-training's checkpoint selection (see validation.ts). */
export const VALIDATION_TASKS = 0x5e1e;

/**
 * Evaluates optimizers on held-out tasks: every optimizer trains on the same tasks, initial
 * parameters and batches for each seed. With `tune`, a random search over Adam's learning
 * rate (log-uniform, fixed budget, on separate tuning tasks) picks the baseline first, so
 * "beats Adam" means "beats a tuned Adam".
 */
export async function evaluate(target: EvalTarget, specs: readonly OptimizerSpec[], settings: EvalSettings, log: (line: string) => void): Promise<EvalResult> {
  const { steps, seeds, seed } = settings;
  const logEvery = Math.max(1, Math.round(steps / Math.max(1, settings.points)));
  const holder: BatchHolder = { current: undefined, task: undefined };
  const runKey = (i: number) => foldIn(foldIn(makeKey(seed), RUN_KEYS), i);

  let tuning: EvalResult['tuning'] = null;
  const allSpecs: OptimizerSpec[] = [];
  let reference: string | null = null;
  if (settings.tune) {
    const t = settings.tune;
    const tuneTasks = buildTasks(target, seed, TUNE_TASKS, t.seeds);
    const u = uniformArray(foldIn(makeKey(seed), 0x1a), t.trials);
    const lrs = Array.from(u, (x) => Math.exp(Math.log(t.low) + x * (Math.log(t.high) - Math.log(t.low))));
    const bar = createProgress({ total: t.trials, label: 'tune adam', fields: [{ key: 'lr', label: 'lr' }, { key: 'best', label: 'best' }] });
    const trials: { learningRate: number; meanFinalTrainLoss: number }[] = [];
    for (const [i, lr] of lrs.entries()) {
      const built = await buildOptimizer(parseOptimizerSpec(`adam:learningRate=${lr}`), { numSteps: steps, holder });
      const finals = tuneTasks.map(({ task }, j) =>
        trainOnTask(task, built.optimizer, { steps, key: foldIn(runKey(1_000_000), j), evalEvery: steps, evalBatches: settings.evalBatches, lossCap: Infinity, holder }).finalTrainLoss,
      );
      built.dispose();
      const m = finals.some((f) => !Number.isFinite(f)) ? Infinity : mean(finals);
      trials.push({ learningRate: lr, meanFinalTrainLoss: m });
      const best = trials.reduce((a, b) => (b.meanFinalTrainLoss < a.meanFinalTrainLoss ? b : a));
      bar.update(i + 1, { lr: lr.toExponential(2), best: `${best.learningRate.toExponential(2)} (${formatNumber(best.meanFinalTrainLoss)})` });
    }
    bar.stop();
    const best = trials.reduce((a, b) => (b.meanFinalTrainLoss < a.meanFinalTrainLoss ? b : a));
    tuning = { trials, best: best.learningRate };
    log(`tuned adam: learningRate=${best.learningRate.toExponential(3)} (best of ${t.trials} log-uniform trials in [${t.low}, ${t.high}] on ${t.seeds} tuning task(s))`);
    const tuned = parseOptimizerSpec(`adam:learningRate=${Number(best.learningRate.toPrecision(4))}`);
    allSpecs.push(tuned);
    reference = `${specLabel(tuned)} [tuned]`;
  }
  allSpecs.push(...specs);
  if (reference === null) {
    const adam = specs.find((s) => s.kind === 'registry' && s.name === 'adam');
    if (adam) reference = specLabel(adam);
  }

  const tasks = buildTasks(target, seed, EVAL_TASKS, seeds);
  const optimizers: EvalResult['optimizers'] = [];
  const bar = createProgress({ total: allSpecs.length * seeds, label: 'eval', fields: [{ key: 'optimizer', label: 'optimizer' }, { key: 'loss', label: 'final loss' }], lineEvery: 1 / Math.max(1, allSpecs.length * seeds) });
  let done = 0;
  for (const [si, spec] of allSpecs.entries()) {
    const label = si === 0 && settings.tune ? `${specLabel(spec)} [tuned]` : specLabel(spec);
    const runs: EvalRun[] = [];
    for (const [i, { task, config }] of tasks.entries()) {
      const built = await buildOptimizer(spec, { numSteps: steps, holder });
      try {
        const r = trainOnTask(task, built.optimizer, { steps, key: runKey(i), evalEvery: logEvery, evalBatches: settings.evalBatches, lossCap: Infinity, holder });
        runs.push({ seed: i, taskConfig: config, curve: r.curve, finalTrainLoss: r.finalTrainLoss, finalValidLoss: r.finalValidLoss, diverged: r.diverged, msPerStep: r.msPerStep, stepsToReach: null });
        done++;
        bar.update(done, { optimizer: label, loss: formatNumber(r.finalTrainLoss) });
      } finally {
        built.dispose();
      }
    }
    optimizers.push({ label, spec: spec.text, runs });
  }
  bar.stop();

  // Steps to reach the reference's mean final train loss.
  const ref = optimizers.find((o) => o.label === reference);
  const referenceLoss = ref ? mean(ref.runs.map((r) => r.finalTrainLoss)) : NaN;
  if (Number.isFinite(referenceLoss)) {
    for (const o of optimizers) for (const r of o.runs) r.stepsToReach = r.curve.find((p) => p.trainLoss <= referenceLoss)?.step ?? null;
  }
  const refTrain = ref?.runs.map((r) => r.finalTrainLoss);
  const refValid = ref?.runs.map((r) => r.finalValidLoss ?? NaN);
  const header = ['optimizer', 'final train loss', 'final valid loss', ref ? `steps to ${formatNumber(referenceLoss)}` : 'steps to ref', 'train - ref (paired)', 'valid - ref (paired)', 'ms/step'];
  const summary = optimizers.map((o): EvalSummaryRow => {
    const train = o.runs.map((r) => r.finalTrainLoss);
    const hasValid = o.runs.some((r) => r.finalValidLoss !== null);
    const valid = o.runs.map((r) => r.finalValidLoss ?? NaN);
    const reachedSteps = o.runs.map((r) => r.stepsToReach).filter((s): s is number => s !== null);
    const stepsToReachMean = reachedSteps.length ? mean(reachedSteps) : null;
    const msPerStep = mean(o.runs.map((r) => r.msPerStep));
    const paired = ref !== undefined && o !== ref;
    const trainVsReference = paired && refTrain ? pairedComparison(train, refTrain) : null;
    const validVsReference = paired && refValid && hasValid ? pairedComparison(valid, refValid) : null;
    return {
      label: o.label,
      spec: o.spec,
      finalTrainMean: mean(train),
      finalTrainStd: std(train),
      finalValidMean: hasValid ? mean(valid) : null,
      finalValidStd: hasValid ? std(valid) : null,
      diverged: o.runs.filter((r) => r.diverged).length,
      stepsToReachMean,
      reached: reachedSteps.length,
      trainVsReference,
      validVsReference,
      msPerStep,
      cells: [
        o.label,
        formatMeanStd(train),
        hasValid ? formatMeanStd(valid) : '-',
        ref ? `${stepsToReachMean === null ? 'never' : Math.round(stepsToReachMean)} (${reachedSteps.length}/${o.runs.length})` : '-',
        trainVsReference ? formatPaired(trainVsReference) : '-',
        validVsReference ? formatPaired(validVsReference) : '-',
        formatNumber(msPerStep),
      ],
    };
  });
  return { target, steps, seeds, seed, reference: ref ? ref.label : null, tuning, optimizers, summary, header };
}

/** The summary table as plain text (terminal). */
export function summaryText(result: EvalResult): string {
  const where = result.target.kind === 'task-family' ? `${result.seeds} held-out tasks of ${result.target.name}` : `${result.target.name}, ${result.seeds} seeds`;
  const note = result.reference
    ? `steps to reach ${result.reference}'s mean final train loss (seeds that reached it / all); paired columns: mean per-task difference from ${result.reference} ± its standard error (tasks where it is lower / all)`
    : 'no Adam reference (add --optimizer adam or --tune-baseline for steps-to-reach and paired differences)';
  return `${renderTable(result.header, result.summary.map((r) => r.cells))}\n\n${result.steps} steps on ${where}; mean ± std over seeds; ${note}.`;
}

/** The summary table as markdown. */
export function summaryMarkdown(result: EvalResult): string {
  return renderMarkdownTable(result.header, result.summary.map((r) => r.cells));
}
