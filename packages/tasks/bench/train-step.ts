// lopt's inner training step on WASM (sample a batch + tf.valueAndGrads of the task loss + one
// Adam step through core's advance + reading the loss) for the models of issue 16, with
// @lopt/backend's matmul rewrites off (every matmul on tfjs-backend-wasm's own kernel) and on,
// interleaved in one process (rounds alternate which goes first). Each block of steps is
// followed by a 512x512 matmul timed on its own: the fraction of that rate a step's matmuls
// reach compares two rates measured under the same load.
// Run: pnpm bench:train (in this package). Writes bench-results/train-step.json, prints a table.
import { loadavg } from 'node:os';
import { initBackend } from '@lopt/backend';
import { adamStepper } from '../src/test-helpers.ts';
import { machine, matmul512, matmulColumns, matMulRewriteToggle, median, writeReport } from './bench-io.ts';
import { imageMlpTask } from '../src/index.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const STEPS_PER_ROUND = 6;

const MODELS = [
  { name: 'MLP 784-128-10, batch 128', imageSize: 28, hidden: [128], batchSize: 128 },
  { name: 'MLP 64-32-10, batch 64', imageSize: 8, hidden: [32], batchSize: 64 },
  { name: 'softmax 64-10, batch 64', imageSize: 8, hidden: [], batchSize: 64 },
] as const;

const loadBefore = loadavg();
const info = await initBackend({ backend: 'wasm' });
const rewrites = matMulRewriteToggle();
const setRewrites = rewrites.set;
const reference = matmul512();

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
      mm.push(reference.time());
    }
  }
  setRewrites(true);
  for (const v of variants) v.stepper.dispose();
  const [onMs, offMs] = variants.map((v) => median(v.times)) as [number, number];
  rows.push({
    model: m.name,
    rewritesOffMs: offMs,
    rewritesOnMs: onMs,
    speedup: offMs / onMs,
    ...matmulColumns(m, mm, { Off: offMs, On: onMs }),
    stepsPerVariant: variants[0]!.times.length,
  });
  console.error(`${m.name}: off ${offMs.toFixed(2)} ms, on ${onMs.toFixed(2)} ms`);
}
reference.dispose();

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
