// `pnpm --filter @lopt/estimators bench:scale`: (1) outer steps/s of the same 2-slot run on a
// pool of 1 and of 2 worker processes (interleaved); (2) a scaling simulation over Redis: 64
// workers whose estimate is a sleep of the measured single-estimate time, reporting estimates/s at
// the learner, the theta broadcast cost and Redis's CPU time per estimate (INFO cpu). Writes
// bench/results/scale.json (SCALE_OUT=name writes bench/results/<name>.json; SCALE_POOL=0 skips
// part 1 and SCALE_SLEEP_MS fixes the sleep, for back-to-back runs of the simulation).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Redis } from 'ioredis';
import { initBackend } from '@lopt/backend';
import { disposeTree, foldIn, key, treeZerosLike, type TensorTree } from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { metaTrain, redisEstimateSource, runRedisWorker } from '../src/node.ts';
import { poolProblems, scaleProblem } from './scale-problem.ts';

const here = dirname(fileURLToPath(import.meta.url));
await initBackend({ backend: (process.env.LOPT_BACKEND as 'wasm' | 'cpu' | undefined) ?? 'wasm' });
// Outer steps per pool run, and the first WARM of them left out: a worker's first ~40 estimates
// run 2-6x slower (JIT warm-up), and a worker of a 2-worker pool reaches its 40th estimate
// after twice as many steps as the single worker, so a short warm-up understates 2 workers.
const STEPS = Number(process.env.SCALE_STEPS ?? 100);
const WARM = Number(process.env.SCALE_WARM ?? 40);
if (!(STEPS >= WARM + 2)) throw new Error(`SCALE_STEPS (${STEPS}) must exceed SCALE_WARM (${WARM}) by at least 2.`);

// The pool's problem: 'quadratic' (default, as before) or 'quickstart' (the preset's estimator).
const POOL_PROBLEM = (process.env.SCALE_POOL_PROBLEM ?? 'quadratic') as keyof typeof poolProblems;

async function poolRate(workers: number): Promise<number> {
  const { learnedOptimizer, estimators } = poolProblems[POOL_PROBLEM](2);
  const times: number[] = [];
  const r = await metaTrain({ learnedOptimizer, estimators, steps: STEPS, key: key(1), outerOptimizer: adam({ learningRate: 1e-3 }), workers: { workers, script: join(here, 'scale-worker.ts'), args: ['2', POOL_PROBLEM], execArgv: ['--import', 'tsx'] }, onStep: () => void times.push(performance.now()) });
  disposeTree(r.theta);
  return (STEPS - WARM) / (((times[STEPS - 1] as number) - (times[WARM - 1] as number)) / 1000);
}

function singleEstimateMs(): number {
  const { learnedOptimizer, estimators } = scaleProblem(1);
  const e = estimators[0]!;
  const theta = learnedOptimizer.init(key(0));
  let s = e.init(theta, key(1));
  const t: number[] = [];
  for (let i = 0; i < 8; i++) {
    const t0 = performance.now();
    const r = e.estimate(theta, s, foldIn(key(2), i));
    t.push(performance.now() - t0);
    disposeTree(r.grad);
    s = r.state;
  }
  disposeTree(theta);
  return t.slice(2).reduce((a, b) => a + b, 0) / 6;
}

async function simulate(url: string, sleepMs: number, workers: number) {
  const { learnedOptimizer, estimators } = scaleProblem(1);
  const run = `sim${Date.now()}`;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const handles = await Promise.all(Array.from({ length: workers }, (_, i) => runRedisWorker({ redis: url, run, estimators, id: `sim${i}` }, async (theta, job, id) => {
    await sleep(sleepMs);
    return { index: job.index, version: job.version, worker: id, grad: treeZerosLike(theta as TensorTree), meanLoss: 1, metrics: {} };
  })));
  const source = redisEstimateSource({ redis: url, run, estimators: 1, metaBatch: workers, staleness: 1, prefetch: workers });
  const steps = Number(process.env.SCALE_SIM_STEPS ?? 30);
  const cpu0 = await redisCpuSeconds(url);
  const t0 = performance.now();
  const r = await metaTrain({ learnedOptimizer, estimators, steps, key: key(3), source });
  const seconds = (performance.now() - t0) / 1000;
  const stats = source.stats;
  const redisCpuMsPerEstimate = ((await redisCpuSeconds(url)) - cpu0) * 1000 / stats.accepted;
  await source.close();
  await Promise.all(handles.map((h) => h.close()));
  disposeTree(r.theta);
  return { workers, sleepMs, steps, estimatesPerSecond: stats.accepted / seconds, idealEstimatesPerSecond: (workers * 1000) / sleepMs, outerStepsPerSecond: steps / seconds, broadcastMsPerStep: stats.broadcastMs / steps, redisCpuMsPerEstimate, liveWorkers: stats.liveWorkers, rejected: stats.rejected };
}

/** Redis's own CPU time (user + sys) so far, from INFO cpu. */
async function redisCpuSeconds(url: string): Promise<number> {
  const c = new Redis(url);
  const info = await c.info('cpu');
  c.disconnect();
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

async function startRedis(): Promise<{ url: string; stop: () => void }> {
  if (process.env.LOPT_TEST_REDIS_URL) return { url: process.env.LOPT_TEST_REDIS_URL, stop: () => undefined };
  const port = 20000 + (process.pid % 20000);
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill() };
}

const load0 = loadavg();
const rates: Record<string, number[]> = { '1': [], '2': [] };
if (process.env.SCALE_POOL !== '0') for (let rep = 0; rep < 2; rep++) for (const w of [1, 2]) rates[String(w)]!.push(await poolRate(w));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const pool = { stepsPerSecond1: rates['1'], stepsPerSecond2: rates['2'], ratio: mean(rates['2']!) / mean(rates['1']!) };
console.log('pool', pool);
const estimateMs = Number(process.env.SCALE_SLEEP_MS ?? 0) || singleEstimateMs();
const redis = await startRedis();
const sim = await simulate(redis.url, estimateMs, 64);
redis.stop();
console.log('simulation', sim);
const out = { date: new Date().toISOString(), loadavgBefore: load0, loadavgAfter: loadavg(), backend: tf.getBackend(), pool: { problem: POOL_PROBLEM, steps: STEPS, warmSteps: WARM, ...pool }, singleEstimateMs: estimateMs, simulation: sim };
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', `${process.env.SCALE_OUT ?? 'scale'}.json`), `${JSON.stringify(out, null, 2)}\n`);
process.exit(0);
