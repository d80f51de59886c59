import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, disposeTree, key, type Task, type TensorTree } from '@lopt/core';
import { learnableAdam, learnableSgd, learnableSgdm } from '../learnable.js';
import { pretrained } from '../pretrained/pretrained.js';
import { DEFAULT_GRADIENT_GRID, updateResponse, updateResponseDuringTraining } from './update-response.js';

/** A data-free quadratic: loss = sum(a_i x_i^2) / 2 with fixed a and start x0, so grad = a * x. */
const A = [1, 0.5, 2, 0.25, 1.5, 3];
const X0 = [1, -2, 0.5, 4, -1, 0.3];
const quadratic: Task = {
  name: 'test-quadratic',
  init: () => ({ x: tf.tensor1d(X0) }),
  loss: (p: TensorTree) => tf.tidy(() => tf.mul(0.5, tf.sum(tf.mul(tf.tensor1d(A), tf.square((p as { x: tf.Tensor }).x)))) as tf.Scalar),
};

function expectClose(actual: readonly number[], expected: readonly number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - (expected[i] as number))).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(expected[i] as number))));
}

function errorOf(fn: () => unknown): LoptError {
  try {
    fn();
  } catch (e) {
    if (e instanceof LoptError) return e;
    throw e;
  }
  throw new Error('expected a LoptError');
}

/** learnableSgdm at learning rate `lr` and momentum `mu`, with its initial theta. */
function sgdm(lr: number, mu: number) {
  const lopt = learnableSgdm({ learningRate: lr, momentum: mu });
  return { lopt, theta: lopt.init(key(0)), lr, mu };
}

describe('updateResponse', () => {
  it('is linear with slope -lr for learnable SGD', () => {
    const lopt = learnableSgd({ learningRate: 0.1 });
    const theta = lopt.init(key(0));
    const r = updateResponse(lopt, theta);
    expect(r.gradients).toEqual([...DEFAULT_GRADIENT_GRID]);
    expect(r.updates).toHaveLength(1);
    expectClose(r.updates[0] as number[], r.gradients.map((g) => -0.1 * g), 1e-6);
    disposeTree(theta);
  });

  it('is sign-like for Adam at its first step: -lr * g / (|g| + eps)', () => {
    const lopt = learnableAdam({ learningRate: 0.01, epsilon: 1e-3 });
    const theta = lopt.init(key(0));
    const gradients = [-2, -0.5, -0.01, 0, 0.001, 0.3, 5];
    const r = updateResponse(lopt, theta, { gradients });
    expectClose(r.updates[0] as number[], gradients.map((g) => (-0.01 * g) / (Math.abs(g) + 1e-3)), 1e-5);
    disposeTree(theta);
  });

  it('shifts by the momentum feature for SGD with momentum after a warm-up', () => {
    const { lopt, theta, lr, mu } = sgdm(0.05, 0.9);
    const gradients = [-1, 0, 0.5];
    const momenta = [-2, 0, 1];
    const r = updateResponse(lopt, theta, { gradients, momenta, warmupSteps: 3 });
    // trace after 3 steps of constant m: m (1 + mu + mu^2); the probe step: trace' = g + mu trace.
    momenta.forEach((m, i) => expectClose(r.updates[i] as number[], gradients.map((g) => -lr * (g + mu * m * (1 + mu + mu * mu))), 1e-5));
    expect(r.momenta).toEqual(momenta);
    expect(r.warmupSteps).toBe(3);
    disposeTree(theta);
  });

  it('runs a pretrained optimizer that reads the loss (celo2) and returns finite, odd-ish responses', () => {
    const { lopt, theta } = pretrained('celo2');
    const r = updateResponse(lopt, theta, { gradients: [-1, -0.1, 0, 0.1, 1] });
    const u = r.updates[0] as number[];
    expect(u.every(Number.isFinite)).toBe(true);
    // a descent direction: a positive gradient gives a negative update and vice versa
    expect(u[4]).toBeLessThan(0);
    expect(u[0]).toBeGreaterThan(0);
    disposeTree(theta);
  });

  it('validates its options and reports non-finite updates', () => {
    const lopt = learnableSgd({ learningRate: 100 });
    const theta = lopt.init(key(0));
    expect(errorOf(() => updateResponse(lopt, theta, { gradients: [] })).option).toBe('gradients');
    expect(errorOf(() => updateResponse(lopt, theta, { gradients: [0, Number.NaN] })).option).toBe('gradients[1]');
    expect(errorOf(() => updateResponse(lopt, theta, { warmupSteps: -1 })).option).toBe('warmupSteps');
    const e = errorOf(() => updateResponse(lopt, theta, { gradients: [1, 3e38] }));
    expect(e.code).toBe('NON_FINITE');
    expect(e.message).toContain('gradient 3e+38');
    disposeTree(theta);
  });

  it('leaks no tensors over many calls', () => {
    const lopt = learnableSgdm();
    const theta = lopt.init(key(0));
    updateResponse(lopt, theta, { momenta: [0, 1], warmupSteps: 2 });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) updateResponse(lopt, theta, { momenta: [0, 1], warmupSteps: 2 });
    expect(tf.memory().numTensors).toBe(before);
    disposeTree(theta);
  });
});

describe('updateResponseDuringTraining', () => {
  it('probes the real momentum state of SGD with momentum (float64 reference)', () => {
    const { lopt, theta, lr, mu } = sgdm(0.1, 0.8);
    const gradients = [-1, 0, 2];
    const steps = [0, 3, 7];
    const r = updateResponseDuringTraining(lopt, theta, { task: quadratic, steps, gradients, probes: 3 });
    expect(r.path).toBe('x');
    expect(r.indices).toEqual([1, 3, 5]);
    // plain-JS replay of the run
    const x = [...X0];
    const t = X0.map(() => 0);
    for (let step = 0; step <= 7; step++) {
      const g = x.map((v, i) => (A[i] as number) * v);
      const snap = r.snapshots[steps.indexOf(step)];
      if (snap) {
        expect(snap.step).toBe(step);
        expectClose(snap.gradient, r.indices.map((i) => g[i] as number), 1e-5);
        expect(snap.loss).toBeCloseTo(0.5 * x.reduce((s, v, i) => s + (A[i] as number) * v * v, 0), 4);
        r.indices.forEach((i, p) => expectClose(snap.updates[p] as number[], gradients.map((gv) => -lr * (gv + mu * (t[i] as number))), 1e-5));
      }
      for (let i = 0; i < x.length; i++) {
        t[i] = (g[i] as number) + mu * (t[i] as number);
        x[i] = (x[i] as number) - lr * (t[i] as number);
      }
    }
    disposeTree(theta);
  });

  it('validates steps and the task, and leaks no tensors', () => {
    const lopt = learnableSgdm();
    const theta = lopt.init(key(0));
    expect(errorOf(() => updateResponseDuringTraining(lopt, theta, { task: quadratic, steps: [3, 3] })).option).toBe('steps');
    expect(errorOf(() => updateResponseDuringTraining(lopt, theta, { task: quadratic, steps: [-1] })).option).toBe('steps[0]');
    expect(errorOf(() => updateResponseDuringTraining(lopt, theta, { task: {} as Task, steps: [0] })).option).toBe('task');
    updateResponseDuringTraining(lopt, theta, { task: quadratic, steps: [0, 5] });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) updateResponseDuringTraining(lopt, theta, { task: quadratic, steps: [2, 10], gradients: [-1, 1] });
    expect(tf.memory().numTensors).toBe(before);
    disposeTree(theta);
  });
});
