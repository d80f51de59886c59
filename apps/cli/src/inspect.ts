import { dirname, join } from 'node:path';
import { key as makeKey } from '@lopt/core';
import { writeJsonAtomic } from '@lopt/core/node';
import { behaviourTable, fitBehaviour, traceUpdates, type BehaviourFit, type UpdateTrace } from '@lopt/learned';
import { buildOptimizer } from './build-optimizer.js';
import type { CommonOptions } from './context.js';
import { startCommand } from './context.js';
import { CliError, withContext } from './errors.js';
import { buildTasks, parseTarget } from './evaluate.js';
import { ensureWritableDir } from './rundir.js';
import { parseOptimizerSpec, specLabel } from './spec.js';
import { renderTable } from './stats.js';

/** Options of `lopt inspect`. */
export interface InspectOptions {
  /** Task (or task family: its first held-out sample) spec. */
  readonly task: string;
  /** Training steps recorded. */
  readonly steps: number;
  /** Parameter coordinates recorded. */
  readonly coordinates: number;
  /** Seed of the task, the initial parameters, the coordinates and the batches. */
  readonly seed: number;
  /** JSON file the curves go to. */
  readonly out: string;
}

/** Salt of the task stream of `inspect` (a family's task comes from its own key stream). */
const INSPECT_TASKS = 0x1a5c;
/** Points of the binned update-vs-gradient response written to the JSON. */
const RESPONSE_BINS = 40;

/** The update-vs-gradient response of a trace, binned by gradient quantiles: mean g and mean update per bin. */
export function binnedResponse(trace: UpdateTrace, bins = RESPONSE_BINS): { grad: number[]; update: number[] } {
  const pairs = trace.grads.flatMap((row, t) => row.map((g, i) => [g, (trace.updates[t] as number[])[i] as number] as const)).sort((a, b) => a[0] - b[0]);
  const n = Math.min(bins, pairs.length);
  const grad: number[] = [];
  const update: number[] = [];
  for (let b = 0; b < n; b++) {
    const chunk = pairs.slice(Math.floor((b * pairs.length) / n), Math.floor(((b + 1) * pairs.length) / n));
    grad.push(chunk.reduce((a, p) => a + p[0], 0) / chunk.length);
    update.push(chunk.reduce((a, p) => a + p[1], 0) / chunk.length);
  }
  return { grad, update };
}

/** The JSON `lopt inspect` writes: the fitted values and the curves behind them. */
export function inspectJson(label: string, task: string, trace: UpdateTrace, fit: BehaviourFit): Record<string, unknown> {
  return {
    optimizer: label,
    task,
    steps: trace.losses.length,
    coordinates: trace.indices.length,
    table: behaviourTable(fit),
    momentum: { beta: fit.momentum.beta, learningRate: fit.momentum.learningRate, r2: fit.momentum.r2, curve: fit.momentum.curve },
    schedule: { closest: fit.schedule.closest, templates: fit.schedule.templates, scale: fit.schedule.scale, r2: fit.schedule.r2 },
    adamSchedule: { closest: fit.adamSchedule.closest, templates: fit.adamSchedule.templates, scale: fit.adamSchedule.scale, r2: fit.adamSchedule.r2 },
    clipping: { ...fit.clipping, input: fit.clippingInput },
    curves: { loss: trace.losses, response: binnedResponse(trace) },
  };
}

/**
 * `lopt inspect <optimizer-spec|run-dir> --task <task>`: trains the task with the optimizer,
 * records a sample of coordinates (`traceUpdates`), fits the closest hand-designed behaviour
 * (`fitBehaviour`: momentum, learning-rate schedule, clipping), prints the table and writes the
 * curves as JSON.
 */
export async function runInspect(specText: string, opts: InspectOptions, common: CommonOptions): Promise<void> {
  const spec = parseOptimizerSpec(specText);
  if (spec.kind === 'guard') throw new CliError(`inspect fits one optimizer's behaviour; '${specText}' is a guard around two.`, 'Inspect the guarded optimizer itself (the first spec inside the guard).');
  const ctx = await startCommand('inspect', common);
  ensureWritableDir(dirname(opts.out) || '.', '--out');
  const { task } = buildTasks(parseTarget(opts.task), opts.seed, INSPECT_TASKS, 1)[0] as { task: Parameters<typeof traceUpdates>[1] };
  const built = await buildOptimizer(spec, { numSteps: opts.steps, holder: { current: undefined, task: undefined } });
  try {
    ctx.log(`tracing ${specLabel(spec)} on ${opts.task}: ${opts.steps} steps, ${opts.coordinates} coordinates`);
    let trace: UpdateTrace;
    let fit: BehaviourFit;
    try {
      trace = traceUpdates(built.optimizer, task, { steps: opts.steps, coordinates: opts.coordinates, key: makeKey(opts.seed) });
      fit = fitBehaviour(trace);
    } catch (e) {
      throw withContext(e, `Inspecting '${specText}' on '${opts.task}'`);
    }
    const rows = behaviourTable(fit).map((r) => [r.behaviour, r.value, r.fit]);
    process.stdout.write(`${renderTable(['behaviour', 'fitted', 'fit'], rows)}\n`);
    await writeJsonAtomic(opts.out, inspectJson(specLabel(spec), opts.task, trace, fit));
    ctx.log(`curves: ${opts.out}`);
  } finally {
    built.dispose();
  }
}

/** Default JSON path: `runs/inspect-<label>-<stamp>.json`. */
export function defaultInspectOut(specText: string, stamp: string): string {
  const base = specText.replace(/\/+$/, '').split('/').pop() ?? 'optimizer';
  return join('runs', `inspect-${base.replace(/[^\w.-]/g, '_')}-${stamp}.json`);
}
