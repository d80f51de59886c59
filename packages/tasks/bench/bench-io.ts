// Shared by this package's interleaved benchmarks (and @lopt/optimizers' inner-step bench):
// medians, the machine description, the @lopt/backend matmul-rewrite toggle, image-MLP tasks
// with a forced loss path, a step's matmul FLOPs and the 512x512 matmul reference rate, and
// writing bench-results/<name>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
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
