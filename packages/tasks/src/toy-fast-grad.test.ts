// The logistic-regression loss's hand-derived gradient against autodiff, float64 central
// differences and second-order gradients; softmax regression and the 2-D MLP classifier on the
// MLP loss's fast paths against autodiff; memory over many task steps.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { key, normalArray, split, randintArray } from '@lopt/core';
import { logisticLoss, logisticRegressionTask, mlpClassificationTask, softmaxRegressionTask, type FeatureBatch } from './toy-classification.js';
import { mlpSoftmaxLoss } from './mlp-fast-grad.js';
import { mlpLayerName, type DenseParams } from './nn.js';
import { centralDifference, checkTaskFastGrad, expectGradsClose, f32, secondOrderOn, valueAndGradsOn, type PathLoss } from './fast-grad-test-helpers.js';

describe('logisticLoss: the hand-derived gradient', () => {
  it.each([
    [6, 9],
    [13, 4],
  ])('dim %i batch %i: equals autodiff and float64 central differences; second-order unchanged', (dim, batch) => {
    const [kw, kb, kx, ky] = split(key(dim), 4);
    const hosts = [f32(normalArray(kw!, dim)), f32(normalArray(kb!, 1).map((v) => 0.3 * v))];
    const x = f32(normalArray(kx!, batch * dim));
    const y = randintArray(ky!, batch, 0, 2);
    const [xt, yt] = [tf.tensor2d(Float32Array.from(x), [batch, dim]), tf.tensor1d(y, 'int32')];
    const leaves = [tf.tensor1d(Float32Array.from(hosts[0]!)), tf.scalar(hosts[1]![0]!)];
    const loss: PathLoss = ([w, b], path) => logisticLoss(w!, b!, xt, yt, path);
    const loss64 = (): number => {
      let total = 0;
      for (let r = 0; r < batch; r++) {
        let z = hosts[1]![0]!;
        for (let j = 0; j < dim; j++) z += x[r * dim + j]! * hosts[0]![j]!;
        total += Math.log1p(Math.exp(-Math.abs(z))) + Math.max(z, 0) - z * y[r]!;
      }
      return total / batch;
    };
    const fast = valueAndGradsOn(loss, leaves, 'fast');
    const auto = valueAndGradsOn(loss, leaves, 'autodiff');
    expect(fast.value).toBe(auto.value);
    expect(Math.abs(fast.value - loss64())).toBeLessThan(1e-6);
    expectGradsClose(fast.grads, auto.grads, 1e-5, 1e-7);
    hosts.forEach((h, i) => {
      for (let j = 0; j < h.length; j++) expect(Math.abs(fast.grads[i]![j]! - centralDifference(loss64, h, j))).toBeLessThan(1e-6);
    });
    const second = secondOrderOn(loss, leaves, 'auto');
    expect(second).not.toMatch(/^error/);
    expect(second).toBe(secondOrderOn(loss, leaves, 'autodiff'));
    tf.dispose([...leaves, xt, yt]);
  });
});

describe('toy classification tasks on the fast paths', () => {
  it('logisticRegressionTask', () => {
    checkTaskFastGrad(logisticRegressionTask({ dim: 8, batchSize: 16 }), (p, b) => {
      const { w, b: bias } = p as { w: tf.Tensor; b: tf.Tensor };
      const { x, label } = b as FeatureBatch;
      return logisticLoss(w, bias, x, label, 'autodiff');
    });
  });
  it('softmaxRegressionTask', () => {
    checkTaskFastGrad(softmaxRegressionTask({ dim: 8, numClasses: 4, batchSize: 16 }), (p, b) => mlpSoftmaxLoss({ [mlpLayerName(0)]: p as DenseParams }, (b as FeatureBatch).x, (b as FeatureBatch).label, 1, 'relu', 4, 'autodiff'));
  });
  it('mlpClassificationTask', () => {
    checkTaskFastGrad(mlpClassificationTask({ dataset: 'spirals', hidden: [8, 8], activation: 'tanh', batchSize: 16 }), (p, b) =>
      mlpSoftmaxLoss(p as Record<string, DenseParams>, (b as FeatureBatch).x, (b as FeatureBatch).label, 3, 'tanh', 3, 'autodiff'),
    );
  });
});
