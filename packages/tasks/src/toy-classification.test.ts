import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeTree, key } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { classificationNormalizer, logisticRegressionTask, mlpClassificationTask, softmaxRegressionTask, toyData2d, type FeatureBatch } from './index.js';

describe('generated classification data', () => {
  it('logistic regression: loss equals the float64 sigmoid cross-entropy of the batch', () => {
    const task = logisticRegressionTask({ dim: 4, batchSize: 32 });
    const params = task.init(key(1)) as { w: tf.Tensor; b: tf.Tensor };
    const batch = task.datasets!.train.sample(key(2)) as FeatureBatch;
    const w = Array.from(params.w.dataSync());
    const x = Array.from(batch.x.dataSync());
    const y = Array.from(batch.label.dataSync());
    let ref = 0;
    for (let i = 0; i < 32; i++) {
      let z = 0;
      for (let j = 0; j < 4; j++) z += (x[i * 4 + j] as number) * (w[j] as number);
      ref += Math.log(1 + Math.exp(-z)) + (1 - (y[i] as number)) * z;
    }
    const loss = task.loss(params, batch);
    expectClose(loss, ref / 32, { rtol: 1e-5 });
    expect(new Set(y)).toEqual(new Set([0, 1]));
    tf.dispose(loss);
    disposeTree(params);
    disposeTree(batch);
  });

  it('softmax regression labels cover every class; splits are different streams', () => {
    const task = softmaxRegressionTask({ dim: 6, numClasses: 4, batchSize: 400 });
    const a = task.datasets!.train.sample(key(3)) as FeatureBatch;
    const b = task.datasets!.test!.sample(key(3)) as FeatureBatch;
    const labels = Array.from(a.label.dataSync());
    for (let c = 0; c < 4; c++) expect(labels.filter((l) => l === c).length).toBeGreaterThan(40);
    expect(Array.from(a.x.dataSync())).not.toEqual(Array.from(b.x.dataSync()));
    disposeTree(a);
    disposeTree(b);
  });

  it('moons, spirals and blobs have the documented geometry', () => {
    const moons = toyData2d(key(0), 2000, { dataset: 'moons', noise: 0 });
    for (let i = 0; i < 2000; i++) {
      const [x, y] = [moons.x[2 * i] as number, moons.x[2 * i + 1] as number];
      if (moons.label[i] === 0) expectClose(x * x + y * y, 1, { rtol: 1e-9 });
      else expectClose((x - 1) ** 2 + (y - 0.5) ** 2, 1, { rtol: 1e-9 });
    }
    const spirals = toyData2d(key(1), 1000, { dataset: 'spirals', numClasses: 3, noise: 0 });
    for (let i = 0; i < 1000; i++) expect(Math.hypot(spirals.x[2 * i] as number, spirals.x[2 * i + 1] as number)).toBeLessThanOrEqual(1);
    const blobs = toyData2d(key(2), 4000, { dataset: 'blobs', numClasses: 4, noise: 1 });
    // Per-class spread around the class mean is the noise std (1).
    for (let c = 0; c < 4; c++) {
      const idx = [...blobs.label.keys()].filter((i) => blobs.label[i] === c);
      const mx = idx.reduce((s, i) => s + (blobs.x[2 * i] as number), 0) / idx.length;
      const vx = idx.reduce((s, i) => s + ((blobs.x[2 * i] as number) - mx) ** 2, 0) / idx.length;
      expect(Math.abs(vx - 1)).toBeLessThan(0.15);
    }
    expect(() => toyData2d(key(0), 3, { dataset: 'moons', numClasses: 3 })).toThrow(/numClasses/);
  });

  it('classification normalizer clips to [0, 1.5 ln C] and maps NaN/inf to the top', () => {
    const n = classificationNormalizer(10);
    const top = 1.5 * Math.log(10);
    expect(n(Number.NaN)).toBeCloseTo(top, 12);
    expect(n(Infinity)).toBeCloseTo(top, 12);
    expect(n(-Infinity)).toBeCloseTo(top, 12);
    expect(n(-1)).toBe(0);
    expect(n(1)).toBe(1);
    expect(n(100)).toBeCloseTo(top, 12);
    const t = mlpClassificationTask({ dataset: 'spirals', numClasses: 5 });
    expect(t.normalizer!(1e9)).toBeCloseTo(1.5 * Math.log(5), 12);
  });
});
