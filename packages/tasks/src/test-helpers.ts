// Test-only helpers (not exported from the package barrel).
import * as tf from '@tensorflow/tfjs-core';
import { disposeTree, foldIn, key as makeKey, split, treeFlatten, treeLeaves, treeUnflatten, type Key, type Task, type TensorTree } from '@lopt/core';

/** Mean loss of `params` over `n` train batches (keys derived from `seed`). */
export function meanLoss(task: Task, params: TensorTree, n: number, seed: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const k = foldIn(makeKey(seed), 1_000_000 + i);
    total += tf.tidy(() => {
      const batch = (task.datasets ? task.datasets.train.sample(k) : undefined) as TensorTree;
      return task.loss(params, batch, k).dataSync()[0] as number;
    });
  }
  return total / n;
}

/**
 * Trains `task` with a minimal Adam (written here so the tasks package does not depend on
 * @lopt/optimizers) for `steps` steps and returns the mean train loss over `evalBatches`
 * batches before and after.
 */
export function trainWithAdam(task: Task, options: { steps: number; learningRate: number; seed?: number; evalBatches?: number }): { before: number; after: number } {
  const seed = options.seed ?? 0;
  const [kInit] = split(makeKey(seed), 1) as [Key];
  let params = task.init(kInit);
  const { structure } = treeFlatten(params);
  const evalBatches = options.evalBatches ?? 4;
  const before = meanLoss(task, params, evalBatches, seed);
  let m = treeLeaves(params).map((p) => tf.zerosLike(p));
  let v = treeLeaves(params).map((p) => tf.zerosLike(p));
  const b1 = 0.9;
  const b2 = 0.999;
  for (let t = 1; t <= options.steps; t++) {
    const k = foldIn(makeKey(seed), t);
    const out = tf.tidy(() => {
      const batch = (task.datasets ? task.datasets.train.sample(k) : undefined) as TensorTree;
      const leaves = treeLeaves(params);
      const grads = tf.grads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch, k))(leaves);
      const m2 = grads.map((g, i) => tf.add(tf.mul(b1, m[i] as tf.Tensor), tf.mul(1 - b1, g)));
      const v2 = grads.map((g, i) => tf.add(tf.mul(b2, v[i] as tf.Tensor), tf.mul(1 - b2, tf.square(g))));
      const lr = (options.learningRate * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
      const p2 = leaves.map((p, i) => tf.sub(p, tf.div(tf.mul(lr, m2[i] as tf.Tensor), tf.add(tf.sqrt(v2[i] as tf.Tensor), 1e-8))));
      return { p2, m2, v2 };
    });
    disposeTree(params);
    m.forEach((x) => x.dispose());
    v.forEach((x) => x.dispose());
    params = treeUnflatten(structure, out.p2);
    m = out.m2;
    v = out.v2;
  }
  const after = meanLoss(task, params, evalBatches, seed);
  disposeTree(params);
  m.forEach((x) => x.dispose());
  v.forEach((x) => x.dispose());
  return { before, after };
}

/** Host copy of every leaf of a tree. */
export function hostLeaves(tree: TensorTree): number[][] {
  return treeLeaves(tree).map((t) => Array.from(t.dataSync()));
}
