// `pnpm --filter @lopt/cli bench:redis` (issue 17's distributed acceptance): the quickstart's
// meta-training (adafacMlpLOpt, PES on 8x8-MNIST softmax regression, 8 tasks per outer step,
// here as 4 estimators of 2 tasks so that 4 workers share them) for BENCH_STEPS (200) outer
// steps and BENCH_SEEDS (3) seeds, run two ways through the built CLI:
//   pool:  lopt meta-train --workers 4                      (one machine, 4 worker processes)
//   redis: lopt meta-train --redis URL + 4 × lopt worker    (1 learner + 4 workers on localhost)
// and a faults run over Redis (seed 0): a worker SIGKILLed at outer step 60, a NaN worker and a
// garbage worker throughout, Redis killed and restarted empty at outer step 120. Reports the
// final validation loss (8 validation tasks, 100 inner steps) per run, mean ± SE per mode, the
// difference against 2 SE, and the faults run's loss against the fault-free range and its
// rejection counts. Writes bench/results/redis-vs-pool.json. Needs `pnpm build` and redis-server.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lopt/backend';
import { treeMap } from '@lopt/core';
import { runRedisWorker } from '@lopt/estimators/node';
import { PRESETS } from '../src/presets.ts';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'dist', 'cli.js');
const estimatorsDir = join(here, '..', '..', '..', 'packages', 'estimators');
const STEPS = Number(process.env.BENCH_STEPS ?? 200);
const SEEDS = Number(process.env.BENCH_SEEDS ?? 3);
const KILL_AT = Math.round(STEPS * 0.3);
const RESTART_AT = Math.round(STEPS * 0.6);
const work = mkdtempSync(join(tmpdir(), 'lopt-redis-vs-pool-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The quickstart config with `seed`, STEPS outer steps and 4 estimators of 2 tasks each. */
function config(seed: number, name: string): string {
  const q = PRESETS.quickstart?.config as Record<string, unknown>;
  const pes = (q.estimators as unknown[])[0];
  const c = { ...q, name, seed, steps: STEPS, checkpointEvery: 50, truncatedStep: { ...(q.truncatedStep as object), numTasks: 2 }, estimators: [pes, pes, pes, pes] };
  delete (c as { eval?: unknown }).eval;
  const path = join(work, `${name}.json`);
  writeFileSync(path, JSON.stringify(c));
  return path;
}

function lopt(args: string[], cwd = work): ChildProcess {
  return spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

function finished(p: ChildProcess, what: string): Promise<void> {
  let err = '';
  p.stderr?.on('data', (d: Buffer) => void (err = (err + d.toString()).slice(-2000)));
  return new Promise((resolve, reject) => p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${what} exited ${code}: ${err}`)))));
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A redis-server of the bench's own (no persistence: a restart loses everything). */
async function redisServer(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve) => child.stdout?.on('data', (d: Buffer) => d.toString().includes('Ready to accept') && resolve()));
  return child;
}

function rows(dir: string): Record<string, number>[] {
  const path = join(dir, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim().startsWith('{') && l.trim().endsWith('}')).map((l) => JSON.parse(l) as Record<string, number>);
}

function summary(dir: string, seconds: number) {
  const r = rows(dir);
  const last = r.at(-1) ?? {};
  const validation = r.filter((x) => 'validationLoss' in x);
  const counters = Object.fromEntries(Object.entries(last).filter(([k]) => k.startsWith('source/')));
  return { finalValidationLoss: validation.at(-1)?.validationLoss ?? NaN, validationSteps: validation.map((x) => x.step), steps: last.step, seconds, counters };
}

async function poolRun(seed: number) {
  const out = join(work, `pool-${seed}`);
  const t0 = performance.now();
  await finished(lopt(['meta-train', '--config', config(seed, `pool-${seed}`), '--workers', '4', '--no-eval', '--no-report', '-o', out]), 'pool learner');
  return summary(out, (performance.now() - t0) / 1000);
}

/** The faults of the faults run: what happens at which outer step. */
interface Faults {
  readonly killWorkerAt: number;
  readonly restartRedisAt: number;
}

async function redisRun(seed: number, port: number, faults?: Faults) {
  const name = `redis-${seed}${faults ? '-faults' : ''}`;
  const url = `redis://127.0.0.1:${port}`;
  let server = await redisServer(port);
  const cfg = config(seed, name);
  const workers = Array.from({ length: 4 }, (_, i) => lopt(['worker', '--redis', url, '--config', cfg, '--run', name, '--id', `${name}-w${i}`]));
  const bad: { close(): Promise<void> }[] = [];
  const garbage: ChildProcess[] = [];
  if (faults) {
    // A NaN worker (well-formed estimates of NaN) and a garbage worker (malformed results).
    bad.push(await runRedisWorker({ redis: url, run: name, estimators: [], id: 'nan-worker' }, (theta, job, id) => ({ index: job.index, version: job.version, worker: id, grad: treeMap((t) => tf.fill(t.shape, NaN), theta), meanLoss: NaN, metrics: {} })));
    garbage.push(spawn(process.execPath, ['--import', 'tsx', join(estimatorsDir, 'test', 'fixtures', 'redis-garbage.ts'), url, name], { cwd: estimatorsDir, stdio: 'ignore' }));
  }
  const out = join(work, name);
  const t0 = performance.now();
  const learner = lopt(['meta-train', '--config', cfg, '--redis', url, '--run', name, '--no-eval', '--no-report', '-o', out]);
  const done = finished(learner, `${name} learner`);
  const events: string[] = [];
  let running = true;
  const watch = (async () => {
    while (running && faults) {
      const step = rows(out).at(-1)?.step ?? 0;
      if (step >= faults.killWorkerAt && !events.some((e) => e.startsWith('worker'))) {
        workers[0]?.kill('SIGKILL');
        events.push(`worker 0 SIGKILLed after outer step ${step}`);
      }
      if (step >= faults.restartRedisAt && !events.some((e) => e.startsWith('Redis'))) {
        server.kill('SIGKILL');
        await new Promise((r) => server.once('exit', r));
        server = await redisServer(port);
        events.push(`Redis killed and restarted empty after outer step ${step}`);
      }
      await sleep(100);
    }
  })();
  try {
    await done;
  } finally {
    running = false;
    await watch;
    for (const w of [...workers, ...garbage]) w.kill('SIGTERM');
    await Promise.all(bad.map((b) => b.close()));
    server.kill('SIGKILL');
  }
  return { ...summary(out, (performance.now() - t0) / 1000), events };
}

function stats(xs: number[]) {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
  return { values: xs, mean, se: sd / Math.sqrt(xs.length) };
}

await initBackend({ backend: 'cpu' });
const load0 = loadavg();
const date = new Date().toISOString();
const port = await freePort();
const runs: Record<string, unknown>[] = [];
const pool: number[] = [];
const redis: number[] = [];
for (let seed = 0; seed < SEEDS; seed++) {
  const p = await poolRun(seed);
  pool.push(p.finalValidationLoss);
  runs.push({ mode: 'pool', seed, ...p, loadavg: loadavg() });
  console.log('pool', seed, p);
  const r = await redisRun(seed, port);
  redis.push(r.finalValidationLoss);
  runs.push({ mode: 'redis', seed, ...r, loadavg: loadavg() });
  console.log('redis', seed, r);
}
const f = await redisRun(0, port, { killWorkerAt: KILL_AT, restartRedisAt: RESTART_AT });
runs.push({ mode: 'redis-faults', seed: 0, ...f, loadavg: loadavg() });
console.log('faults', f);
const [ps, rs] = [stats(pool), stats(redis)];
const all = [...pool, ...redis];
const range = [Math.min(...all), Math.max(...all)];
const result = {
  date,
  loadavgBefore: load0,
  loadavgAfter: loadavg(),
  steps: STEPS,
  seeds: SEEDS,
  config: 'quickstart preset, steps 200, 4 truncatedPES estimators x 2 tasks (8 tasks per outer step, as the quickstart), validation every 50 steps on 8 tasks x 100 inner steps',
  pool: ps,
  redis: rs,
  difference: { redisMinusPool: rs.mean - ps.mean, twoSE: 2 * Math.hypot(ps.se, rs.se), withinNoise: Math.abs(rs.mean - ps.mean) <= 2 * Math.hypot(ps.se, rs.se) },
  faults: { finalValidationLoss: f.finalValidationLoss, faultFreeRange: range, insideRange: f.finalValidationLoss >= range[0]! && f.finalValidationLoss <= range[1]!, counters: f.counters, events: f.events },
  runs,
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'redis-vs-pool.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ pool: ps, redis: rs, difference: result.difference, faults: result.faults }, null, 2));
process.exit(0);
