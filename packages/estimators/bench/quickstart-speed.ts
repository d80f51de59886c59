// `pnpm --filter @lopt/estimators bench:quickstart-speed`: CPU time and wall time per outer
// step of the quickstart configuration (apps/cli presets.ts `quickstart`: PES, 8 softmax
// regressions of 8x8 MNIST x 2 antithetic copies, unrolls of 10, adafac), by path (the
// vectorized unroll and the per-task loop), in child processes that run the BUILT packages
// (dist: run `pnpm build` first). With BENCH_BASELINE=<path of another built checkout> the
// same measurement runs there too, interleaved round by round, so that one run compares this
// checkout with e.g. main. CPU time is the number to read on a loaded machine (other
// processes stretch wall time, not the CPU a step needs). Writes bench/results/quickstart-speed.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARM = Number(process.env.BENCH_WARM ?? 15);
const STEPS = Number(process.env.BENCH_STEPS ?? 30);

// Runs in the child, from the checkout's packages/estimators (its packages resolve from there).
const MEASURE = `
import { initBackend } from '@lopt/backend';
import { disposeTree, key } from '@lopt/core';
import { adafacMlpLOpt } from '@lopt/learned';
import { adam } from '@lopt/optimizers';
import { imageMlpFamily } from '@lopt/tasks';
import { constantTruncation, lOptTruncatedStep, metaTrain, truncatedPES } from '@lopt/estimators';
await initBackend({ backend: 'wasm' });
const [vectorize, warm, steps] = [process.env.Q_VECTORIZE === '1', Number(process.env.Q_WARM), Number(process.env.Q_STEPS)];
const taskFamily = imageMlpFamily({ maxLayers: 0, imageSizeRange: [8, 8], batchSizeRange: [64, 64] });
const learnedOptimizer = adafacMlpLOpt({ stepMult: 0.03, expMult: 1 });
const truncatedStep = lOptTruncatedStep({ taskFamily, learnedOptimizer, truncation: constantTruncation(100), numTasks: 8, randomInitialIterationOffset: 100, vectorize });
const estimators = [truncatedPES({ truncatedStep, unrollLength: 10, std: 0.01 })];
let t0 = 0, c0 = 0;
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const r = await metaTrain({ learnedOptimizer, estimators, outerOptimizer: adam({ learningRate: 0.01 }), steps: warm + steps, key: key(1), onStep: (m) => { if (m.step === warm) { t0 = performance.now(); c0 = cpu(); } } });
const out = { cpuMsPerStep: (cpu() - c0) / steps, wallMsPerStep: (performance.now() - t0) / steps, finalLoss: r.history[r.history.length - 1].meanLoss };
disposeTree(r.theta);
console.log('RESULT ' + JSON.stringify(out));
`;

interface Measured {
  cpuMsPerStep: number;
  wallMsPerStep: number;
  finalLoss: number;
}

function measure(checkout: string, vectorize: boolean): Measured {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', MEASURE], {
    cwd: join(checkout, 'packages', 'estimators'),
    env: { ...process.env, Q_VECTORIZE: vectorize ? '1' : '0', Q_WARM: String(WARM), Q_STEPS: String(STEPS) },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (line === undefined) throw new Error(`no result from ${checkout}:\n${out}`);
  return JSON.parse(line.slice('RESULT '.length)) as Measured;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const checkouts: Record<string, string> = { current: resolve(here, '..', '..', '..') };
if (process.env.BENCH_BASELINE) checkouts.baseline = resolve(process.env.BENCH_BASELINE);
const loadavgBefore = loadavg();
const rounds: { checkout: string; path: string; load1: number; cpuMsPerStep: number; wallMsPerStep: number; finalLoss: number }[] = [];
for (let i = 0; i < ROUNDS; i++) {
  for (const [name, dir] of Object.entries(checkouts)) {
    for (const vectorize of [true, false]) {
      const m = measure(dir, vectorize);
      rounds.push({ checkout: name, path: vectorize ? 'vectorized' : 'perTask', load1: loadavg()[0] as number, ...m });
      console.log(rounds[rounds.length - 1]);
    }
  }
}
const summary: Record<string, { cpuMsPerStep: number; wallMsPerStep: number; cpuStepsPerSecond: number }> = {};
for (const name of Object.keys(checkouts)) {
  for (const path of ['vectorized', 'perTask']) {
    const rs = rounds.filter((r) => r.checkout === name && r.path === path);
    const cpu = median(rs.map((r) => r.cpuMsPerStep));
    summary[`${name}/${path}`] = { cpuMsPerStep: cpu, wallMsPerStep: median(rs.map((r) => r.wallMsPerStep)), cpuStepsPerSecond: 1000 / cpu };
  }
}
const ratio = (a: string, b: string) => (summary[b] && summary[a] ? (summary[b] as { cpuMsPerStep: number }).cpuMsPerStep / (summary[a] as { cpuMsPerStep: number }).cpuMsPerStep : undefined);
const result = {
  benchmark: 'quickstart outer step (PES, 8 tasks x 2, unroll 10, adafac; WASM): CPU and wall ms per outer step by path and checkout, child processes interleaved',
  date: new Date().toISOString(),
  loadavgBefore,
  loadavgAfter: loadavg(),
  config: { warmSteps: WARM, measuredSteps: STEPS, rounds: ROUNDS, baseline: process.env.BENCH_BASELINE ?? null },
  summary,
  speedupPerCpuSecond: {
    currentVectorizedVsCurrentPerTask: ratio('current/vectorized', 'current/perTask'),
    currentVectorizedVsBaselineVectorized: ratio('current/vectorized', 'baseline/vectorized'),
    currentVectorizedVsBaselinePerTask: ratio('current/vectorized', 'baseline/perTask'),
  },
  rounds,
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'quickstart-speed.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ summary, speedupPerCpuSecond: result.speedupPerCpuSecond }, null, 2));
