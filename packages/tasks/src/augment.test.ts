import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeTree, key, split, treeLeaves, type Key, type TensorTree } from '@lopt/core';
import { describeTaskConformance, expectClose } from '@lopt/testkit';
import {
  fixedDimQuadraticFamily,
  logisticRegressionTask,
  normalizeGradient,
  quadraticTask,
  randomAugmentationFamily,
  reducedBatchSize,
  reparamWeights,
  reparamWeightsFamily,
  sumQuadraticTask,
  type AugmentedConfig,
} from './index.js';

describe('task augmentations', () => {
  it('reparamWeights: init is w0 / s and the loss at p equals the inner loss at p * s', () => {
    const inner = sumQuadraticTask({ dim: 3 });
    for (const reparam of [{ level: 'global', scale: 4 }, { level: 'tensor', key: [1, 2] }, { level: 'parameter', key: [3, 4] }] as const) {
      const task = reparamWeights(inner, reparam as never);
      const p0 = inner.init(key(1));
      const p = task.init(key(1));
      const l0 = treeLeaves(p0).map((t) => Array.from(t.dataSync()));
      const l = treeLeaves(p).map((t) => Array.from(t.dataSync()));
      // Implied scales w0 / p, then the loss is invariant: loss(p) = inner.loss(p0).
      const implied = l0.map((a, i) => a.map((v, j) => v / (l[i]![j] as number)));
      for (const s of implied.flat()) expect(s).toBeGreaterThan(0.009);
      if (reparam.level === 'global') for (const s of implied.flat()) expectClose(s, 4, { rtol: 1e-6 });
      if (reparam.level === 'tensor') for (const a of implied) for (const s of a) expectClose(s, a[0] as number, { rtol: 1e-5 });
      const la = task.loss(p, undefined as never);
      const lb = inner.loss(p0, undefined as never);
      expectClose(la, lb.dataSync()[0] as number, { rtol: 1e-5 });
      // Chain rule: grad wrt p = s * grad wrt w.
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => task.loss({ a, b }, undefined as never))([(p as { a: tf.Tensor }).a, (p as { b: tf.Tensor }).b]);
      const g0 = tf.grads((a: tf.Tensor, b: tf.Tensor) => inner.loss({ a, b }, undefined as never))([(p0 as { a: tf.Tensor }).a, (p0 as { b: tf.Tensor }).b]);
      const ref = g0.map((t, i) => Array.from(t.dataSync()).map((v, j) => v * (implied[i]![j] as number)));
      g.forEach((t, i) => expectClose(t, ref[i] as number[], { rtol: 1e-4, atol: 1e-5 }));
      tf.dispose([la, lb, ...g, ...g0]);
      disposeTree(p0);
      disposeTree(p);
    }
  });

  it('normalizeGradient: same loss value, gradient g / ||g||', () => {
    const inner = quadraticTask({ dim: 5 });
    const task = normalizeGradient(inner);
    const p = inner.init(key(2)) as tf.Tensor;
    const x = Array.from(p.dataSync());
    const { value, grads } = tf.valueAndGrads((q: tf.Tensor) => task.loss(q, undefined as never))([p]);
    expectClose(value, x.reduce((s, v) => s + v * v, 0), { rtol: 1e-6 });
    const norm = Math.sqrt(x.reduce((s, v) => s + 4 * v * v, 0));
    expectClose(grads[0] as tf.Tensor, x.map((v) => (2 * v) / norm), { rtol: 1e-5 });
    tf.dispose([p, value, ...grads]);
  });

  it('reducedBatchSize keeps floor(B * fraction) examples of the same batch', () => {
    const inner = logisticRegressionTask({ batchSize: 40 });
    const task = reducedBatchSize(inner, 0.25);
    const full = inner.datasets!.train.sample(key(3)) as { x: tf.Tensor; label: tf.Tensor };
    const small = task.datasets!.train.sample(key(3)) as { x: tf.Tensor; label: tf.Tensor };
    expect(small.x.shape).toEqual([10, 10]);
    expect(Array.from(small.x.dataSync())).toEqual(Array.from(full.x.dataSync()).slice(0, 100));
    expect(task.normalizer!(Number.NaN)).toBeCloseTo(1.5 * Math.log(2), 10);
    disposeTree(full as unknown as TensorTree);
    disposeTree(small as unknown as TensorTree);
    expect(() => reducedBatchSize(quadraticTask(), 0.5)).toThrow(/datasets/);
    expect(() => reducedBatchSize(inner, 0)).toThrow(/fraction/);
  });

  it('randomAugmentationFamily applies augmentations at their rates and round-trips configs', () => {
    const fam = randomAugmentationFamily(fixedDimQuadraticFamily({ dim: 3 }), { reparam: 0.5, normalizeGradient: 0.25 });
    const cfgs: AugmentedConfig[] = split(key(4), 1000).map((k: Key) => fam.sample(k));
    const rate = (kind: string): number => cfgs.filter((c) => c.augmentations.some((a) => a.kind === kind)).length / cfgs.length;
    expect(Math.abs(rate('reparam') - 0.5)).toBeLessThan(0.05);
    expect(Math.abs(rate('normalizeGradient') - 0.25)).toBeLessThan(0.05);
    expect(Math.abs(rate('reducedBatch') - 0.2)).toBeLessThan(0.05);
    const levels = new Set(cfgs.flatMap((c) => c.augmentations.flatMap((a) => (a.kind === 'reparam' ? [a.reparam.level] : []))));
    expect(levels).toEqual(new Set(['global', 'tensor', 'parameter']));
    const cfg = cfgs.find((c) => c.augmentations.length >= 2) as AugmentedConfig;
    const a = fam.task(cfg);
    const b = fam.task(JSON.parse(JSON.stringify(cfg)));
    const pa = a.init(key(1));
    const pb = b.init(key(1));
    expect(b.loss(pb, undefined as never).dataSync()[0]).toBe(a.loss(pa, undefined as never).dataSync()[0]);
    disposeTree(pa);
    disposeTree(pb);
  });
});

describeTaskConformance('reparamWeights(parameter) of logistic regression', () => reparamWeights(logisticRegressionTask(), { level: 'parameter', key: [5, 6], minScale: 0.5, maxScale: 2 }), { leakSteps: 100 });
describeTaskConformance('reducedBatchSize(0.5) of logistic regression', () => reducedBatchSize(logisticRegressionTask(), 0.5), { leakSteps: 100 });
// The normalized gradient is deliberately not the derivative of the loss value.
describeTaskConformance('normalizeGradient of logistic regression', () => normalizeGradient(logisticRegressionTask()), { leakSteps: 100, finiteDifference: false });
describeTaskConformance('reparamWeightsFamily(tensor) task', () => {
  const f = reparamWeightsFamily(fixedDimQuadraticFamily({ dim: 4 }), { level: 'tensor', minScale: 0.1, maxScale: 10 });
  return f.task(f.sample(key(9)));
}, { leakSteps: 100, finiteDifference: { step: 1e-3 } });
