import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { create, disposeTree, key, list, split, treeFlatten, uniformArray, type Key, type TaskFamily } from '@lopt/core';
import { ACTIVATIONS, convFamily, fixedDimQuadraticFamily, imageMlpFamily, mixtureFamily, quadraticTask, registerAll, type ImageMlpConfig } from './index.js';

/** Builds the task of `cfg` and of its JSON round trip and checks they agree on params and loss. */
function expectRoundTripSameTask(family: TaskFamily, k: Key): void {
  const cfg = family.sample(k);
  const json = JSON.parse(JSON.stringify(cfg)) as unknown;
  expect(json).toEqual(cfg);
  const a = family.task(cfg);
  const b = family.task(json);
  expect(b.name).toBe(a.name);
  const pa = a.init(key(5));
  const pb = b.init(key(5));
  const fa = treeFlatten(pa);
  const fb = treeFlatten(pb);
  expect(fb.structure).toEqual(fa.structure);
  fa.leaves.forEach((x, i) => expect(Array.from((fb.leaves[i] as tf.Tensor).dataSync())).toEqual(Array.from(x.dataSync())));
  const batch = (a.datasets ? a.datasets.train.sample(key(6)) : undefined) as never;
  const la = a.loss(pa, batch).dataSync()[0];
  const lb = b.loss(pb, batch).dataSync()[0];
  expect(lb).toBe(la);
  expect(Number.isFinite(la)).toBe(true);
  disposeTree(pa);
  disposeTree(pb);
  if (batch) disposeTree(batch);
}

