// lopt's inner training step on WASM (sample a batch + tf.valueAndGrads of the task loss + one
// Adam step through core's advance + reading the loss) for the models of issue 16, with
// @lopt/backend's matmul rewrites off (every matmul on tfjs-backend-wasm's own kernel) and on,
// interleaved in one process (rounds alternate which goes first). Each block of steps is
// followed by a 512x512 matmul timed on its own: the fraction of that rate a step's matmuls
// reach compares two rates measured under the same load.
// Run: pnpm bench:train (in this package). Writes bench-results/train-step.json, prints a table.
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lopt/backend';
import { adamStepper } from '../src/test-helpers.ts';
import { machine, matMulRewriteToggle, median, writeReport } from './bench-io.ts';
import { imageMlpTask } from '../src/index.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const STEPS_PER_ROUND = 6;

const MODELS = [
  { name: 'MLP 784-128-10, batch 128', imageSize: 28, hidden: [128], batchSize: 128 },
  { name: 'MLP 64-32-10, batch 64', imageSize: 8, hidden: [32], batchSize: 64 },
  { name: 'softmax 64-10, batch 64', imageSize: 8, hidden: [], batchSize: 64 },
] as const;

/** Matmul FLOPs of one step: forward and weight gradient per layer, input gradient for all but the first. */
function stepFlops(sizes: readonly number[], batch: number): number {
  return sizes.slice(1).reduce((s, out, i) => s + (i === 0 ? 2 : 3) * 2 * batch * sizes[i]! * out, 0);
}

const loadBefore = loadavg();
const info = await initBackend({ backend: 'wasm' });
const rewrites = matMulRewriteToggle();
const setRewrites = rewrites.set;
const a512 = tf.randomUniform([512, 512], -1, 1, 'float32', 1);
const b512 = tf.randomUniform([512, 512], -1, 1, 'float32', 2);
const matmul512 = (): number => {
  const t0 = performance.now();
  tf.tidy(() => tf.matMul(a512, b512).dataSync());
  return performance.now() - t0;
};

const rows: Record<string, number | string>[] = [];
for (const m of MODELS) {
  const variants = [true, false].map((on) => ({ on, stepper: adamStepper(imageMlpTask(m), { learningRate: 1e-3 }), times: [] as number[] }));
  const mm: number[] = [];
  for (const v of variants) {
    setRewrites(v.on);
    for (let i = 0; i < 3; i++) v.stepper.step(); // warm-up
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
      setRewrites(v.on);
      for (let s = 0; s < STEPS_PER_ROUND; s++) {
        const t0 = performance.now();
        v.stepper.step();
        v.times.push(performance.now() - t0);
      }
      mm.push(matmul512());
    }
  }
  setRewrites(true);
  for (const v of variants) v.stepper.dispose();
  const [onMs, offMs] = variants.map((v) => median(v.times)) as [number, number];
  const rate = (2 * 512 ** 3) / (median(mm) / 1000);
  const flops = stepFlops([m.imageSize * m.imageSize, ...m.hidden, 10], m.batchSize);
  rows.push({
    model: m.name,
    rewritesOffMs: offMs,
    rewritesOnMs: onMs,
    speedup: offMs / onMs,
    stepMatmulFlops: flops,
    matmul512Ms: median(mm),
    fractionOfMatmulRateOff: flops / (offMs / 1000) / rate,
    fractionOfMatmulRateOn: flops / (onMs / 1000) / rate,
    stepsPerVariant: variants[0]!.times.length,
  });
  console.error(`${m.name}: off ${offMs.toFixed(2)} ms, on ${onMs.toFixed(2)} ms`);
}
tf.dispose([a512, b512]);

const report = {
  benchmark: '@lopt/tasks train-step',
  date: new Date().toISOString(),
  loadAverage: { before: loadBefore, after: loadavg() },
  machine: machine(),
  backend: { name: info.name, simd: info.simd, threads: info.threads, matMulRewrites: rewrites.layouts },
  note: 'Medians over interleaved rounds. "off": @lopt/backend matmul rewrites disabled (tfjs-backend-wasm\'s own BatchMatMul); "on": as the probe set them. fractionOfMatmulRate = step matmul FLOPs / step time / the 512x512 matmul rate timed between blocks of steps.',
  results: rows,
};
const out = writeReport('train-step', report);
const f = (v: number | string | undefined, d = 2): string => (v as number).toFixed(d);
console.log('| model | rewrites off (ms) | rewrites on (ms) | speed-up | fraction of 512x512 matmul rate (off → on) |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.model} | ${f(r.rewritesOffMs)} | ${f(r.rewritesOnMs)} | ${f(r.speedup)}x | ${f(r.fractionOfMatmulRateOff, 3)} → ${f(r.fractionOfMatmulRateOn, 3)} |`);
console.log(`\nload average before ${loadBefore.map((v) => v.toFixed(2)).join(' ')}, after ${loadavg().map((v) => v.toFixed(2)).join(' ')}; 512x512 matmul ${((2 * 512 ** 3) / (Number(rows[0]!.matmul512Ms) * 1e6)).toFixed(1)} GFLOP/s`);
console.log(`written: ${out}`);
