import { LoptError } from '@lopt/core';
import { getBaseline, type Hyperparams, type SearchSpace } from './baselines.js';
import { readCached, runCacheKey, writeCached, type RunCache } from './cache.js';
import { serialExecutor, type RunExecutor } from './executor.js';
import { mean } from './paired.js';
import type { RunRecord } from './record.js';
import { baselineRef, type OptimizerRef, type RunRequest } from './run.js';
import { randomSearch } from './halving.js';
import { bestTrial, searchTrials, validateSpace, type ScoredTrial, type SearchMethod } from './search.js';
import { validateSuite, type Suite, type SuiteTask } from './suite.js';

/** Progress of a suite run. */
export interface SuiteProgress {
  /** `tuning` (baseline trials on the tuning seeds) or `evaluation`. */
  readonly phase: 'tuning' | 'evaluation';
  /** Runs finished (computed or read from the cache) in this phase. */
  readonly done: number;
  /** Runs in this phase. */
  readonly total: number;
  /** Of `done`, how many came from the cache. */
  readonly cached: number;
  /** The run that just finished: `task / optimizer / seed`. */
  readonly last: string;
}

/** Options of {@link runSuite}. */
export interface SuiteRunOptions {
  /** Optimizers under test (a ref with `tuned: 'adam'` stands for tuned Adam itself). */
  readonly candidates: readonly OptimizerRef[];
  /** Candidates whose hyperparameters are tuned per task like the baselines' (same search, tuning seeds and cache); each adds one row after the candidates. */
  readonly tunables?: readonly TunableCandidate[];
  /** Baselines tuned per task and reported as rows. Default `['adam', 'adamw-cosine', 'sgdm']`. */
  readonly baselines?: readonly string[];
  /** The baseline that normalizes losses and speedups (must be among `baselines`). Default `adam`. */
  readonly reference?: string;
  /** Search over each baseline's space. Default the full grid; `halving` stops bad trials early (random search with successive halving over the training steps). */
  readonly search?: SearchMethod;
  /** Replacement search spaces by baseline name (before the suite's `spaces`, then the baseline's own). */
  readonly spaces?: Readonly<Record<string, SearchSpace>>;
  /** Result cache (a run found there is not recomputed). */
  readonly cache?: RunCache;
  /** Backend name for cache keys. Default the active tfjs backend. */
  readonly backend?: string;
  /** Where runs execute. Default serially in this process, baselines only (pass one that resolves the candidates' specs). */
  readonly executor?: RunExecutor;
  /** Called after every finished run. */
  readonly onProgress?: (progress: SuiteProgress) => void;
  /** Called for every cache entry found corrupt (it is recomputed). */
  readonly onCorrupt?: (cacheKey: string, reason: string) => void;
  /** Stops the run between runs (finished runs stay cached). */
  readonly signal?: AbortSignal;
}

/**
 * A candidate tuned per task like a baseline, e.g. a learned optimizer with a tuned learning
 * rate: every trial of `space` trains on the suite's tuning seeds, the best (lowest mean final
 * train loss) is its row.
 */
export interface TunableCandidate {
  /** Row label; also its key in {@link SuiteResult.tuning} (must differ from the baselines' names and the other labels). */
  readonly label: string;
  /** The hyperparameters searched. */
  readonly space: SearchSpace;
  /** The optimizer of one trial (JSON, as any ref; its `id` must identify the hyperparameters, e.g. a spec text with them). */
  readonly trial: (hp: Hyperparams) => OptimizerRef;
}

/** What one tuning searches: a baseline's space or a tunable candidate's, and the ref of a trial. */
interface TuneTarget {
  readonly name: string;
  readonly space: SearchSpace;
  readonly ref: (hp: Hyperparams) => OptimizerRef;
}

/** Tuning of one baseline on one task. */
export interface TaskTuning {
  /** Every trial with its score (mean final train loss over the tuning seeds; Infinity if one diverged); under `halving`, the score at the largest budget the trial reached. */
  readonly trials: readonly ScoredTrial[];
  /** The chosen hyperparameters. */
  readonly best: Hyperparams;
}

