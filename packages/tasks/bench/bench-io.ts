// Shared by this package's interleaved benchmarks (and @lopt/optimizers' inner-step bench):
// the issue-16 models, the interleaved round runner, medians, the machine description and
// report header, the @lopt/backend matmul-rewrite toggle, image-MLP tasks with a forced loss
// path, a step's matmul FLOPs and the 512x512 matmul reference rate, and writing
// bench-results/<name>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { MATMUL_KERNELS, matMulRewrites, setMatMulRewrites, type MatMulSlowLayouts } from '@lopt/backend';
import type { Task, TensorTree } from '@lopt/core';
import { imageMlpTask } from '../src/index.ts';
import { mlpSoftmaxLoss, type MlpLossPath } from '../src/mlp-fast-grad.ts';
import type { DenseParams } from '../src/nn.ts';

/** The median of `xs`. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** The image-MLP models of issue 16, largest first. */
export const ISSUE16_MODELS = [
  { name: 'MLP 784-128-10, batch 128', imageSize: 28, hidden: [128], batchSize: 128 },
  { name: 'MLP 64-32-10, batch 64', imageSize: 8, hidden: [32], batchSize: 64 },
  { name: 'softmax 64-10, batch 64', imageSize: 8, hidden: [], batchSize: 64 },
] as const;

/** Something that takes one training step and returns its loss. */
export interface Stepper {
  step: () => number;
  dispose: () => void;
}

/** One variant of an interleaved benchmark: its stepper, an optional switch run before each of its blocks, and what was measured. */
export interface Variant {
  readonly stepper: Stepper;
  readonly before?: () => void;
  /** Wall milliseconds of every timed step. */
  readonly times: number[];
  /** Process CPU milliseconds per step, one entry per block. */
  readonly cpu: number[];
  /** The loss of the last step. */
  loss: number;
}

/** A variant of `stepper`, with `before` run before each of its blocks. */
export function variant(stepper: Stepper, before?: () => void): Variant {
  return { stepper, ...(before === undefined ? {} : { before }), times: [], cpu: [], loss: 0 };
}

/** How {@link interleave} runs: `rounds` rounds of `steps` timed steps per variant, `afterBlock` after each block (e.g. a reference timing). */
export interface InterleaveOptions {
  readonly rounds: number;
  readonly steps: number;
  readonly afterBlock?: () => void;
}

/** Median wall and CPU milliseconds per step and the last loss of one variant. */
export interface VariantResult {
  readonly ms: number;
  readonly cpuMs: number;
  readonly loss: number;
}

/**
 * Warms every variant up (3 steps), then runs the rounds, rotating which variant goes first
 * each round (with two variants: alternating), and disposes the steppers. Each block of steps is
 * timed step by step in wall time and as a whole in process CPU time.
 */
export function interleave(variants: readonly Variant[], options: InterleaveOptions): VariantResult[] {
  for (const v of variants) {
    v.before?.();
    for (let i = 0; i < 3; i++) v.stepper.step();
  }
  for (let r = 0; r < options.rounds; r++) {
    const k = r % variants.length;
    for (const v of [...variants.slice(k), ...variants.slice(0, k)]) {
      v.before?.();
      const c0 = process.cpuUsage();
      for (let s = 0; s < options.steps; s++) {
        const t0 = performance.now();
        v.loss = v.stepper.step();
        v.times.push(performance.now() - t0);
      }
      const c = process.cpuUsage(c0);
      v.cpu.push((c.user + c.system) / 1000 / options.steps);
      options.afterBlock?.();
    }
  }
  for (const v of variants) v.stepper.dispose();
  return variants.map((v) => ({ ms: median(v.times), cpuMs: median(v.cpu), loss: v.loss }));
}

/** The opening fields of a bench report: its name, the date, the load average at `loadBefore` and now, the machine and the backend. */
export function reportHeader(benchmark: string, loadBefore: readonly number[], backend: Record<string, unknown>): Record<string, unknown> {
  return { benchmark, date: new Date().toISOString(), loadAverage: { before: loadBefore, after: loadavg() }, machine: machine(), backend };
}

