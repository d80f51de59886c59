import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { foldIn, key, stackTrees, treeFlatten, treeUnflatten, type TensorTree } from '@lopt/core';
import { fixedDimQuadraticFamily, noisyQuadraticFamily } from './quadratics.js';
import { imageMlpFamily } from './families.js';

/** Per-copy losses and gradients: batched vs one task at a time. */
function compare(family: { sample(k: ReturnType<typeof key>): unknown; task(c: unknown): ReturnType<typeof imageMlpFamily>['task'] extends (c: never) => infer T ? T : never; vectorized?(c: unknown[]): unknown }, k: number): number {
  const cfgs = Array.from({ length: k }, (_, i) => family.sample(foldIn(key(1), i)));
  const vt = family.vectorized!(cfgs) as { loss(p: TensorTree, b: TensorTree): tf.Tensor1D; size: number };
  expect(vt.size).toBe(k);
  const tasks = cfgs.map((c) => family.task(c as never));
  const params = tasks.map((t, i) => t.init(foldIn(key(2), i)));
  const batches = tasks.map((t, i) => t.datasets?.train.sample(foldIn(key(3), i)) as TensorTree | undefined);
  const { leaves, structure } = treeFlatten(stackTrees(params));
  const batch = batches[0] === undefined ? undefined : stackTrees(batches as TensorTree[]);
  let per: tf.Tensor1D | undefined;
  const { grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => {
    const l = vt.loss(treeUnflatten(structure, ls), batch as TensorTree);
    per = tf.keep(l);
    return tf.sum(l);
  })(leaves);
  let worst = 0;
  tasks.forEach((t, i) => {
    const pl = treeFlatten(params[i]!);
    const r = tf.valueAndGrads((...ls: tf.Tensor[]) => t.loss(treeUnflatten(pl.structure, ls), batches[i] as TensorTree))(pl.leaves);
    const l = r.value.dataSync()[0]!;
    worst = Math.max(worst, Math.abs(per!.dataSync()[i]! - l) / Math.max(1, Math.abs(l)));
    r.grads.forEach((g, j) => {
      const a = g.dataSync();
      const b = tf.tidy(() => tf.gather(grads[j]!, i)).dataSync();
      for (let e = 0; e < a.length; e++) worst = Math.max(worst, Math.abs(a[e]! - b[e]!) / Math.max(1e-3, Math.abs(a[e]!)));
    });
  });
  return worst;
}

describe('vectorized task families', () => {
  it('image MLP (softmax regression and 2 hidden layers) and quadratics: per-copy losses and gradients equal the tasks', () => {
    const fams = [
      imageMlpFamily({ maxLayers: 0, imageSizeRange: [8, 8], batchSizeRange: [16, 16] }),
      imageMlpFamily({ minLayers: 2, maxLayers: 2, hiddenRange: [5, 5], imageSizeRange: [6, 6], batchSizeRange: [8, 8], activations: ['relu'] }),
      fixedDimQuadraticFamily({ dim: 5, maxCondition: 10 }),
      noisyQuadraticFamily({ dim: 4 }),
    ];
    for (const f of fams) for (const k of [1, 4]) expect(compare(f as never, k)).toBeLessThan(1e-3);
  });

  it('returns undefined when shapes differ, throws LoptError for no configurations', () => {
    const f = imageMlpFamily({ maxLayers: 0, imageSizeRange: [6, 10] });
    const cfgs = [f.sample(key(1)), { ...f.sample(key(2)), imageSize: 7 }, { ...f.sample(key(3)), imageSize: 9 }];
    expect(f.vectorized!(cfgs)).toBeUndefined();
    expect(() => f.vectorized!([])).toThrow(/'cfgs'/);
    const q = fixedDimQuadraticFamily({ dim: 3 });
    expect(q.vectorized!([q.sample(key(1)), { ...q.sample(key(2)), dim: 4 }])).toBeUndefined();
  });
});