describe('task families', () => {
  it('imageMlpFamily configs round-trip through JSON to identical tasks', () => {
    const fam = imageMlpFamily({ hiddenRange: [8, 32], batchSizeRange: [4, 32], maxLayers: 2 });
    for (const k of split(key(1), 3)) expectRoundTripSameTask(fam, k);
  });

  it('imageMlpFamily options narrow depth, activations, initializers and init scale', () => {
    const fam = imageMlpFamily({ minLayers: 1, maxLayers: 2, activations: ['relu', 'tanh'], initializers: ['orthogonal'], initScaleRange: [1, 1.25] });
    const cfgs: ImageMlpConfig[] = split(key(3), 300).map((k: Key) => fam.sample(k));
    expect(new Set(cfgs.map((c) => c.hidden.length))).toEqual(new Set([1, 2]));
    expect(new Set(cfgs.map((c) => c.activation))).toEqual(new Set(['relu', 'tanh']));
    expect(new Set(cfgs.map((c) => c.initializer))).toEqual(new Set(['orthogonal']));
    const scales = cfgs.map((c) => c.initScale);
    expect(Math.min(...scales)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...scales)).toBeLessThanOrEqual(1.25);
    // Uniform on [1, 1.25]: the mean of 300 draws is within 4 standard errors of 1.125.
    const m = scales.reduce((a, b) => a + b, 0) / scales.length;
    expect(Math.abs(m - 1.125)).toBeLessThan(4 * (0.25 / Math.sqrt(12)) / Math.sqrt(300));
    // The defaults draw exactly what they drew before these options existed.
    const k = key(9);
    const u = uniformArray(k, 7);
    const d = imageMlpFamily().sample(k);
    expect(d.hidden.length).toBe(Math.min(4, Math.floor((u[1] as number) * 5)));
    expect(d.initScale).toBe(Math.fround(0.5 + 1.5 * (u[5] as number)));
  });

  it('imageMlpFamily rejects bad narrowing options, naming the option', () => {
    expect(() => imageMlpFamily({ minLayers: 3, maxLayers: 2 })).toThrow(/minLayers/);
    expect(() => imageMlpFamily({ activations: [] })).toThrow(/activations/);
    expect(() => imageMlpFamily({ activations: ['relu', 'swish' as never] })).toThrow(/activations\[1\]/);
    expect(() => imageMlpFamily({ activations: ['relu', 'relu'] })).toThrow(/activations/);
    expect(() => imageMlpFamily({ initializers: ['nope' as never] })).toThrow(/initializers\[0\]/);
    expect(() => imageMlpFamily({ initScaleRange: [2, 1] })).toThrow(/initScaleRange\[1\]/);
    expect(() => imageMlpFamily({ initScaleRange: [0, 1] })).toThrow(/initScaleRange\[0\]/);
    expect(() => imageMlpFamily({ initScaleRange: [500, 5000] })).toThrow(/initScaleRange\[1\]/);
  });

  it('imageMlpFamily hyperparameters cover their ranges', () => {
    const fam = imageMlpFamily();
    const cfgs: ImageMlpConfig[] = split(key(2), 600).map((k: Key) => fam.sample(k));
    const widths = cfgs.filter((c) => c.hidden.length > 0).map((c) => c.hidden[0] as number);
    expect(Math.min(...widths)).toBeLessThanOrEqual(9);
    expect(Math.max(...widths)).toBeGreaterThanOrEqual(110);
    expect(new Set(cfgs.map((c) => c.hidden.length))).toEqual(new Set([0, 1, 2, 3, 4]));
    expect(new Set(cfgs.map((c) => c.activation)).size).toBe(ACTIVATIONS.length);
    expect(new Set(cfgs.map((c) => c.initializer)).size).toBe(5);
    const bs = cfgs.map((c) => c.batchSize);
    expect(Math.min(...bs)).toBeLessThanOrEqual(5);
    expect(Math.max(...bs)).toBeGreaterThanOrEqual(400);
    // Log-uniform: the median batch size is near the geometric mean sqrt(4 * 513) ~ 45.
    const sorted = [...bs].sort((x, y) => x - y);
    expect(sorted[300]).toBeGreaterThan(30);
    expect(sorted[300]).toBeLessThan(70);
    const sizes = cfgs.map((c) => c.imageSize);
    expect(Math.min(...sizes)).toBe(4);
    expect(Math.max(...sizes)).toBe(28);
    const scales = cfgs.map((c) => c.initScale);
    expect(Math.min(...scales)).toBeLessThan(0.55);
    expect(Math.max(...scales)).toBeGreaterThan(1.95);
  });

  it('convFamily configs round-trip and build trainable conv tasks', () => {
    const fam = convFamily({ channelRange: [2, 8], imageSizeRange: [8, 8], batchSizeRange: [4, 8] });
    for (const k of split(key(3), 2)) expectRoundTripSameTask(fam, k);
    const depths = new Set(split(key(4), 100).map((k: Key) => fam.sample(k).channels.length));
    expect(depths).toEqual(new Set([1, 2, 3]));
  });

  it('mixtureFamily picks components by weight and rebuilds them from config', () => {
    const single: TaskFamily = { name: 'just-quadratic', sample: () => ({}), task: () => quadraticTask({ dim: 3 }) };
    const fam = mixtureFamily([fixedDimQuadraticFamily({ dim: 4 }), single], [3, 1]);
    const cfgs = split(key(5), 2000).map((k: Key) => fam.sample(k));
    const share = cfgs.filter((c) => c.component === 0).length / cfgs.length;
    expect(Math.abs(share - 0.75)).toBeLessThan(0.04); // binomial std 0.0097
    expectRoundTripSameTask(fam, key(6));
    expect(() => fam.task({ component: 1, family: 'other', cfg: {} })).toThrow(/family/);
    expect(() => mixtureFamily([single], [0])).toThrow(/weights/);
  });

  it('registerAll registers every task and family; create builds them from JSON options', () => {
    registerAll();
    registerAll(); // idempotent
    const tasks = list('task').map((e) => e.name);
    for (const n of ['quadraticTask', 'rosenbrockTask', 'logisticRegressionTask', 'imageMlpTask', 'imageConvTask', 'imageMlpAutoencoderTask']) expect(tasks).toContain(n);
    const fams = list('task-family').map((e) => e.name);
    for (const n of ['fixedDimQuadraticFamily', 'noisyQuadraticFamily', 'imageMlpFamily', 'convFamily', 'mixtureFamily', 'quadraticFamily']) expect(fams).toContain(n);
    const t = create('task', 'quadraticTask', { dim: 4 });
    expect(t.name).toBe('quadratic-4');
    const mix = create('task-family', 'mixtureFamily', { families: [{ name: 'fixedDimQuadraticFamily', options: { dim: 2 } }, { name: 'quadraticFamily' }] });
    expect(mix.name).toContain('fixed-dim-quadratic-family-2');
    expect(() => create('task', 'imageMlpTask', { imageSize: 3 })).toThrow(/imageSize/);
    const aug = create('task-family', 'randomAugmentationFamily', { family: { name: 'fixedDimQuadraticFamily', options: { dim: 3 } }, rates: { reparam: 1 } });
    const cfg = aug.sample(key(1)) as { augmentations: { kind: string }[] };
    expect(cfg.augmentations.map((a) => a.kind)).toContain('reparam');
    expect(() => create('task-family', 'randomAugmentationFamily', { family: {} })).toThrow(/family.name/);
  });
});
