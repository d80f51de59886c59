// `pnpm --filter @lopt/estimators bench:pool-profile`: where an outer step of the local worker
// pool goes, measured in CPU time so that it holds on a loaded machine (other processes change
// wall-clock ratios, not the CPU an estimate or the learner's update costs). The scale bench's
// problem and the quickstart's estimator (2 slots each) on a pool of 1 and of 2 workers, synchronous mode, interleaved; each worker
// reports the wall/CPU of every estimate and its process's total CPU (estimates + messaging +
// (de)serialization + GC), the learner its own CPU per step. In sync mode a step is serial:
// the learner's update, then the slowest worker's share, so the projected idle-machine step
// time is max over workers of (worker CPU in the step) + (learner CPU in the step).
// The first WARM steps (JIT warm-up: a worker's first ~40 estimates cost 2-6x the steady
// ones) are left out. Writes bench/results/pool-profile.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@lopt/backend';
import { disposeTree, key } from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { metaTrain } from '../src/node.ts';
import { poolProblems } from './scale-problem.ts';

const here = dirname(fileURLToPath(import.meta.url));
await initBackend({ backend: 'wasm' });
const WARM = Number(process.env.PROFILE_WARM ?? 40);
const STEPS = WARM + Number(process.env.PROFILE_STEPS ?? 60);
const ROUNDS = Number(process.env.PROFILE_ROUNDS ?? 2);
const SLOTS = 2;

interface Row {
  t: number;
  learnerCpu: number;
  est: Readonly<Record<string, number>>;
}

const cpuMs = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const metric = (row: Row, slot: number, name: string): number => Object.entries(row.est).find(([k]) => k.startsWith(`${slot}:`) && k.endsWith(`/${name}`))?.[1] ?? NaN;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function profile(problem: keyof typeof poolProblems, workers: number) {
  const { learnedOptimizer, estimators } = poolProblems[problem](SLOTS);
  const rows: Row[] = [];
  const r = await metaTrain({
    learnedOptimizer,
    estimators,
    steps: STEPS,
    key: key(1),
    outerOptimizer: adam({ learningRate: 1e-3 }),
    workers: { workers, script: join(here, 'pool-profile-worker.ts'), args: [String(SLOTS), problem], execArgv: ['--import', 'tsx'] },
    onStep: (m) => void rows.push({ t: performance.now(), learnerCpu: cpuMs(), est: m.estimators }),
  });
  disposeTree(r.theta);
  // The last slot of each worker process carries that process's cumulative CPU at the end of its share.
  const lastSlot = Array.from({ length: workers }, (_, w) => Math.max(...Array.from({ length: SLOTS }, (_, i) => i).filter((i) => i % workers === w)));
  const steps = rows.slice(WARM).map((row, j) => {
    const prev = rows[WARM + j - 1] as Row;
    const workerCpu = lastSlot.map((s) => metric(row, s, 'processCpuMs') - metric(prev, s, 'processCpuMs'));
    const estimateCpu = Array.from({ length: SLOTS }, (_, i) => metric(row, i, 'cpuMs'));
    return { wall: row.t - prev.t, learner: row.learnerCpu - prev.learnerCpu, workerCpu, estimateCpu, estimateWall: Array.from({ length: SLOTS }, (_, i) => metric(row, i, 'wallMs')) };
  });
  const projected = mean(steps.map((s) => Math.max(...s.workerCpu) + s.learner));
  return {
    problem,
    workers,
    measuredSteps: steps.length,
    wallMsPerStep: mean(steps.map((s) => s.wall)),
    wallStepsPerSecond: 1000 / mean(steps.map((s) => s.wall)),
    learnerCpuMsPerStep: mean(steps.map((s) => s.learner)),
    estimateCpuMs: mean(steps.flatMap((s) => s.estimateCpu)),
    estimateWallMs: mean(steps.flatMap((s) => s.estimateWall)),
    workerCpuMsPerStep: Array.from({ length: workers }, (_, w) => mean(steps.map((s) => s.workerCpu[w] as number))),
    workerOverheadCpuMsPerStep: mean(steps.map((s) => s.workerCpu.reduce((a, b) => a + b, 0) - s.estimateCpu.reduce((a, b) => a + b, 0))),
    projectedMsPerStep: projected,
    projectedStepsPerSecond: 1000 / projected,
  };
}

const loadavgBefore = loadavg();
type Run = Awaited<ReturnType<typeof profile>>;
const problems = (process.env.PROFILE_PROBLEMS ?? 'quadratic,quickstart').split(',') as (keyof typeof poolProblems)[];
const results: Record<string, { runs: Record<string, Run[]>; projectedRatio: number; wallRatio: number }> = {};
for (const problem of problems) {
  const runs: Record<string, Run[]> = { '1': [], '2': [] };
  for (let i = 0; i < ROUNDS; i++) for (const w of [1, 2]) runs[String(w)]!.push(await profile(problem, w));
  const ratio = (f: (r: Run) => number) => mean(runs['2']!.map(f)) / mean(runs['1']!.map(f));
  results[problem] = { runs, projectedRatio: ratio((r) => r.projectedStepsPerSecond), wallRatio: ratio((r) => r.wallStepsPerSecond) };
}
const out = {
  benchmark: 'worker pool, sync mode, 2 slots of the scale problem: CPU-time profile per outer step, 1 vs 2 workers (interleaved)',
  date: new Date().toISOString(),
  loadavgBefore,
  loadavgAfter: loadavg(),
  warmSteps: WARM,
  problems: results,
};
console.log(JSON.stringify(out, null, 1));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'pool-profile.json'), `${JSON.stringify(out, null, 2)}\n`);
process.exit(0);
