// Every task trains: 200 steps of adam (test-helpers.ts, through core's advance) lower the mean train loss over
// four fixed batches by the stated factor. Factors were set from measured runs with margin
// (measured ratio after/before in the comment of each row).
import { describe, expect, it } from 'vitest';
import { key, type Task } from '@lopt/core';
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
  quadraticTask,
  rastriginTask,
  rosenbrockTask,
  softmaxRegressionTask,
  sumQuadraticTask,
  transformerLmTask,
} from './index.js';
import { trainWithAdam } from './test-helpers.js';

const fromFamily = <C>(f: { sample: (k: ReturnType<typeof key>) => C; task: (c: C) => Task }): Task => f.task(f.sample(key(1)));

interface Row {
  readonly name: string;
  readonly make: () => Task;
  readonly learningRate: number;
  /** Required after / before ratio (the loss must drop below this fraction), or for log losses a required absolute drop. */
  readonly maxRatio?: number;
  readonly minDrop?: number;
}

const ROWS: readonly Row[] = [
  { name: 'quadraticTask', make: () => quadraticTask({ dim: 10 }), learningRate: 0.1, maxRatio: 1e-2 },
  { name: 'sumQuadraticTask', make: () => sumQuadraticTask(), learningRate: 0.1, maxRatio: 1e-2 },
  { name: 'logQuadraticTask', make: () => logQuadraticTask(), learningRate: 0.1, minDrop: 2 },
  { name: 'fixedDimQuadraticFamily', make: () => fromFamily(fixedDimQuadraticFamily({ dim: 10, maxCondition: 10 })), learningRate: 0.1, maxRatio: 1e-2 },
  { name: 'noisyQuadraticFamily', make: () => fromFamily(noisyQuadraticFamily({ dim: 10, noiseStd: 0.1 })), learningRate: 0.1, maxRatio: 1e-2 },
  { name: 'rosenbrockTask', make: () => rosenbrockTask({ dim: 2 }), learningRate: 0.05, maxRatio: 0.05 },
  { name: 'rastriginTask', make: () => rastriginTask({ dim: 2 }), learningRate: 0.05, maxRatio: 0.7 },
  { name: 'logisticRegressionTask', make: () => logisticRegressionTask(), learningRate: 0.05, maxRatio: 0.75 },
  { name: 'softmaxRegressionTask', make: () => softmaxRegressionTask(), learningRate: 0.05, maxRatio: 0.6 },
  { name: 'mlp moons', make: () => mlpClassificationTask({ dataset: 'moons', batchSize: 64 }), learningRate: 0.01, maxRatio: 0.1 },
  { name: 'mlp spirals', make: () => mlpClassificationTask({ dataset: 'spirals', batchSize: 64 }), learningRate: 0.01, maxRatio: 0.6 },
  { name: 'mlp blobs', make: () => mlpClassificationTask({ dataset: 'blobs', batchSize: 64 }), learningRate: 0.01, maxRatio: 0.3 },
  { name: 'imageMlpTask 8x8', make: () => imageMlpTask({ imageSize: 8, hidden: [32], batchSize: 64 }), learningRate: 0.01, maxRatio: 0.3 },
  { name: 'imageMlpTask 28x28', make: () => imageMlpTask({ imageSize: 28, hidden: [32], batchSize: 32 }), learningRate: 0.003, maxRatio: 0.3 },
  { name: 'imageConvTask 8x8', make: () => imageConvTask({ imageSize: 8, channels: [8, 16], batchSize: 32 }), learningRate: 0.01, maxRatio: 0.7 },
  { name: 'imageMlpAutoencoderTask 8x8', make: () => imageMlpAutoencoderTask({ imageSize: 8, batchSize: 32 }), learningRate: 0.01, maxRatio: 0.5 },
  { name: 'charLstmTask', make: () => charLstmTask({ sequenceLength: 8, batchSize: 8, embedSize: 16, hiddenSize: 32 }), learningRate: 0.01, maxRatio: 0.8 },
  { name: 'transformerLmTask', make: () => transformerLmTask({ sequenceLength: 8, batchSize: 8, modelSize: 32, numHeads: 2 }), learningRate: 0.003, maxRatio: 0.8 },
];

describe('200 steps of adam lower the train loss', () => {
  for (const row of ROWS) {
    // The conv and sequence models are slow on the JS CPU backend (LOPT_BACKEND=cpu): allow more time there.
    it(row.name, { timeout: 240_000 }, () => {
      const { before, after } = trainWithAdam(row.make(), { steps: 200, learningRate: row.learningRate });
      console.log(`${row.name}: before ${before.toFixed(4)} after ${after.toFixed(4)} ratio ${(after / before).toExponential(2)}`);
      expect(Number.isFinite(after)).toBe(true);
      if (row.maxRatio !== undefined) expect(after).toBeLessThan(before * row.maxRatio);
      if (row.minDrop !== undefined) expect(before - after).toBeGreaterThan(row.minDrop);
    });
  }
});
