// lopt's inner training step as lopt runs it (sample a batch, tf.valueAndGrads of the image-MLP
// task loss, one step of @lopt/optimizers' adam, fused kernel included, through core's advance,
// read the loss) on WASM, before and after issue 16, interleaved in one process: "before" forces
// the loss onto tfjs autodiff with @lopt/backend's matmul rewrites off; "now" is the task as
// shipped. Adam is lopt's own in both (its fused kernel predates issue 16). Each block of steps
// is timed in wall and CPU time (process.cpuUsage) and followed by a 512x512 matmul timed on its
// own: the fraction of that rate a step's matmuls reach compares two rates under the same load.
// Run: pnpm bench:inner (in this package). Writes packages/tasks/bench-results/inner-step.json (the shared bench-io).
import { loadavg } from 'node:os';
import { initBackend } from '@lopt/backend';
import type { Task } from '@lopt/core';
import { ISSUE16_MODELS, interleave, loadLine, matmul512, matmulColumns, matMulRewriteToggle, reportHeader, variant, withPath, writeReport, type VariantResult } from '../../tasks/bench/bench-io.ts';
import { adamStepper } from '../../tasks/src/test-helpers.ts';
import { adam } from '../src/index.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const STEPS = 8;

const loadBefore = loadavg();
const info = await initBackend({ backend: 'wasm' });
const rewrites = matMulRewriteToggle().set;
const reference = matmul512();
const stepper = (task: Task) => adamStepper(task, { learningRate: 1e-3, optimizer: adam({ learningRate: 1e-3 }) });
const rows: Record<string, number | string>[] = [];
for (const m of ISSUE16_MODELS) {
  const mm: number[] = [];
  const vs = [variant(stepper(withPath(m, 'autodiff')), () => rewrites(false)), variant(stepper(withPath(m, 'task')), () => rewrites(true))];
  const [before, now] = interleave(vs, { rounds: ROUNDS, steps: STEPS, afterBlock: () => mm.push(reference.time()) }) as [VariantResult, VariantResult];
  rewrites(true);
  rows.push({
    model: m.name,
    beforeMs: before.ms,
    nowMs: now.ms,
    speedup: before.ms / now.ms,
    beforeCpuMs: before.cpuMs,
    nowCpuMs: now.cpuMs,
    cpuSpeedup: before.cpuMs / now.cpuMs,
    ...matmulColumns(m, mm, { Before: before.ms, Now: now.ms }),
    finalLossBefore: before.loss,
    finalLossNow: now.loss,
    stepsPerVariant: vs[0]!.times.length,
  });
  console.error(`${m.name}: before ${before.ms.toFixed(3)} ms, now ${now.ms.toFixed(3)} ms (load ${loadavg()[0]!.toFixed(2)})`);
}
reference.dispose();
const report = {
  ...reportHeader('@lopt/optimizers inner-step', loadBefore, { name: info.name, simd: info.simd, threads: info.threads }),
  note: 'Medians over interleaved rounds (the order alternates every round); optimizer @lopt/optimizers adam (fused kernel) in both. before = loss on tfjs autodiff, matmul rewrites off; now = the image-MLP task as shipped. *CpuMs = process CPU time per step (median over blocks of 8 steps). fractionOfMatmulRate = step matmul FLOPs / step wall time / the 512x512 matmul rate timed after each block.',
  results: rows,
};
const out = writeReport('inner-step', report);
const f = (v: number | string | undefined, d = 3): string => (v as number).toFixed(d);
console.log('| model | before (ms) | now (ms) | speed-up | CPU before / now (ms) | CPU speed-up | fraction of 512x512 matmul rate (before → now) | final losses |\n|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.model} | ${f(r.beforeMs)} | ${f(r.nowMs)} | ${f(r.speedup, 2)}x | ${f(r.beforeCpuMs)} / ${f(r.nowCpuMs)} | ${f(r.cpuSpeedup, 2)}x | ${f(r.fractionOfMatmulRateBefore)} → ${f(r.fractionOfMatmulRateNow)} | ${f(r.finalLossBefore, 5)} / ${f(r.finalLossNow, 5)} |`);
}
console.log(`${loadLine(loadBefore)}; written ${out}`);
