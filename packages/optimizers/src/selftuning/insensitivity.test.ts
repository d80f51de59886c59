// "Gradient Descent: The Ultimate Optimizer" claims that hypergradient towers make training
// insensitive to the initial hyperparameters. Measured here on an MNIST MLP (8x8 images,
// one hidden layer of 32, batches of 64, 200 steps) from @lopt/tasks.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { advance, disposeTree, foldIn, key, treeFlatten, treeUnflatten, type Optimizer, type TensorTree } from '@lopt/core';
import { imageMlpTask } from '@lopt/tasks';
import { adam, sgd } from '../index.js';
import { hypergradient } from './hypergradient.js';

const STEPS = 200;

/** Trains the task with `opt` and returns the mean training loss of the last 50 steps. */
function finalLoss(opt: Optimizer<unknown>): number {
  const task = imageMlpTask({ imageSize: 8, hidden: [32], batchSize: 64 });
  const data = task.datasets?.train;
  if (data === undefined) throw new Error('imageMlpTask has no training data');
  const k = key(3);
  let state = opt.init(task.init(foldIn(k, 0)));
  const losses: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const batch = data.sample(foldIn(k, 100 + i));
    const { leaves, structure } = treeFlatten(state.params);
    const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch))(leaves);
    losses.push(value.dataSync()[0] as number);
    const g = treeUnflatten(structure, grads);
    state = advance(opt, state, g, { loss: value });
    disposeTree([g, batch as TensorTree, value]);
  }
  disposeTree([state.params, state.state as TensorTree]);
  const tail = losses.slice(-50);
  return tail.reduce((a, b) => a + b, 0) / tail.length;
}

it('a two-level hypergradient tower is much less sensitive to the initial learning rate than SGD (MNIST MLP)', { timeout: 180_000 }, () => {
  const initial = [1e-4, 1e-3, 1e-2, 1e-1, 1]; // 4 orders of magnitude
  // Tower: SGD whose log learning rate is tuned by Adam (kappa 0.05), whose log step size
  // is tuned by Adam (0.02). Adam hyper-steps are scale-free, so a 1e-4 start escapes.
  const tower = (lr: number) =>
    hypergradient(sgd({ learningRate: lr }), {
      hyperOptimizer: hypergradient(adam({ learningRate: 0.05 }), { tune: ['learningRate'], hyperOptimizer: adam({ learningRate: 0.02 }) }),
    });
  const plain = initial.map((lr) => finalLoss(sgd({ learningRate: lr })));
  const tuned = initial.map((lr) => finalLoss(tower(lr)));
  const spread = (xs: number[]) => Math.max(...xs) / Math.min(...xs);
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(', ');
  console.log(`initial learning rates: ${initial.join(', ')}`);
  console.log(`plain SGD final loss:   ${fmt(plain)}  (spread max/min ${spread(plain).toFixed(2)}x)`);
  console.log(`2-level tower:          ${fmt(tuned)}  (spread max/min ${spread(tuned).toFixed(2)}x)`);
  for (const x of [...plain, ...tuned]) expect(Number.isFinite(x)).toBe(true);
  // Stated margin: SGD's spread is large (> 3x), the tower's is below 2x and at most half of SGD's.
  expect(spread(plain)).toBeGreaterThan(3);
  expect(spread(tuned)).toBeLessThan(2);
  expect(spread(tuned)).toBeLessThan(spread(plain) / 2);
  // and the tower is not worse than the best fixed learning rate by much
  expect(Math.min(...tuned)).toBeLessThan(1.25 * Math.min(...plain));
});
