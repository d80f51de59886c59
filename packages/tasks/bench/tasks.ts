// Training-step throughput of the main tasks on WASM and on the JS CPU backend.
// One train step = sample a batch + forward + backward (tf.valueAndGrads) + one adam step
// (the minimal Adam of src/test-helpers.ts, through core's advance; @lopt/optimizers depends on this package, so it is not used here) + reading the loss. Writes
// bench-results/tasks.json with steps/s, parameter counts, FLOPs per step and the achieved
// fraction of the backend's 512x512 matmul rate measured in the same run. The machine is
// shared, so each step is paired with a 512x512 matmul timed right after it (WASM; on the
// much slower CPU backend one matmul before and after each case) and medians are reported:
// the fraction compares two rates measured under the same load.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lopt/backend';
import { disposeTree, key, treeSize, type Task } from '@lopt/core';
import { adamStepper } from '../src/test-helpers.ts';
import { TEXT_VOCAB_SIZE, charLstmTask, imageConvTask, imageMlpTask, transformerLmTask } from '../src/index.ts';

const V = TEXT_VOCAB_SIZE;
const budgetMs = Number(process.env.BENCH_MS ?? 3000);
const loadAverageStart = loadavg().map((l) => Number(l.toFixed(2)));

interface Case {
  readonly name: string;
  readonly make: () => Task;
  /** Forward-pass FLOPs (multiply-adds x 2) per step; a step is counted as 3x forward. */
  readonly forwardFlops: number;
}

const mlpFlops = (b: number, sizes: number[]): number => sizes.slice(1).reduce((s, out, i) => s + 2 * b * (sizes[i] as number) * out, 0);

function convFlops(b: number, size: number, channels: number[], classes: number): number {
  let total = 0;
  let s = size;
  let cin = 1;
  channels.forEach((cout, i) => {
    if (i === 0) s = Math.ceil(s / 2);
    total += 2 * b * s * s * 9 * cin * cout;
    cin = cout;
  });
  return total + 2 * b * cin * classes;
}

function lstmFlops(b: number, t: number, e: number, h: number): number {
  return 2 * b * t * (V * e + (e + h) * 4 * h + h * V);
}

function transformerFlops(b: number, t: number, d: number, layers: number): number {
  const perLayer = 2 * b * t * (d * 3 * d + d * d + 2 * d * 4 * d) + 2 * 2 * b * t * t * d;
  return 2 * b * t * (V * d + d * V) + layers * perLayer;
}