/** One row of a suite result: an optimizer's runs on every task. */
export interface SuiteRow {
  /** Row label. */
  readonly label: string;
  /** A tuned baseline's name, or null for a candidate. */
  readonly baseline: string | null;
  /** Runs by task id, one per suite seed (in `suite.seeds` order). */
  readonly runs: Readonly<Record<string, readonly RunRecord[]>>;
}

/** Everything {@link runSuite} produced. */
export interface SuiteResult {
  /** The suite. */
  readonly suite: Suite;
  /** Label of the reference row (tuned reference baseline). */
  readonly reference: string;
  /** Tuning by baseline name (or tunable candidate label), then task id. */
  readonly tuning: Readonly<Record<string, Readonly<Record<string, TaskTuning>>>>;
  /** Tuned baselines first (reference first of all), then candidates. */
  readonly rows: readonly SuiteRow[];
  /** Runs trained in this call. */
  readonly computed: number;
  /** Runs read from the cache or shared with an identical run of this call. */
  readonly cached: number;
}

interface Batch {
  readonly requests: RunRequest[];
  readonly names: string[];
}

async function runBatch(batch: Batch, phase: SuiteProgress['phase'], options: SuiteRunOptions, counts: { computed: number; cached: number }): Promise<RunRecord[]> {
  const cache = options.cache;
  const keys = batch.requests.map((r) => runCacheKey(r, options.backend));
  const lookups = new Map<string, RunRecord | undefined>();
  for (const k of keys) if (cache && !lookups.has(k)) lookups.set(k, readCached(cache, k, options.onCorrupt));
  const records: (RunRecord | undefined)[] = keys.map((k) => lookups.get(k));
  let done = 0;
  let cached = 0;
  const report = (i: number) => options.onProgress?.({ phase, done, total: batch.requests.length, cached, last: batch.names[i] as string });
  records.forEach((r, i) => {
    if (r) { done++; cached++; report(i); }
  });
  // Identical runs (a candidate that is a tuned baseline) are trained once and shared.
  const first = new Map<string, number>();
  const copies = new Map<number, number[]>();
  const todo: number[] = [];
  records.forEach((r, i) => {
    if (r) return;
    const k = keys[i] as string;
    const f = first.get(k);
    if (f === undefined) { first.set(k, i); todo.push(i); copies.set(i, []); } else (copies.get(f) as number[]).push(i);
  });
  const executor = options.executor ?? serialExecutor();
  await executor.run(todo.map((i) => batch.requests[i] as RunRequest), (j, record) => {
    const i = todo[j] as number;
    if (cache) writeCached(cache, keys[i] as string, record);
    for (const c of [i, ...(copies.get(i) as number[])]) {
      records[c] = record;
      done++;
      if (c !== i) cached++;
      report(c);
    }
  }, options.signal);
  counts.computed += todo.length;
  counts.cached += cached;
  return records.map((r, i) => {
    if (!r) throw new LoptError('INTERNAL', `Run ${batch.names[i]} produced no result.`);
    return r;
  });
}

function request(suite: Suite, task: SuiteTask, optimizer: OptimizerRef, seed: number): RunRequest {
  return { task, evalBatches: suite.evalBatches, optimizer, seed };
}

/** Tunes one baseline on one task by random search with successive halving over the training steps (each rung's runs are cached like any run). */
async function tuneHalving(suite: Suite, target: TuneTarget, task: SuiteTask, search: Extract<SearchMethod, { method: 'halving' }>, options: SuiteRunOptions, counts: { computed: number; cached: number }): Promise<TaskTuning> {
  const eta = search.eta ?? 3;
  const minBudget = Math.max(1, Math.round(task.steps * (search.minFraction ?? 1 / eta ** 2)));
  const evaluate = async (hps: readonly Hyperparams[], budget: number): Promise<number[]> => {
    const short: SuiteTask = { ...task, steps: budget };
    const batch: Batch = { requests: [], names: [] };
    for (const hp of hps) {
      for (const seed of suite.tuningSeeds) {
        const ref = target.ref(hp);
        batch.requests.push(request(suite, short, ref, seed));
        batch.names.push(`${task.id} / ${trialName(ref)} / ${budget} steps / tuning seed ${seed}`);
      }
    }
    const records = await runBatch(batch, 'tuning', options, counts);
    const per = suite.tuningSeeds.length;
    return hps.map((_, i) => {
      const finals = records.slice(i * per, (i + 1) * per).map((r) => r.finalTrainLoss);
      return finals.some((f) => !Number.isFinite(f)) ? Infinity : mean(finals);
    });
  };
  const r = await randomSearch(target.space, evaluate, { trials: search.trials, key: search.key, eta, minBudget: Math.min(minBudget, task.steps), maxBudget: task.steps });
  return { trials: r.trials, best: r.best.hyperparams };
}