/** `load average before a b c, after d e f`, for the last line of a bench's output. */
export function loadLine(loadBefore: readonly number[]): string {
  const fmt = (l: readonly number[]): string => l.map((v) => v.toFixed(2)).join(' ');
  return `load average before ${fmt(loadBefore)}, after ${fmt(loadavg())}`;
}

/** Node version, platform and CPUs of this machine. */
export function machine(): Record<string, string | number> {
  return { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown' };
}

const OFF: MatMulSlowLayouts = { transposeA: false, transposeB: false, batched: false };

/** Turns @lopt/backend's matmul rewrites off and back on (as the probe set them); call after initBackend. */
export function matMulRewriteToggle(): { layouts: Record<string, MatMulSlowLayouts | undefined>; set: (on: boolean) => void } {
  const saved = new Map(MATMUL_KERNELS.map((name) => [name, matMulRewrites(name)] as const));
  const set = (on: boolean): void => {
    for (const [name, layouts] of saved) if (layouts !== undefined) setMatMulRewrites(name, on ? layouts : OFF);
  };
  return { layouts: Object.fromEntries(saved), set };
}

/** Writes `report` to bench-results/<name>.json in this package and returns the path. */
export function writeReport(name: string, report: Record<string, unknown>): string {
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results', `${name}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  return out;
}

/** An image-MLP model of the issue-16 benchmarks. */
export interface BenchModel {
  readonly imageSize: number;
  readonly hidden: readonly number[];
  readonly batchSize: number;
}

/** The relu image-MLP task of `m` with its loss on one forced gradient path (`'task'`: as shipped). */
export function withPath(m: BenchModel, path: MlpLossPath | 'task'): Task {
  const task = imageMlpTask(m);
  if (path === 'task') return task;
  const inputs = m.imageSize * m.imageSize;
  return {
    ...task,
    loss: (params: TensorTree, batch: TensorTree) =>
      tf.tidy(() => {
        const { image, label } = batch as { image: tf.Tensor; label: tf.Tensor1D };
        const x = tf.reshape(image, [image.shape[0]!, inputs]) as tf.Tensor2D;
        return mlpSoftmaxLoss(params as Record<string, DenseParams>, x, label, m.hidden.length + 1, 'relu', 10, path);
      }),
  };
}

/** Matmul FLOPs of one MLP training step (layer sizes `sizes`, input first): forward and weight gradient per layer, input gradient for all but the first. */
function stepFlops(sizes: readonly number[], batch: number): number {
  return sizes.slice(1).reduce((s, out, i) => s + (i === 0 ? 2 : 3) * 2 * batch * sizes[i]! * out, 0);
}

/** The reference matmul: `time()` runs one 512x512x512 float32 product (read back) and returns its milliseconds. */
export function matmul512(): { time: () => number; dispose: () => void } {
  const a = tf.randomUniform([512, 512], -1, 1, 'float32', 1);
  const b = tf.randomUniform([512, 512], -1, 1, 'float32', 2);
  const time = (): number => {
    const t0 = performance.now();
    // (not tf.tidy(() => ....dataSync()): tidy walks a returned typed array element by element,
    // which made this reference about 10x slower than the product itself)
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
    return performance.now() - t0;
  };
  return { time, dispose: () => tf.dispose([a, b]) };
}

/**
 * The matmul columns of a result row for model `m`: its step's matmul FLOPs, the median
 * reference time `mm` (ms), and per variant `fractionOfMatmulRate<Name>` = FLOPs / step time
 * `stepMs[Name]` / the reference rate.
 */
export function matmulColumns(m: BenchModel, mm: readonly number[], stepMs: Record<string, number>): Record<string, number> {
  const matmul512Ms = median(mm);
  const stepMatmulFlops = stepFlops([m.imageSize * m.imageSize, ...m.hidden, 10], m.batchSize);
  const rate = (2 * 512 ** 3) / (matmul512Ms / 1000);
  const out: Record<string, number> = { stepMatmulFlops, matmul512Ms };
  for (const [name, ms] of Object.entries(stepMs)) out[`fractionOfMatmulRate${name}`] = stepMatmulFlops / (ms / 1000) / rate;
  return out;
}
