import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { writeJsonAtomic } from '@lopt/core/node';
import { DEMO_LEARNING_RATES, DEMO_V1, mean, type SearchSpace, type Suite, type SuiteResult, type SuiteSummary } from '@lopt/eval';
import { startCommand, type CommonOptions } from './context.js';
import { ensureWritableDir } from './rundir.js';
import { formatNumber, renderTable } from './stats.js';
import { candidateRef, tunedCandidate } from './suite-optimizers.js';
import { executeSuite, parseJobs, writeSuiteOutputs } from './suite-run.js';

/** One optimizer of the demo: a spec (as `lopt eval --optimizer`), optionally with hyperparameters tuned per task like the baselines'. */
export interface DemoOptimizer {
  /** The optimizer spec, e.g. `pretrained:celo`. */
  readonly spec: string;
  /** Searched per task on the suite's tuning seed; the row is labelled `<spec> [tuned]`. */
  readonly tune?: SearchSpace;
}

/**
 * The optimizers `lopt demo` trains against the tuned baselines: the shipped pretrained learned
 * optimizers, Celo2 both at its default learning rate and with it tuned on the baselines' grid.
 * Adding one is one line here.
 */
export const DEMO_OPTIMIZERS: readonly DemoOptimizer[] = [
  { spec: 'pretrained:lopt-small-v1' },
  { spec: 'pretrained:celo' },
  { spec: 'pretrained:celo-adam' },
  { spec: 'pretrained:celo2' },
  { spec: 'pretrained:celo2', tune: { learningRate: { grid: DEMO_LEARNING_RATES } } },
];

/** The baselines of the demo, each tuned per task on `demo-v1`'s grid; the first is the reference. */
export const DEMO_BASELINES: readonly string[] = ['adam', 'adamw-cosine'];

/** Arguments of `lopt demo`. */
export interface DemoArgs {
  /** Global options (backend, plugins). */
  readonly common: CommonOptions;
  /** 100 steps, 1 seed, 3-point grids: a look in about a minute. */
  readonly quick: boolean;
  /** Overrides the horizon of every task. */
  readonly steps?: number;
  /** `--jobs` as given (default one worker per core). */
  readonly jobs?: string;
  /** Run cache directory (default `runs/suite-cache`). */
  readonly cache?: string;
  /** Output directory. */
  readonly out: string;
  /** Whether to write `report/`. */
  readonly report: boolean;
}

/** Every other grid point: 1e-3, 1e-2, 1e-1 for `--quick`. */
function thinned(space: SearchSpace): SearchSpace {
  return Object.fromEntries(Object.entries(space).map(([k, d]) => [k, 'grid' in d ? { grid: d.grid.filter((_, i) => i % 2 === 0) } : d]));
}

/**
 * The suite `lopt demo` runs: `demo-v1`, or with `quick` 100 steps, seed 0 only and 3-point grids
 * (`demo-v1-quick`); `steps` overrides every horizon (the name says so: `demo-v1-<n>steps`).
 */
export function demoSuite(quick: boolean, steps?: number): Suite {
  const base: Suite = quick
    ? {
        ...DEMO_V1,
        name: `${DEMO_V1.name}-quick`,
        seeds: [0],
        spaces: Object.fromEntries(Object.entries(DEMO_V1.spaces ?? {}).map(([k, s]) => [k, thinned(s)])),
        tasks: DEMO_V1.tasks.map((t) => ({ ...t, steps: 100 })),
      }
    : DEMO_V1;
  if (steps === undefined) return base;
  return { ...base, name: `${base.name}-${steps}steps`, tasks: base.tasks.map((t) => ({ ...t, steps, evalEvery: Math.max(1, Math.round(steps / 10)) })) };
}

/** One optimizer's row of the demo table. */
export interface DemoRow {
  /** Row label. */
  readonly label: string;
  /** Mean final train loss over the seeds, by task id. */
  readonly finalLoss: Readonly<Record<string, number>>;
  /** `finalLoss` over tuned Adam's, by task id (< 1 is better). */
  readonly vsAdam: Readonly<Record<string, number>>;
  /** Tasks where its mean final train loss is strictly below tuned Adam's. */
  readonly wins: number;
  /** Mean final held-out (test-split) loss over the seeds, by task id. */
  readonly heldOutLoss: Readonly<Record<string, number>>;
  /** Tasks where its mean final held-out loss is strictly below tuned Adam's. */
  readonly heldOutWins: number;
}

/** The demo's table, as printed and as written to `demo/table.json`. */
export interface DemoTable {
  /** Suite name (`demo-v1`, or a quick / shortened variant). */
  readonly suite: string;
  /** Label of the reference row (`adam [tuned]`). */
  readonly reference: string;
  /** The tasks with their horizon and tuned Adam's learning rate. */
  readonly tasks: readonly { readonly id: string; readonly steps: number; readonly adamLearningRate: number | null }[];
  /** Evaluation seeds. */
  readonly seeds: readonly number[];
  /** One row per optimizer: the tuned baselines first, then {@link DEMO_OPTIMIZERS}. */
  readonly rows: readonly DemoRow[];
}