/** A trial's name in progress lines: its id without the kind prefix. */
function trialName(ref: OptimizerRef): string {
  return ref.id.replace(/^(baseline|spec):/, '');
}

/** What to tune: every baseline (its suite or option space), then every tunable candidate. */
function tuneTargets(suite: Suite, names: readonly string[], options: SuiteRunOptions): TuneTarget[] {
  return [
    ...names.map((name) => ({ name, space: validateSpace(options.spaces?.[name] ?? suite.spaces?.[name] ?? getBaseline(name).space), ref: (hp: Hyperparams) => baselineRef(name, hp) })),
    ...(options.tunables ?? []).map((t) => ({ name: t.label, space: t.space, ref: t.trial })),
  ];
}

async function tune(suite: Suite, targets: readonly TuneTarget[], options: SuiteRunOptions, counts: { computed: number; cached: number }): Promise<Record<string, Record<string, TaskTuning>>> {
  const search = options.search;
  const out: Record<string, Record<string, TaskTuning>> = {};
  if (search?.method === 'halving') {
    for (const target of targets) {
      for (const task of suite.tasks) (out[target.name] ??= {})[task.id] = await tuneHalving(suite, target, task, search, options, counts);
    }
    return out;
  }
  const plan = targets.flatMap((target) => {
    const trials = searchTrials(target.space, options.search ?? { method: 'grid' });
    return suite.tasks.flatMap((task) => trials.map((hp) => ({ name: target.name, task, hp, ref: target.ref(hp) })));
  });
  const batch: Batch = { requests: [], names: [] };
  for (const p of plan) {
    for (const seed of suite.tuningSeeds) {
      batch.requests.push(request(suite, p.task, p.ref, seed));
      batch.names.push(`${p.task.id} / ${trialName(p.ref)} / tuning seed ${seed}`);
    }
  }
  const records = await runBatch(batch, 'tuning', options, counts);
  const per = suite.tuningSeeds.length;
  plan.forEach((p, i) => {
    const finals = records.slice(i * per, (i + 1) * per).map((r) => r.finalTrainLoss);
    const score = finals.some((f) => !Number.isFinite(f)) ? Infinity : mean(finals);
    const byTask = (out[p.name] ??= {});
    const entry = (byTask[p.task.id] ??= { trials: [], best: {} }) as { trials: ScoredTrial[]; best: Hyperparams };
    entry.trials.push({ hyperparams: p.hp, score });
  });
  for (const byTask of Object.values(out)) for (const entry of Object.values(byTask)) (entry as { best: Hyperparams }).best = bestTrial(entry.trials).hyperparams;
  return out;
}

function checkTunables(tunables: unknown, taken: Set<string>): void {
  if (tunables === undefined) return;
  if (!Array.isArray(tunables)) throw new LoptError('INVALID_OPTION', "Option 'tunables' must be an array of { label, space, trial }.", { option: 'tunables' });
  tunables.forEach((t: TunableCandidate, i) => {
    const path = `tunables[${i}]`;
    if (!t || typeof t.label !== 'string' || t.label.length === 0 || typeof t.trial !== 'function') throw new LoptError('INVALID_OPTION', `Option '${path}' must be { label, space, trial(hp) }.`, { option: path });
    if (taken.has(t.label)) throw new LoptError('INVALID_OPTION', `Option '${path}.label' (${t.label}) is already the name of a baseline or the label of another row.`, { option: `${path}.label` });
    taken.add(t.label);
    try {
      validateSpace(t.space);
    } catch (e) {
      throw new LoptError('INVALID_OPTION', `Option '${path}.space': ${(e as Error).message}`, { option: `${path}.space` });
    }
  });
}

