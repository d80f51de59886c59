import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { key as makeKey } from '@lopt/core';
import { writeJsonAtomic, writeFileAtomic } from '@lopt/core/node';
import { getBaseline, getSuite, runSuite, serialExecutor, summarizeSuite, validateSuite, type OptimizerRef, type RunExecutor, type Suite, type SuiteProgress, type SuiteResult, type SuiteSummary, type TunableCandidate } from '@lopt/eval';
import { fileCache, processPool } from '@lopt/eval/node';
import { startCommand, type CommandContext, type CommonOptions } from './context.js';
import { CliError, withContext } from './errors.js';
import { createProgress, type Progress } from './progress.js';
import { ensureWritableDir } from './rundir.js';
import { candidateRef, cliResolver } from './suite-optimizers.js';
import { writeSuiteReport } from './suite-report.js';
import { suiteMarkdown, suiteTables, suiteText, type SuiteTables } from './suite-table.js';

/** Arguments of `lopt suite run`. */
export interface SuiteRunArgs {
  readonly common: CommonOptions;
  readonly optimizers: readonly string[];
  readonly suite: string;
  readonly baselines: string;
  readonly jobs?: string;
  readonly cache?: string;
  readonly out: string;
  readonly report: boolean;
}

/** A built-in suite name (`small-v1`, `suite:small-v1`) or a suite JSON file, validated. */
export function loadSuite(spec: string): Suite {
  if (!spec.endsWith('.json') && !existsSync(spec)) return getSuite(spec);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(spec, 'utf8'));
  } catch (e) {
    throw new CliError(`Cannot read the suite file '${spec}': ${(e as Error).message}.`, 'Pass a built-in suite (small-v1, medium-v1) or a JSON file { name, seeds, tuningSeeds, evalBatches, tasks }.');
  }
  try {
    return validateSuite(parsed);
  } catch (e) {
    throw withContext(e, `Suite file ${spec}`);
  }
}

/** `adam,adamw-cosine` -> the baseline names, each checked. */
export function parseBaselines(text: string): string[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new CliError('--baselines is empty.', 'Pass at least the reference, e.g. --baselines adam.');
  names.forEach((n) => getBaseline(n));
  return names;
}

/** `--jobs`: an integer >= 1; default one per core. */
export function parseJobs(text: string | undefined): number {
  if (text === undefined) return availableParallelism();
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new CliError(`--jobs must be an integer in [1, 256], got '${text}'.`, 'Use --jobs 1 to run in this process.');
  return n;
}

function workerExecutor(jobs: number, common: CommonOptions, backend: string): RunExecutor {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const worker = join(here, '..', fromSource ? 'suite-worker.ts' : 'suite-worker.js');
  const env = { ...process.env, LOPT_BACKEND: backend, LOPT_SUITE_PLUGINS: JSON.stringify(common.plugin ?? []) };
  return processPool({ worker, jobs, env, ...(fromSource ? { execArgv: ['--import', 'tsx'] } : {}) });
}

function progressReporter(): { onProgress: (p: SuiteProgress) => void; stop: () => void } {
  let bar: Progress | undefined;
  let phase = '';
  return {
    onProgress: (p) => {
      if (p.phase !== phase) {
        bar?.stop();
        phase = p.phase;
        bar = createProgress({ total: p.total, label: p.phase, fields: [{ key: 'cached', label: 'cached' }, { key: 'last', label: 'last' }], lineEvery: 0.05 });
      }
      bar?.update(p.done, { cached: p.cached, last: p.last });
    },
    stop: () => bar?.stop(),
  };
}

/** What {@link executeSuite} runs: the suite, its rows, and where. */
export interface SuiteExecution {
  readonly suite: Suite;
  readonly candidates: readonly OptimizerRef[];
  readonly tunables?: readonly TunableCandidate[];
  readonly baselines: readonly string[];
  readonly jobs: number;
  readonly cacheDir: string;
  readonly common: CommonOptions;
}

