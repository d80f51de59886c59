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
import { ISSUE16_MODELS, interleave, loadLine, matmul512, matmulColumns, matMulRewriteToggle, reportHeader, variant, writeReport } from './bench-io.ts';
import { imageMlpTask } from '../src/index.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const STEPS_PER_ROUND = 6;

const loadBefore = loadavg();
const info = await initBackend({ backend: 'wasm' });
const rewrites = matMulRewriteToggle();
const reference = matmul512();

const rows: Record<string, number | string>[] = [];
for (const m of ISSUE16_MODELS) {
  const mm: number[] = [];
  const variants = [true, false].map((on) => variant(adamStepper(imageMlpTask(m), { learningRate: 1e-3 }), () => rewrites.set(on)));
  const [on, off] = interleave(variants, { rounds: ROUNDS, steps: STEPS_PER_ROUND, afterBlock: () => mm.push(reference.time()) });
  rewrites.set(true);
  rows.push({
    model: m.name,
    rewritesOffMs: off!.ms,
    rewritesOnMs: on!.ms,
    speedup: off!.ms / on!.ms,
    ...matmulColumns(m, mm, { Off: off!.ms, On: on!.ms }),
    stepsPerVariant: variants[0]!.times.length,
  });
  console.error(`${m.name}: off ${off!.ms.toFixed(2)} ms, on ${on!.ms.toFixed(2)} ms`);
}
reference.dispose();

const report = {
  ...reportHeader('@lopt/tasks train-step', loadBefore, { name: info.name, simd: info.simd, threads: info.threads, matMulRewrites: rewrites.layouts }),
  note: 'Medians over interleaved rounds. "off": @lopt/backend matmul rewrites disabled (tfjs-backend-wasm\'s own BatchMatMul); "on": as the probe set them. fractionOfMatmulRate = step matmul FLOPs / step time / the 512x512 matmul rate timed between blocks of steps.',
  results: rows,
};
const out = writeReport('train-step', report);
const f = (v: number | string | undefined, d = 2): string => (v as number).toFixed(d);
console.log('| model | rewrites off (ms) | rewrites on (ms) | speed-up | fraction of 512x512 matmul rate (off → on) |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.model} | ${f(r.rewritesOffMs)} | ${f(r.rewritesOnMs)} | ${f(r.speedup)}x | ${f(r.fractionOfMatmulRateOff, 3)} → ${f(r.fractionOfMatmulRateOn, 3)} |`);
console.log(`\n${loadLine(loadBefore)}; 512x512 matmul ${((2 * 512 ** 3) / (Number(rows[0]!.matmul512Ms) * 1e6)).toFixed(1)} GFLOP/s`);
console.log(`written: ${out}`);