/** The demo table of a suite run: per task and optimizer the mean final train loss and its ratio to tuned Adam's, and wins. */
export function demoTable(result: SuiteResult, summary: SuiteSummary): DemoTable {
  const tasks = result.suite.tasks.map((t) => ({ id: t.id, steps: t.steps, adamLearningRate: result.tuning.adam?.[t.id]?.best.learningRate ?? null }));
  const heldOut = (label: string): Record<string, number> => {
    const runs = result.rows.find((x) => x.label === label)?.runs ?? {};
    return Object.fromEntries(tasks.map((t) => [t.id, mean((runs[t.id] ?? []).map((r) => r.finalValidLoss ?? Number.NaN))]));
  };
  const reference = heldOut(result.reference);
  const rows = summary.rows.map((r) => {
    const heldOutLoss = heldOut(r.label);
    return {
      label: r.label,
      finalLoss: Object.fromEntries(tasks.map((t) => [t.id, r.cells[t.id]?.meanFinal ?? Number.NaN])),
      vsAdam: Object.fromEntries(tasks.map((t) => [t.id, r.cells[t.id]?.normalized ?? Number.NaN])),
      wins: r.wins,
      heldOutLoss,
      heldOutWins: tasks.filter((t) => (heldOutLoss[t.id] as number) < (reference[t.id] as number)).length,
    };
  });
  return { suite: result.suite.name, reference: result.reference, tasks, seeds: result.suite.seeds, rows };
}

/** The table as text: one row per optimizer, per task `final loss (x tuned Adam)`, then the wins against tuned Adam. */
export function demoText(table: DemoTable): string {
  const header = ['optimizer', ...table.tasks.map((t) => `${t.id} (${t.steps} steps)`), 'wins vs tuned Adam'];
  const rows = table.rows.map((r) => [
    r.label,
    ...table.tasks.map((t) => (r.label === table.reference ? `${formatNumber(r.finalLoss[t.id])} (lr ${formatNumber(t.adamLearningRate)})` : `${formatNumber(r.finalLoss[t.id])} (${formatNumber(r.vsAdam[t.id])}x)`)),
    r.label === table.reference ? '-' : `${r.wins}/${table.tasks.length}`,
  ]);
  const heldOutHeader = ['held-out loss', ...table.tasks.map((t) => t.id), 'lower than tuned Adam'];
  const heldOutRows = table.rows.map((r) => [r.label, ...table.tasks.map((t) => formatNumber(r.heldOutLoss[t.id])), r.label === table.reference ? '-' : `${r.heldOutWins}/${table.tasks.length}`]);
  const note = `${table.suite}: final train loss, mean over seed${table.seeds.length === 1 ? '' : 's'} ${table.seeds.join(', ')}; in brackets its ratio to ${table.reference}'s (below 1: lower loss), for ${table.reference} its tuned learning rate. Rows marked [tuned] chose their learning rate per task on another seed. Second table: the final loss on the test split (mean over the seeds), where overfitting shows.`;
  return `${renderTable(header, rows)}\n\n${renderTable(heldOutHeader, heldOutRows)}\n\n${note}`;
}

/**
 * `lopt demo`: trains demo-v1's held-out tasks with the shipped learned optimizers
 * ({@link DEMO_OPTIMIZERS}) against tuned Adam and AdamW-cosine, prints the table, writes
 * `demo/table.json` (with date and load average), the suite files and the report. Every run
 * is cached (`runs/suite-cache`), so a rerun prints the table at once.
 */
export async function runDemo(args: DemoArgs): Promise<void> {
  const jobs = parseJobs(args.jobs);
  const out = ensureWritableDir(args.out);
  const suite = demoSuite(args.quick, args.steps);
  const loadAverageStart = loadavg();
  const date = new Date().toISOString();
  const ctx = await startCommand('demo', args.common);
  const candidates = DEMO_OPTIMIZERS.filter((o) => !o.tune).map((o) => candidateRef(o.spec, DEMO_BASELINES));
  const tunables = DEMO_OPTIMIZERS.flatMap((o) => (o.tune ? [tunedCandidate(o.spec, args.quick ? thinned(o.tune) : o.tune)] : []));
  const run = await executeSuite(ctx, { suite, candidates, tunables, baselines: DEMO_BASELINES, jobs, cacheDir: args.cache ?? join('runs', 'suite-cache'), common: args.common });
  const table = demoTable(run.result, run.summary);
  process.stdout.write(`\n${demoText(table)}\n`);
  ctx.log(run.timing);
  const round = (l: number[]) => l.map((x) => Number(x.toFixed(2)));
  await writeJsonAtomic(join(out, 'demo', 'table.json'), {
    ...table,
    date,
    backend: ctx.backend.name,
    cpus: cpus().length,
    jobs,
    seconds: Number(run.seconds.toFixed(1)),
    computed: run.result.computed,
    cached: run.result.cached,
    loadAverageStart: round(loadAverageStart),
    loadAverageEnd: round(loadavg()),
  });
  await writeSuiteOutputs(ctx, out, run, args.report);
  ctx.log(`results: ${join(out, 'demo', 'table.json')} and ${join(out, 'suite')}`);
}

/** `lopt demo --preset <name>`: meta-trains a small learned optimizer from scratch with a preset (as `lopt meta-train --preset`; the caller checks the name). */
export async function runDemoPreset(common: CommonOptions, preset: string, out: string | undefined, report: boolean): Promise<void> {
  const { runMetaTrain } = await import('./metatrain.js');
  await runMetaTrain({ common, configSpec: preset, ...(out !== undefined ? { out } : {}), evaluate: true, report });
}
