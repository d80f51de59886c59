// The hand-derived paths when the parameters are temporaries of the caller (reparamWeights scales
// them inside its own tidy, disposed before the backward pass runs): gradients equal autodiff's,
// taken under an outer tape where every task's loss takes the autodiff path.
import * as tf from '@tensorflow/tfjs-core';
import { describe, it } from 'vitest';
import { disposeTree, key, treeFlatten, treeLeaves, treeUnflatten, type Task, type TensorTree } from '@lopt/core';
import { reparamWeights } from './augment.js';
import { imageConvTask, imageMlpAutoencoderTask } from './image-tasks.js';
import { noisyQuadraticFromConfig, quadraticFromConfig, sumQuadraticTask } from './quadratics.js';
import { logisticRegressionTask } from './toy-classification.js';
import { autodiffGradsViaNestedTape, expectGradsClose } from './fast-grad-test-helpers.js';

const DIM = 5;
const cfg = { dim: DIM, scale: [1, 2, 3, 0.5, 4], target: [0.1, -0.2, 0.3, 0, 1] };
const TASKS: [string, () => Task][] = [
  ['imageConvTask', () => imageConvTask({ imageSize: 8, channels: [3, 4], batchSize: 4, activation: 'tanh' })],
  ['imageMlpAutoencoderTask (fused kernel)', () => imageMlpAutoencoderTask({ imageSize: 4, hidden: [6], batchSize: 5 })],
  ['imageMlpAutoencoderTask (hand-derived ops: over the fused size limit)', () => imageMlpAutoencoderTask({ imageSize: 28, hidden: [700], batchSize: 2, activation: 'sigmoid' })],
  ['logisticRegressionTask', () => logisticRegressionTask({ dim: 6, batchSize: 8 })],
  ['sumQuadraticTask', () => sumQuadraticTask({ dim: DIM })],
  ['quadraticFromConfig', () => quadraticFromConfig(cfg)],
  ['noisyQuadraticFromConfig', () => noisyQuadraticFromConfig({ dim: DIM, scale: cfg.scale, center: cfg.target, noiseStd: 0.5 })],
];

describe('hand-derived paths with parameters that are temporaries (reparamWeights)', () => {
  it.each(TASKS)('%s: gradients equal autodiff', (_, make) => {
    const task = reparamWeights(make(), { level: 'parameter', key: [3, 4], minScale: 0.5, maxScale: 2 });
    const params = task.init(key(1));
    const batch = (task.datasets ? task.datasets.train.sample(key(2)) : undefined) as TensorTree;
    const { structure } = treeFlatten(params);
    const got = tf.grads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch))(treeLeaves(params));
    expectGradsClose(
      got.map((g) => g.dataSync()),
      autodiffGradsViaNestedTape(task, params, batch),
      1e-5,
      1e-7,
    );
    tf.dispose(got);
    disposeTree(batch === undefined ? params : [params, batch]);
  });
});
