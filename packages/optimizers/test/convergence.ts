// optax-style convergence (optax/_src/alias_test.py `test_optimization`): every optimizer,
// with optax's test hyperparameters, reaches the minimum of the parabola sum((x - t)^2)
// from [-1, 10, 1] to [1, -1, 1] and of Rosenbrock (a = 1, b = 100) from [0, 0] to [1, 1]
// within rtol = atol = 3e-2 in at most 10,000 steps. Both problems are separate leaves of one
// parameter tree (every optimizer here acts per leaf, so this equals two separate runs);
// gradients are computed on the host in float64. Each run lasts at least 1,000 steps and
// doubles as a leak test: tf.memory().numTensors must not change over the run.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { advance, create, disposeTree, type FactoryOptions, type Optimizer, type TensorTree } from '@lopt/core';
import { OPTIMIZER_NAMES, registerAll } from '../src/index.js';

registerAll();

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

/** A convergence case: its test name, the registered optimizer and its options (optax's `opt_name`, `opt_kwargs`). */
export type ConvergenceCase = readonly [label: string, optimizer: string, options: FactoryOptions];

// optax's _OPTIMIZERS_UNDER_TEST settings for the optimizers of this package.
export const CASES: readonly ConvergenceCase[] = [
  ['sgd momentum', 'sgd', { learningRate: 1e-3, momentum: 0.9 }],
  ['adam', 'adam', { learningRate: 1e-1 }],
  ['adamw', 'adamw', { learningRate: 1e-1 }],
  ['nadamw', 'nadamw', { learningRate: 1e-2 }],
  ['amsgrad', 'amsgrad', { learningRate: 1e-1 }],
  ['rmsprop', 'rmsprop', { learningRate: 5e-3 }],
  ['rmsprop momentum', 'rmsprop', { learningRate: 5e-3, momentum: 0.9 }],
  ['adagrad', 'adagrad', { learningRate: 1.0 }],
  ['adadelta', 'adadelta', { learningRate: 0.1 }],
  ['adamax', 'adamax', { learningRate: 1e-1 }],
  ['adafactor', 'adafactor', { learningRate: 5e-3 }],
  ['lion', 'lion', { learningRate: 1e-2, weightDecay: 1e-4 }],
  ['lars', 'lars', { learningRate: 1.0 }],
  ['lamb', 'lamb', { learningRate: 1e-3 }],
  ['radam', 'radam', { learningRate: 5e-3 }],
  ['yogi', 'yogi', { learningRate: 1e-1 }],
  ['adabelief', 'adabelief', { learningRate: 1e-2 }],
  // Schedule-Free: the returned parameters y (where gradients are taken) converge too.
  ['scheduleFreeAdamw', 'scheduleFreeAdamw', { learningRate: 1e-2 }],
  ['scheduleFreeSgd', 'scheduleFreeSgd', { learningRate: 1e-3 }],
  ['shampoo', 'shampoo', { learningRate: 1e-2, graftType: 'rmsprop' }],
  ['soap', 'soap', { learningRate: 1e-2, weightDecay: 0, precondition1d: true }],
  ['muon (adam for vectors)', 'muon', { learningRate: 0.02, adamLearningRate: 0.1 }],
  ['mfac', 'mfac', { learningRate: 0.1, damping: 0.1, numGradients: 8, momentum: 0.9 }],
];

/** Registered optimizers without a case, and why: they need layer statistics from the task, or wrap another optimizer. */
export const NOT_COVERED: Readonly<Record<string, string>> = {
  kfac: 'needs layer statistics',
  foof: 'needs layer statistics',
  mbf: 'needs layer statistics',
  lookahead: 'wrapper',
  gradientAccumulation: 'wrapper',
  gradientClip: 'wrapper',
  graft: 'wrapper',
};

/** Registers a test that every registered optimizer has a case or a reason in {@link NOT_COVERED}. */
export function coverageTest(): void {
  it('covers every registered optimizer but those that need layer statistics and the wrappers', () => {
    const covered = new Set([...CASES.map((c) => c[1]), ...Object.keys(NOT_COVERED)]);
    expect(OPTIMIZER_NAMES.filter((n) => !covered.has(n))).toEqual([]);
  });
}

/** Registers one convergence test per case. */
export function convergenceTests(cases: readonly ConvergenceCase[]): void {
  for (const [name, optimizer, options] of cases) {
    it(name, () => {
      const res = converge(create('optimizer', optimizer, options) as Optimizer<unknown>);
      expect(res.leak, `${name} leaked tensors over ${res.steps} steps`).toBe(0);
      expect(within(res.x, PARABOLA_TARGET), `${name} parabola ended at [${res.x}] after ${res.steps} steps`).toBe(true);
      expect(within(res.r, ROSENBROCK_TARGET), `${name} Rosenbrock ended at [${res.r}] after ${res.steps} steps`).toBe(true);
      expect(res.steps).toBeGreaterThanOrEqual(1_000);
    });
  }
}