function checkOptions(options: SuiteRunOptions): { names: string[]; reference: string } {
  const names = [...(options.baselines ?? ['adam', 'adamw-cosine', 'sgdm'])];
  names.forEach((n) => getBaseline(n));
  const reference = options.reference ?? 'adam';
  if (!names.includes(reference)) throw new LoptError('INVALID_OPTION', `Option 'reference' (${reference}) must be one of the baselines: ${names.join(', ')}.`, { option: 'reference' });
  if (!Array.isArray(options.candidates)) throw new LoptError('INVALID_OPTION', "Option 'candidates' must be an array of optimizer references.", { option: 'candidates' });
  options.candidates.forEach((c, i) => {
    if (!c || typeof c.label !== 'string' || typeof c.id !== 'string') throw new LoptError('INVALID_OPTION', `Option 'candidates[${i}]' must be { label, id, ... }.`, { option: `candidates[${i}]` });
    if (c.tuned !== undefined && !names.includes(c.tuned)) throw new LoptError('INVALID_OPTION', `Option 'candidates[${i}].tuned' (${c.tuned}) must be one of the baselines: ${names.join(', ')}.`, { option: `candidates[${i}].tuned` });
  });
  checkTunables(options.tunables, new Set([...names, ...names.map((n) => `${n} [tuned]`), ...options.candidates.map((c) => c.label)]));
  return { names, reference };
}

/**
 * Runs a suite: tunes every baseline on every task (its search space, on the suite's tuning
 * seeds, which the evaluation never uses), then trains the tuned baselines and the
 * candidates on every task and evaluation seed. Every run is looked up in `options.cache`
 * first and stored there when computed, so an interrupted suite resumes where it stopped.
 */
export async function runSuite(suiteInput: Suite, options: SuiteRunOptions): Promise<SuiteResult> {
  const suite = validateSuite(suiteInput);
  const { names, reference } = checkOptions(options);
  const counts = { computed: 0, cached: 0 };
  const tuning = await tune(suite, tuneTargets(suite, names, options), options, counts);
  const ordered = [reference, ...names.filter((n) => n !== reference)];
  const rowSpecs = [
    ...ordered.map((n) => ({ label: `${n} [tuned]`, baseline: n as string | null, ref: (t: SuiteTask) => baselineRef(n, tuning[n]?.[t.id]?.best ?? {}, `${n} [tuned]`) })),
    ...options.candidates.map((c) => ({ label: c.label, baseline: null, ref: (t: SuiteTask) => (c.tuned ? { ...baselineRef(c.tuned, tuning[c.tuned]?.[t.id]?.best ?? {}), label: c.label } : c) })),
    ...(options.tunables ?? []).map((c) => ({ label: c.label, baseline: null, ref: (t: SuiteTask) => ({ ...c.trial(tuning[c.label]?.[t.id]?.best ?? {}), label: c.label }) })),
  ];
  const batch: Batch = { requests: [], names: [] };
  for (const row of rowSpecs) {
    for (const task of suite.tasks) {
      for (const seed of suite.seeds) {
        batch.requests.push(request(suite, task, row.ref(task), seed));
        batch.names.push(`${task.id} / ${row.label} / seed ${seed}`);
      }
    }
  }
  const records = await runBatch(batch, 'evaluation', options, counts);
  const perRow = suite.tasks.length * suite.seeds.length;
  const rows = rowSpecs.map((row, r): SuiteRow => {
    const runs: Record<string, RunRecord[]> = {};
    suite.tasks.forEach((task, t) => {
      runs[task.id] = records.slice(r * perRow + t * suite.seeds.length, r * perRow + (t + 1) * suite.seeds.length);
    });
    return { label: row.label, baseline: row.baseline, runs };
  });
  return { suite, reference: `${reference} [tuned]`, tuning, rows, computed: counts.computed, cached: counts.cached };
}
