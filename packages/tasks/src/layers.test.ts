// Tasks that report their dense layers: the tapped loss equals the plain loss, and each layer's
// inputs and pre-activation gradients rebuild its weight and bias gradients (a^T delta, sum delta).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeLayerGradients, disposeTree, key, treeLeaves, treePaths, valueAndLayerGrads, type Task, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { imageMlpAutoencoderTask, imageMlpTask, mlpClassificationTask } from './index.js';

describe.each<[string, () => Task]>([
  ['imageMlpTask', () => imageMlpTask({ imageSize: 8, hidden: [6, 5], batchSize: 7 })],
  ['imageMlpAutoencoderTask', () => imageMlpAutoencoderTask({ imageSize: 8, hidden: [4], batchSize: 5 })],
  ['mlpClassificationTask', () => mlpClassificationTask({ hidden: [5], batchSize: 9 })],
])('%s reports its dense layers', (_name, make) => {
  it('with the plain loss and gradients that a^T delta rebuilds', () => {
    const task = make();
    const params = task.init(key(1));
    const batch = task.datasets!.train.sample(key(2));
    const lg = valueAndLayerGrads(task.layers!, params, batch);
    const plain = task.loss(params, batch);
    expect(lg.loss.dataSync()[0]).toBeCloseTo(plain.dataSync()[0]!, 5);
    expect(lg.layers.map((l) => l.weight)).toEqual(task.layers!.dense.map((d) => d.weight));
    const grads = new Map(treePaths(lg.grads).map((p, i) => [p, treeLeaves(lg.grads)[i]!]));
    for (const l of lg.layers) {
      expectClose(Array.from(tf.matMul(l.inputs, l.outputGrads, true, false).dataSync()), Array.from(grads.get(l.weight)!.dataSync()), { rtol: 1e-4, atol: 1e-6, label: l.weight });
      expectClose(Array.from(tf.sum(l.outputGrads, 0).dataSync()), Array.from(grads.get(l.bias!)!.dataSync()), { rtol: 1e-4, atol: 1e-6, label: l.bias! });
    }
    disposeLayerGradients(lg);
    disposeTree([params, batch as TensorTree, plain]);
  });
});
