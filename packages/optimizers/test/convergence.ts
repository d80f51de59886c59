// optax-style convergence (optax/_src/alias_test.py `test_optimization`): every optimizer,
// with optax's test hyperparameters, reaches the minimum of the parabola sum((x - t)^2)
// from [-1, 10, 1] to [1, -1, 1] and of Rosenbrock (a = 1, b = 100) from [0, 0] to [1, 1]
// within rtol = atol = 3e-2 in at most 10,000 steps. Both problems are separate leaves of one
// parameter tree (every optimizer here acts per leaf, so this equals two separate runs);
// gradients are computed on the host in float64. Each run lasts at least 1,000 steps and
// doubles as a leak test: tf.memory().numTensors must not change over the run.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { advance, disposeTree, type Optimizer, type TensorTree } from '@lopt/core';
import {
  adabelief,
  adadelta,
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  amsgrad,
  lamb,
  lars,
  lion,
  mfac,
  muon,
  nadamw,
  radam,
  rmsprop,
  scheduleFreeAdamw,
  scheduleFreeSgd,
  sgd,
  shampoo,
  soap,
  yogi,
} from '../src/index.js';

const PARABOLA_TARGET = [1, -1, 1];
const ROSENBROCK_TARGET = [1, 1];

function gradients(x: Float32Array, r: Float32Array): { parabola: number[]; rosenbrock: number[] } {
  const parabola = Array.from(x, (v, i) => 2 * (v - (PARABOLA_TARGET[i] as number)));
  const [u, w] = [r[0] as number, r[1] as number];
  const rosenbrock = [-2 * (1 - u) - 400 * u * (w - u * u), 200 * (w - u * u)];
  return { parabola, rosenbrock };
}

const within = (v: ArrayLike<number>, target: number[]) =>
  target.every((t, i) => Math.abs((v[i] as number) - t) <= 3e-2 + 3e-2 * Math.abs(t));

function converge(opt: Optimizer<unknown>): { steps: number; leak: number; x: number[]; r: number[] } {
  let state = opt.init({ parabola: tf.tensor1d([-1, 10, 1]), rosenbrock: tf.tensor1d([0, 0]) });
  let baseline = 0;
  let steps = 0;
  let converged = 0;
  for (; steps < 10_000; steps++) {
    const p = state.params as { parabola: tf.Tensor; rosenbrock: tf.Tensor };
    const x = p.parabola.dataSync() as Float32Array;
    const r = p.rosenbrock.dataSync() as Float32Array;
    if (within(x, PARABOLA_TARGET) && within(r, ROSENBROCK_TARGET)) converged++;
    else converged = 0;
    if (steps >= 1_000 && converged >= 100) break; // stays at the minimum for 100 steps
    const g = gradients(x, r);
    const grads: TensorTree = { parabola: tf.tensor1d(g.parabola), rosenbrock: tf.tensor1d(g.rosenbrock) };
    state = advance(opt, state, grads);
    disposeTree(grads);
    if (steps === 10) baseline = tf.memory().numTensors;
  }
  const leak = tf.memory().numTensors - baseline;
  const p = state.params as { parabola: tf.Tensor; rosenbrock: tf.Tensor };
  const out = { steps, leak, x: Array.from(p.parabola.dataSync()), r: Array.from(p.rosenbrock.dataSync()) };
  tf.dispose([p.parabola, p.rosenbrock]);
  disposeTree(state.state as TensorTree);
  return out;
}

// optax's _OPTIMIZERS_UNDER_TEST settings for the optimizers of this package.
export const CASES: [string, () => Optimizer<unknown>][] = [
  ['sgd momentum', () => sgd({ learningRate: 1e-3, momentum: 0.9 })],
  ['adam', () => adam({ learningRate: 1e-1 })],
  ['adamw', () => adamw({ learningRate: 1e-1 })],
  ['nadamw', () => nadamw({ learningRate: 1e-2 })],
  ['amsgrad', () => amsgrad({ learningRate: 1e-1 })],
  ['rmsprop', () => rmsprop({ learningRate: 5e-3 })],
  ['rmsprop momentum', () => rmsprop({ learningRate: 5e-3, momentum: 0.9 })],
  ['adagrad', () => adagrad({ learningRate: 1.0 })],
  ['adadelta', () => adadelta({ learningRate: 0.1 })],
  ['adamax', () => adamax({ learningRate: 1e-1 })],
  ['adafactor', () => adafactor({ learningRate: 5e-3 })],
  ['lion', () => lion({ learningRate: 1e-2, weightDecay: 1e-4 })],
  ['lars', () => lars({ learningRate: 1.0 })],
  ['lamb', () => lamb({ learningRate: 1e-3 })],
  ['radam', () => radam({ learningRate: 5e-3 })],
  ['yogi', () => yogi({ learningRate: 1e-1 })],
  ['adabelief', () => adabelief({ learningRate: 1e-2 })],
  // Schedule-Free: the returned parameters y (where gradients are taken) converge too.
  ['scheduleFreeAdamw', () => scheduleFreeAdamw({ learningRate: 1e-2 })],
  ['scheduleFreeSgd', () => scheduleFreeSgd({ learningRate: 1e-3 })],
  ['shampoo', () => shampoo({ learningRate: 1e-2, graftType: 'rmsprop' })],
  ['soap', () => soap({ learningRate: 1e-2, weightDecay: 0, precondition1d: true })],
  ['muon (adam for vectors)', () => muon({ learningRate: 0.02, adamLearningRate: 0.1 })],
  ['mfac', () => mfac({ learningRate: 0.1, damping: 0.1, numGradients: 8, momentum: 0.9 })],
];

/** Registers one convergence test per case. */
export function convergenceTests(cases: readonly [string, () => Optimizer<unknown>][]): void {
  for (const [name, make] of cases) {
    it(name, () => {
      const res = converge(make());
      expect(res.leak, `${name} leaked tensors over ${res.steps} steps`).toBe(0);
      expect(within(res.x, PARABOLA_TARGET), `${name} parabola ended at [${res.x}] after ${res.steps} steps`).toBe(true);
      expect(within(res.r, ROSENBROCK_TARGET), `${name} Rosenbrock ended at [${res.r}] after ${res.steps} steps`).toBe(true);
      expect(res.steps).toBeGreaterThanOrEqual(1_000);
    });
  }
}
