// Test-only helpers (not exported from the package barrel).
import * as tf from '@tensorflow/tfjs-core';
import { adam } from '@lopt/optimizers';
import { advance, disposeTree, foldIn, key as makeKey, split, treeFlatten, treeLeaves, treeUnflatten, type Key, type Task, type TensorTree } from '@lopt/core';

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
 * Trains `task` with `adam` from @lopt/optimizers (one `advance` per step, fresh batch per
 * step) for `steps` steps and returns the mean train loss over `evalBatches` held batches
 * before and after.
 */
export function trainWithAdam(task: Task, options: { steps: number; learningRate: number; seed?: number; evalBatches?: number }): { before: number; after: number } {
  const seed = options.seed ?? 0;
  const params = task.init(split(makeKey(seed), 1)[0] as Key);
  const { structure } = treeFlatten(params);
  const evalBatches = options.evalBatches ?? 4;
  const before = meanLoss(task, params, evalBatches, seed);
  const opt = adam({ learningRate: options.learningRate });
  let state = opt.init(params, { numSteps: options.steps });
  for (let t = 1; t <= options.steps; t++) {
    const k = foldIn(makeKey(seed), t);
    const grads = tf.tidy(() => {
      const batch = (task.datasets ? task.datasets.train.sample(k) : undefined) as TensorTree;
      const g = tf.grads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch, k))(treeLeaves(state.params));
      return treeUnflatten(structure, g);
    });
    state = advance(opt, state, grads);
    disposeTree(grads);
  }
  const after = meanLoss(task, state.params, evalBatches, seed);
  disposeTree(state.params);
  disposeTree(state.state as TensorTree);
  return { before, after };
}

/** Host copy of every leaf of a tree. */
export function hostLeaves(tree: TensorTree): number[][] {
  return treeLeaves(tree).map((t) => Array.from(t.dataSync()));
}
