// Benchmark: the quickstart configuration (apps/cli presets.ts `quickstart`) with the per-task
// loop (vectorize: false) and the vectorized unroll, interleaved in one run on WASM; outer
// steps per second (PES estimate + outer Adam step) and a short meta-training comparison
// (same outer steps, both paths: validation loss of the trained theta on held-out tasks).
// Writes bench/results/vectorized.json. Run: pnpm exec tsx bench/vectorized.ts (in
// packages/estimators), best under `taskset -c 0` (one core).
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@lopt/backend';
import { disposeTree, foldIn, key as makeKey } from '@lopt/core';
import { adafacMlpLOpt } from '@lopt/learned';
import { adam } from '@lopt/optimizers';
import { imageMlpFamily } from '@lopt/tasks';
import { constantTruncation, emptyUnrollTimings, lOptTruncatedStep, metaTrain, truncatedPES } from '../src/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const STEPS = Number(process.env.BENCH_STEPS ?? 10);
const META_STEPS = Number(process.env.BENCH_META_STEPS ?? 40);
const backend = await initBackend({ backend: 'wasm' });
const family = imageMlpFamily({ maxLayers: 0, imageSizeRange: [8, 8], batchSizeRange: [64, 64] });
const lopt = adafacMlpLOpt({ stepMult: 0.03, expMult: 1 });

function estimator(vectorize: boolean, timings = emptyUnrollTimings()) {
  const step = lOptTruncatedStep({ taskFamily: family, learnedOptimizer: lopt, truncation: constantTruncation(100), numTasks: 8, randomInitialIterationOffset: 100, vectorize, timings });
  return truncatedPES({ truncatedStep: step, unrollLength: 10, std: 0.01 });
}

async function outerStepsPerSecond(vectorize: boolean, steps: number): Promise<number> {
  const theta = lopt.init(makeKey(0));
  const t0 = performance.now();
  const r = await metaTrain({ learnedOptimizer: lopt, estimators: [estimator(vectorize)], outerOptimizer: adam({ learningRate: 0.01 }), steps, key: makeKey(1), theta });
  const s = steps / ((performance.now() - t0) / 1000);
  disposeTree([r.theta, theta]);
  return s;
}

/** Mean normalized training loss over 100-step inner trainings with `theta` on 8 held-out tasks (fresh keys), per-task loop. */
function validationLoss(theta: Parameters<typeof lopt.optimizer>[0]): number {
  const step = lOptTruncatedStep({ taskFamily: family, learnedOptimizer: lopt, truncation: constantTruncation(100), numTasks: 8, vectorize: false });
  const pes = truncatedPES({ truncatedStep: step, unrollLength: 100, std: 1e-9 });
  const ws = pes.init(theta, makeKey(999));
  const r = pes.estimate(theta, ws, makeKey(1000));
  disposeTree(r.grad);
  return r.meanLoss;
}

await outerStepsPerSecond(true, 2);
await outerStepsPerSecond(false, 2);
const rounds: { perTask: number; vectorized: number; load: number }[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const vectorized = await outerStepsPerSecond(true, STEPS);
  const perTask = await outerStepsPerSecond(false, STEPS);
  rounds.push({ perTask, vectorized, load: loadavg()[0] as number });
}
const meta: Record<string, { validationLoss: number; seconds: number }> = {};
for (const vectorize of [true, false]) {
  const theta = lopt.init(makeKey(0));
  const t0 = performance.now();
  const r = await metaTrain({ learnedOptimizer: lopt, estimators: [estimator(vectorize)], outerOptimizer: adam({ learningRate: 0.01 }), steps: META_STEPS, key: makeKey(1), theta });
  meta[vectorize ? 'vectorized' : 'perTask'] = { validationLoss: validationLoss(r.theta as never), seconds: (performance.now() - t0) / 1000 };
  disposeTree([r.theta, theta]);
}
const result = {
  benchmark: 'quickstart PES outer steps per second: per-task loop vs vectorized (interleaved)',
  backend,
  date: new Date().toISOString(),
  config: { numTasks: 8, antithetic: 2, unrollLength: 10, family: 'imageMlpFamily maxLayers 0, 8x8, batch 64', learnedOptimizer: 'adafacMlpLOpt stepMult 0.03 expMult 1', stepsPerRound: STEPS },
  rounds: rounds.map((r) => ({ ...r, ratio: r.vectorized / r.perTask })),
  medianRatio: rounds.map((r) => r.vectorized / r.perTask).sort((a, b) => a - b)[Math.floor(rounds.length / 2)],
  metaTraining: { outerSteps: META_STEPS, ...meta },
  loadAverage: loadavg(),
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'vectorized.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
