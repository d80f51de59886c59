// Shared by this package's interleaved benchmarks (and @lopt/optimizers' inner-step bench):
// medians, the machine description, the @lopt/backend matmul-rewrite toggle, image-MLP tasks
// with a forced loss path, and writing bench-results/<name>.json.
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
