import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeTree, key, treeSize } from '@lopt/core';
import { describeTaskConformance, expectClose } from '@lopt/testkit';
import { imageConvTask, imageMlpAutoencoderTask, imageMlpTask, type ImageBatch } from './index.js';

describeTaskConformance('imageMlpTask mnist 8x8 relu32', () => imageMlpTask({ imageSize: 8, hidden: [32], batchSize: 32 }), { leakSteps: 500, finiteDifference: { step: 1e-2 } });
describeTaskConformance('imageMlpTask mnist 14x14 tanh 16x16', () => imageMlpTask({ imageSize: 14, hidden: [16, 16], activation: 'tanh', batchSize: 16 }), { leakSteps: 20 });
describeTaskConformance('imageMlpAutoencoderTask mnist 8x8', () => imageMlpAutoencoderTask({ imageSize: 8, batchSize: 16 }), { leakSteps: 20 });

describe('image tasks', () => {
  it('imageMlpTask with no hidden layer is softmax regression: loss matches a float64 reference', () => {
    const task = imageMlpTask({ imageSize: 8, hidden: [], batchSize: 8 });
    const params = task.init(key(0)) as { layer00: { w: tf.Tensor; b: tf.Tensor } };
    const batch = task.datasets!.train.sample(key(1)) as ImageBatch;
    const w = Array.from(params.layer00.w.dataSync());
    const x = Array.from(batch.image.dataSync());
    const y = Array.from(batch.label.dataSync());
    let ref = 0;
    for (let i = 0; i < 8; i++) {
      const z = new Array<number>(10).fill(0);
      for (let c = 0; c < 10; c++) for (let j = 0; j < 64; j++) z[c]! += (x[i * 64 + j] as number) * (w[j * 10 + c] as number);
      const m = Math.max(...z);
      const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
      ref += lse - (z[y[i] as number] as number);
    }
    const loss = task.loss(params, batch);
    expectClose(loss, ref / 8, { rtol: 1e-5 });
    expect(treeSize(params)).toBe(64 * 10 + 10);
    expect(task.name).toBe('image-mlp-mnist8-linear-relu-bs8');
    tf.dispose(loss);
    disposeTree(params);
    disposeTree(batch);
  });

  it('imageConvTask: shapes, parameter count and a finite loss near ln 10 at init', () => {
    const task = imageConvTask({ imageSize: 8, channels: [4, 8], batchSize: 16 });
    const params = task.init(key(0));
    expect(treeSize(params)).toBe(3 * 3 * 1 * 4 + 4 + 3 * 3 * 4 * 8 + 8 + 8 * 10 + 10);
    const batch = task.datasets!.train.sample(key(1));
    const loss = task.loss(params, batch).dataSync()[0] as number;
    expect(Math.abs(loss - Math.log(10))).toBeLessThan(0.5);
    disposeTree(params);
    disposeTree(batch);
  });

  it('validates options', () => {
    expect(() => imageMlpTask({ imageSize: 29 })).toThrow(/imageSize/);
    expect(() => imageMlpTask({ activation: 'nope' as never })).toThrow(/activation/);
    expect(() => imageConvTask({ channels: [] })).toThrow(/channels/);
    expect(() => imageMlpTask({ hidden: [0] })).toThrow(/hidden\[0\]/);
  });
});

// Conv gradients need Conv2DBackpropFilter (registered for WASM by @lopt/backend). The
// finite-difference check uses a smooth activation: with relu, every background pixel
// (exactly 0) sits at the kink at init (zero bias), where a finite difference is one-sided.
describeTaskConformance('imageConvTask mnist 8x8 4x8 silu', () => imageConvTask({ imageSize: 8, channels: [4, 8], batchSize: 16, activation: 'silu' }), { leakSteps: 20 });
