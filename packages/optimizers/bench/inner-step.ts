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
import { machine, matmul512, matmulColumns, matMulRewriteToggle, median, withPath, writeReport } from '../../tasks/bench/bench-io.ts';
import { adamStepper } from '../../tasks/src/test-helpers.ts';
import { adam } from '../src/index.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const STEPS = 8;
const MODELS = [
  { name: 'MLP 784-128-10, batch 128', imageSize: 28, hidden: [128], batchSize: 128 },
  { name: 'MLP 64-32-10, batch 64', imageSize: 8, hidden: [32], batchSize: 64 },
  { name: 'softmax 64-10, batch 64', imageSize: 8, hidden: [], batchSize: 64 },
] as const;

const loadBefore = loadavg();
const info = await initBackend({ backend: 'wasm' });
const rewrites = matMulRewriteToggle().set;
const reference = matmul512();
const stepper = (task: Task) => adamStepper(task, { learningRate: 1e-3, optimizer: adam({ learningRate: 1e-3 }) });
const rows: Record<string, number | string>[] = [];
for (const m of MODELS) {
  const vs = [
    { on: false, s: stepper(withPath(m, 'autodiff')), times: [] as number[], cpu: [] as number[], loss: 0 },
    { on: true, s: stepper(withPath(m, 'task')), times: [] as number[], cpu: [] as number[], loss: 0 },
  ];
  const mm: number[] = [];
  for (const v of vs) {
    rewrites(v.on);
    for (let i = 0; i < 3; i++) v.s.step();
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of r % 2 ? [...vs].reverse() : vs) {
      rewrites(v.on);
      const c0 = process.cpuUsage();
      for (let i = 0; i < STEPS; i++) {
        const t0 = performance.now();
        v.loss = v.s.step();
        v.times.push(performance.now() - t0);
      }
      const c = process.cpuUsage(c0);
      v.cpu.push((c.user + c.system) / 1000 / STEPS);
      mm.push(reference.time());
    }
  }
  rewrites(true);
  vs.forEach((v) => v.s.dispose());
  const [before, now] = vs.map((v) => median(v.times)) as [number, number];
  const [beforeCpu, nowCpu] = vs.map((v) => median(v.cpu)) as [number, number];
  rows.push({
    model: m.name,
    beforeMs: before,
    nowMs: now,
    speedup: before / now,
    beforeCpuMs: beforeCpu,
    nowCpuMs: nowCpu,
    cpuSpeedup: beforeCpu / nowCpu,
    ...matmulColumns(m, mm, { Before: before, Now: now }),
    finalLossBefore: vs[0]!.loss,
    finalLossNow: vs[1]!.loss,
    stepsPerVariant: vs[0]!.times.length,
  });
  console.error(`${m.name}: before ${before.toFixed(3)} ms, now ${now.toFixed(3)} ms (load ${loadavg()[0]!.toFixed(2)})`);
}
reference.dispose();
const report = {
  benchmark: '@lopt/optimizers inner-step',
  date: new Date().toISOString(),
  loadAverage: { before: loadBefore, after: loadavg() },
  machine: machine(),
  backend: { name: info.name, simd: info.simd, threads: info.threads },
  note: 'Medians over interleaved rounds (the order alternates every round); optimizer @lopt/optimizers adam (fused kernel) in both. before = loss on tfjs autodiff, matmul rewrites off; now = the image-MLP task as shipped. *CpuMs = process CPU time per step (median over blocks of 8 steps). fractionOfMatmulRate = step matmul FLOPs / step wall time / the 512x512 matmul rate timed after each block.',
  results: rows,
};
const out = writeReport('inner-step', report);
const f = (v: number | string | undefined, d = 3): string => (v as number).toFixed(d);
console.log('| model | before (ms) | now (ms) | speed-up | CPU before / now (ms) | CPU speed-up | fraction of 512x512 matmul rate (before → now) | final losses |\n|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.model} | ${f(r.beforeMs)} | ${f(r.nowMs)} | ${f(r.speedup, 2)}x | ${f(r.beforeCpuMs)} / ${f(r.nowCpuMs)} | ${f(r.cpuSpeedup, 2)}x | ${f(r.fractionOfMatmulRateBefore)} → ${f(r.fractionOfMatmulRateNow)} | ${f(r.finalLossBefore, 5)} / ${f(r.finalLossNow, 5)} |`);
}
console.log(`load average before ${loadBefore.map((v) => v.toFixed(2)).join(' ')}, after ${loadavg().map((v) => v.toFixed(2)).join(' ')}; written ${out}`);