/** A finished suite run: the result, its summary and tables, and one line of timing (runs, seconds, jobs, load average). */
export interface ExecutedSuite {
  readonly result: SuiteResult;
  readonly summary: SuiteSummary;
  readonly tables: SuiteTables;
  readonly timing: string;
  readonly seconds: number;
}

/**
 * Runs a suite with a progress bar on `jobs` worker processes (1: in this process), every run
 * cached under `cacheDir`; shared by `lopt suite run` and `lopt demo`.
 */
export async function executeSuite(ctx: CommandContext, e: SuiteExecution): Promise<ExecutedSuite> {
  const cache = fileCache(e.cacheDir);
  const started = performance.now();
  ctx.log(`suite ${e.suite.name}: ${e.suite.tasks.length} tasks x ${e.suite.seeds.length} seeds; baselines ${e.baselines.join(', ')}; ${e.jobs} job(s); cache ${e.cacheDir}`);
  const executor = e.jobs === 1 ? serialExecutor(cliResolver()) : workerExecutor(e.jobs, e.common, ctx.backend.name);
  const progress = progressReporter();
  let corrupt = 0;
  const result = await runSuite(e.suite, {
    candidates: e.candidates,
    ...(e.tunables ? { tunables: e.tunables } : {}),
    baselines: e.baselines,
    cache,
    executor,
    onProgress: progress.onProgress,
    onCorrupt: (_k, why) => {
      corrupt++;
      ctx.log(`warning: a corrupt cache entry was recomputed (${why})`);
    },
  }).finally(() => progress.stop());
  const seconds = (performance.now() - started) / 1000;
  const summary = summarizeSuite(result, { key: makeKey(0) });
  const tables = suiteTables(result, summary);
  const timing = `${result.computed} runs trained, ${result.cached} from the cache${corrupt ? ` (${corrupt} corrupt entries recomputed)` : ''}, ${seconds.toFixed(0)} s on ${e.jobs} job(s), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
  return { result, summary, tables, timing, seconds };
}

/** Writes `suite/result.json`, `suite/summary.{json,md}` and (with `report`) `report/index.html` under `out`. */
export async function writeSuiteOutputs(ctx: CommandContext, out: string, run: ExecutedSuite, report: boolean): Promise<void> {
  const { result, summary, tables, timing } = run;
  await writeJsonAtomic(join(out, 'suite', 'result.json'), result);
  await writeJsonAtomic(join(out, 'suite', 'summary.json'), { ...summary, tables, timing });
  await writeFileAtomic(join(out, 'suite', 'summary.md'), `${suiteMarkdown(tables)}\n${timing}\n`);
  if (report) ctx.log(`report: ${await writeSuiteReport(out, result, summary, suiteMarkdown(tables))}`);
}

/**
 * `lopt suite run`: tunes the baselines per task (cached), trains the candidates, prints the
 * per-task and overall tables, writes `suite/result.json`, `suite/summary.{json,md}` and a
 * report with the performance profile. Rerunning continues from the cache.
 */
export async function runSuiteCommand(args: SuiteRunArgs): Promise<void> {
  if (args.optimizers.length === 0) throw new CliError('suite run needs at least one --optimizer.', 'Example: lopt suite run --optimizer adam (tuned Adam against itself) or --optimizer runs/quickstart.');
  const baselines = parseBaselines(args.baselines);
  const jobs = parseJobs(args.jobs);
  const out = ensureWritableDir(args.out);
  const ctx = await startCommand('suite run', args.common);
  const suite = loadSuite(args.suite);
  const candidates = args.optimizers.map((o) => candidateRef(o, baselines));
  const run = await executeSuite(ctx, { suite, candidates, baselines, jobs, cacheDir: args.cache ?? join('runs', 'suite-cache'), common: args.common });
  process.stdout.write(`\n${suiteText(run.result, run.tables)}\n`);
  ctx.log(run.timing);
  await writeSuiteOutputs(ctx, out, run, args.report);
  ctx.log(`results: ${join(out, 'suite')}`);
}
