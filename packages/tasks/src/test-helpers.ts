// Test-only helpers (not exported from the package barrel).
import * as tf from '@tensorflow/tfjs-core';
import { advance, disposeTree, foldIn, key as makeKey, split, treeFlatten, treeLeaves, treeMap, treeUnflatten, type Key, type Optimizer, type OptState, type Task, type TensorTree } from '@lopt/core';

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
 * A minimal Adam (Kingma & Ba; bias-corrected, eps 1e-8 outside the square root, as optax)
 * on the core Optimizer contract. Written here because @lopt/optimizers depends on this
 * package for its own tests, so depending back on it would make the workspace build cyclic.
 */
export function adam(options: { learningRate: number; b1?: number; b2?: number; eps?: number }): Optimizer<{ mu: TensorTree; nu: TensorTree }> {
  const { learningRate: lr, b1 = 0.9, b2 = 0.999, eps = 1e-8 } = options;
  return {
    name: 'test-adam',
    init: (params: TensorTree): OptState<{ mu: TensorTree; nu: TensorTree }> => ({
      params,
      state: { mu: treeMap((p) => tf.zerosLike(p), params), nu: treeMap((p) => tf.zerosLike(p), params) },
      iteration: 0,
    }),
    update: (s, grads) => {
      const t = s.iteration + 1;
      const mu = treeMap((m, g) => tf.add(tf.mul(b1, m), tf.mul(1 - b1, g)), s.state.mu, grads);
      const nu = treeMap((v, g) => tf.add(tf.mul(b2, v), tf.mul(1 - b2, tf.square(g))), s.state.nu, grads);
      const params = treeMap(
        (p, m, v) => tf.sub(p, tf.mul(lr, tf.div(tf.div(m, 1 - b1 ** t), tf.add(tf.sqrt(tf.div(v, 1 - b2 ** t)), eps)))),
        s.params,
        mu,
        nu,
      );
      return { params, state: { mu, nu }, iteration: t };
    },
  };
}

/**
 * Trains `task` with {@link adam} (one `advance` per step, fresh batch per
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
  disposeTree(state.state.mu);
  disposeTree(state.state.nu);
  return { before, after };
}

/** Host copy of every leaf of a tree. */
export function hostLeaves(tree: TensorTree): number[][] {
  return treeLeaves(tree).map((t) => Array.from(t.dataSync()));
}

/** One Adam (or `options.optimizer`) training step at a time on `task`: returns the step function (it returns the step's train loss) and a disposer. */
export function adamStepper(task: Task, options: { learningRate: number; seed?: number; optimizer?: Optimizer }): { step: () => number; dispose: () => void } {
  const seed = options.seed ?? 0;
  const params = task.init(makeKey(seed));
  const { structure } = treeFlatten(params);
  const opt = (options.optimizer ?? adam({ learningRate: options.learningRate })) as Optimizer<TensorTree>;
  let state = opt.init(params);
  let t = 0;
  const step = (): number => {
    const k = foldIn(makeKey(seed + 1), t++);
    const { grads, value } = tf.tidy(() => {
      const batch = (task.datasets ? task.datasets.train.sample(k) : undefined) as TensorTree;
      const r = tf.valueAndGrads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch, k))(treeLeaves(state.params));
      return { grads: treeUnflatten(structure, r.grads), value: r.value };
    });
    state = advance(opt, state, grads, { loss: value });
    const loss = value.dataSync()[0] as number;
    disposeTree(grads);
    value.dispose();
    return loss;
  };
  const dispose = (): void => disposeTree([state.params, state.state]);
  return { step, dispose };
}
