// Every task computes the same loss (relative 1e-4) and gradients on the active backend
// (WASM by default) and on the plain JS CPU backend, for the same params and batch.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { key, treeFlatten, treeUnflatten, split, type Key, type Task, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import {
  charLstmTask,
  fixedDimQuadraticFamily,
  imageConvTask,
  imageMlpAutoencoderTask,
  imageMlpTask,
  logQuadraticTask,
  logisticRegressionTask,
  mlpClassificationTask,
  noisyQuadraticFamily,
  normalizeGradient,
  quadraticTask,
  rastriginTask,
  reparamWeights,
  rosenbrockTask,
  softmaxRegressionTask,
  sumQuadraticTask,
  transformerLmTask,
} from './index.js';

const active = tf.getBackend();
afterAll(async () => {
  await tf.setBackend(active);
});

interface HostTree {
  structure: ReturnType<typeof treeFlatten>['structure'];
  leaves: { data: Float32Array | Int32Array; shape: number[]; dtype: tf.DataType }[];
}
function toHost(tree: TensorTree): HostTree {
  const { leaves, structure } = treeFlatten(tree);
  return { structure, leaves: leaves.map((t) => ({ data: t.dataSync() as Float32Array | Int32Array, shape: [...t.shape], dtype: t.dtype })) };
}
function fromHost(h: HostTree): TensorTree {
  return treeUnflatten(h.structure, h.leaves.map((l) => tf.tensor(l.data, l.shape, l.dtype)));
}

function lossAndGrads(task: Task, params: HostTree, batch: HostTree | undefined, k: Key): { loss: number; grads: Float32Array[] } {
  return tf.tidy(() => {
    const p = fromHost(params);
    const b = (batch ? fromHost(batch) : undefined) as TensorTree;
    const { leaves, structure } = treeFlatten(p);
    const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), b, k))(leaves);
    return { loss: value.dataSync()[0] as number, grads: grads.map((g) => g.dataSync() as Float32Array) };
  });
}

const TASKS: readonly [string, () => Task][] = [
  ['quadraticTask', () => quadraticTask()],
  ['sumQuadraticTask', () => sumQuadraticTask()],
  ['logQuadraticTask', () => logQuadraticTask()],
  ['fixedDimQuadraticFamily', () => { const f = fixedDimQuadraticFamily({ maxCondition: 10 }); return f.task(f.sample(key(1))); }],
  ['noisyQuadraticFamily', () => { const f = noisyQuadraticFamily(); return f.task(f.sample(key(1))); }],
  ['rosenbrockTask', () => rosenbrockTask({ dim: 5 })],
  ['rastriginTask', () => rastriginTask({ dim: 5 })],
  ['logisticRegressionTask', () => logisticRegressionTask()],
  ['softmaxRegressionTask', () => softmaxRegressionTask()],
  ['mlp spirals gelu', () => mlpClassificationTask({ dataset: 'spirals', activation: 'gelu' })],
  ['imageMlpTask 14x14 selu', () => imageMlpTask({ imageSize: 14, hidden: [32, 16], activation: 'selu', batchSize: 16 })],
  ['imageConvTask 14x14 max', () => imageConvTask({ imageSize: 14, channels: [4, 8], pool: 'max', batchSize: 8 })],
  ['imageMlpAutoencoderTask 8x8', () => imageMlpAutoencoderTask({ imageSize: 8, batchSize: 16 })],
  ['charLstmTask', () => charLstmTask({ sequenceLength: 8, batchSize: 4, embedSize: 8, hiddenSize: 16 })],
  ['transformerLmTask', () => transformerLmTask({ sequenceLength: 8, batchSize: 4, modelSize: 16, numHeads: 2, numLayers: 2 })],
  ['reparamWeights(parameter) imageMlp', () => reparamWeights(imageMlpTask({ imageSize: 8, batchSize: 8 }), { level: 'parameter', key: [1, 2] })],
  ['normalizeGradient logistic', () => normalizeGradient(logisticRegressionTask())],
];

describe.skipIf(active === 'cpu')(`${active} vs cpu parity`, () => {
  for (const [name, make] of TASKS) {
    it(name, async () => {
      const task = make();
      const [kp, kb, kl] = split(key(42), 3) as [Key, Key, Key];
      const p = task.init(kp);
      const params = toHost(p);
      tf.dispose(treeFlatten(p).leaves);
      let batch: HostTree | undefined;
      if (task.datasets) {
        const b = task.datasets.train.sample(kb);
        batch = toHost(b);
        tf.dispose(treeFlatten(b).leaves);
      }
      const here = lossAndGrads(task, params, batch, kl);
      await tf.setBackend('cpu');
      try {
        const cpu = lossAndGrads(task, params, batch, kl);
        expect(Number.isFinite(here.loss)).toBe(true);
        expectClose(here.loss, cpu.loss, { rtol: 1e-4, atol: 0, label: `${name} loss` });
        here.grads.forEach((g, i) => {
          const ref = cpu.grads[i] as Float32Array;
          const scale = Math.max(...Array.from(ref, Math.abs));
          expectClose(g, ref, { rtol: 2e-3, atol: 1e-4 * scale, label: `${name} grad ${i}` });
        });
      } finally {
        await tf.setBackend(active);
      }
    });
  }
});