const CASES: readonly Case[] = [
  { name: 'mnist-mlp-8x8 (relu32, bs128)', make: () => imageMlpTask({ imageSize: 8, hidden: [32], batchSize: 128 }), forwardFlops: mlpFlops(128, [64, 32, 10]) },
  { name: 'mnist-mlp-28x28 (relu128x128, bs128)', make: () => imageMlpTask({ imageSize: 28, hidden: [128, 128], batchSize: 128 }), forwardFlops: mlpFlops(128, [784, 128, 128, 10]) },
  { name: 'mnist-conv-14x14 (8x16, bs64)', make: () => imageConvTask({ imageSize: 14, channels: [8, 16], batchSize: 64 }), forwardFlops: convFlops(64, 14, [8, 16], 10) },
  { name: 'char-lstm (e32 h128, T32, bs32)', make: () => charLstmTask({ sequenceLength: 32, batchSize: 32, embedSize: 32, hiddenSize: 128 }), forwardFlops: lstmFlops(32, 32, 32, 128) },
  { name: 'transformer-lm (d64 h4 l2, T32, bs16)', make: () => transformerLmTask({ sequenceLength: 32, batchSize: 16, modelSize: 64, numHeads: 4, numLayers: 2 }), forwardFlops: transformerFlops(16, 32, 64, 2) },
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

let mmA: tf.Tensor2D | undefined;
let mmB: tf.Tensor2D | undefined;
/** Milliseconds of one 512x512 matmul (result read back). */
function timeMatmul(): number {
  mmA ??= tf.randomUniform([512, 512], -1, 1, 'float32', 1) as tf.Tensor2D;
  mmB ??= tf.randomUniform([512, 512], -1, 1, 'float32', 2) as tf.Tensor2D;
  const start = performance.now();
  tf.tidy(() => tf.matMul(mmA as tf.Tensor2D, mmB as tf.Tensor2D).dataSync());
  return performance.now() - start;
}

function trainRate(task: Task, pairMatmul: boolean): { msPerStep: number; msPerMatmul: number; steps: number; finalLoss: number } {
  const stepper = adamStepper(task, { learningRate: 1e-3 });
  let loss = Number.NaN;
  const step = (_i: number): void => {
    loss = stepper.step();
  };
  for (let i = 0; i < 2; i++) step(i); // warm-up (kernel setup, caches)
  timeMatmul();
  const stepMs: number[] = [];
  const mmMs: number[] = [timeMatmul()];
  const start = performance.now();
  for (let n = 0; performance.now() - start < budgetMs || n < 3; n++) {
    const t0 = performance.now();
    step(2 + n);
    stepMs.push(performance.now() - t0);
    if (pairMatmul) mmMs.push(timeMatmul());
  }
  mmMs.push(timeMatmul());
  stepper.dispose();
  return { msPerStep: median(stepMs), msPerMatmul: median(mmMs), steps: stepMs.length, finalLoss: loss };
}

const results: Record<string, unknown>[] = [];
const backends: Record<string, { matmul512Gflops: number; msPerMatmul512: number }> = {};
for (const backend of ['wasm', 'cpu'] as const) {
  const info = await initBackend({ backend });
  const mmAll: number[] = [];
  console.log(`${backend}: ${info.reason}`);
  for (const c of CASES) {
    const task = c.make();
    const p = task.init(key(0));
    const params = treeSize(p);
    disposeTree(p);
    const r = trainRate(task, backend !== 'cpu');
    mmAll.push(r.msPerMatmul);
    const matmulGflops = (2 * 512 ** 3) / (r.msPerMatmul * 1e6);
    const flopsPerStep = 3 * c.forwardFlops;
    const stepsPerSecond = 1000 / r.msPerStep;
    const achieved = (flopsPerStep * stepsPerSecond) / 1e9;
    const row = {
      backend,
      task: c.name,
      taskName: task.name,
      params,
      flopsPerStep,
      stepsPerSecond: Number(stepsPerSecond.toFixed(3)),
      msPerStep: Number(r.msPerStep.toFixed(2)),
      achievedGflops: Number(achieved.toFixed(4)),
      matmul512Gflops: Number(matmulGflops.toFixed(3)),
      fractionOfMatmulRate: Number((achieved / matmulGflops).toFixed(4)),
      stepsMeasured: r.steps,
      finalLoss: Number(r.finalLoss.toFixed(4)),
    };
    results.push(row);
    console.log(JSON.stringify(row));
  }
  tf.dispose([mmA as tf.Tensor, mmB as tf.Tensor]);
  mmA = undefined;
  mmB = undefined;
  const ms = median(mmAll);
  backends[backend] = { matmul512Gflops: Number(((2 * 512 ** 3) / (ms * 1e6)).toFixed(3)), msPerMatmul512: Number(ms.toFixed(2)) };
}
const speedups = CASES.map((c) => {
  const w = results.find((r) => r.backend === 'wasm' && r.task === c.name) as { stepsPerSecond: number };
  const cpu = results.find((r) => r.backend === 'cpu' && r.task === c.name) as { stepsPerSecond: number };
  return { task: c.name, wasmOverCpu: Number((w.stepsPerSecond / cpu.stepsPerSecond).toFixed(2)) };
});
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results', 'tasks.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), cpus: cpus().length, loadAverage1m: Number((loadavg()[0] as number).toFixed(2)), loadAverageStart, loadAverageEnd: loadavg().map((l) => Number(l.toFixed(2))), budgetMsPerCase: budgetMs, backends, results, speedups }, null, 2)}\n`);
console.log(`wrote ${out}`);
console.table(speedups);
