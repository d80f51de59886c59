import * as tf from '@tensorflow/tfjs-core';
import { disposeTree, key, LoptError, treeLeaves, type TensorTree } from '@lopt/core';
import { describe, expect, it } from 'vitest';
import { CELO_TIME_OFFSETS, lossDecays } from './celo-scheduler.js';
import { scheduleAdam, type ScheduleAdamTheta } from './schedule-adam.js';
import { adamReferenceStep, DIAGONAL_QUADRATIC, runDiagonalQuadratic, runTensorGrowth, zeroInitialTheta } from './test-helpers.js';

/** Plain-JS float64 Adam (Celo-Adam's form: eps outside the root, 1e-10 inside) on `0.5 * sum(c * x^2)`. */
function adamReference(x0: readonly number[], c: readonly number[], lrs: number[]): number[] {
  const x = [...x0];
  const m = x.map(() => 0);
  const v = x.map(() => 0);
  lrs.forEach((lr, t) => {
    const g = x.map((xi, i) => (c[i] as number) * xi);
    adamReferenceStep(x, m, v, g, lr, t + 1);
  });
  return x;
}

const { x0: X0, c: C } = DIAGONAL_QUADRATIC;

function run(theta: ScheduleAdamTheta, steps: number, numSteps: number, stepMult: number): number[] {
  return runDiagonalQuadratic(scheduleAdam({ stepMult }).optimizer(theta, { numSteps }), { x0: X0, c: C }, steps, numSteps, () => 0).x;
}

describe('scheduleAdam', () => {
  it('is exactly Adam with learning rate stepMult at theta = 0 (its initial theta)', () => {
    const theta = zeroInitialTheta(scheduleAdam({ stepMult: 0.05 }), 18);
    const got = run(theta, 6, 20, 0.05);
    const want = adamReference(X0, C, new Array(6).fill(0.05));
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i] as number, 5));
    disposeTree(theta as unknown as TensorTree);
  });

  it('scales the first step by exp(w . time features + b) (loss features are 0 for two steps)', () => {
    const w = Array.from({ length: 18 }, (_, i) => (i < 9 ? 0.1 * (i - 4) : 0.3));
    const theta: ScheduleAdamTheta = { w: tf.tensor1d(w), b: tf.scalar(-0.4) };
    // Step 0 of 50: time features tanh(10 (0 - s)); the loss features are zero at t + 1 <= 2.
    const lr = (t: number): number => 0.02 * Math.exp(-0.4 + CELO_TIME_OFFSETS.reduce((a, s, i) => a + (w[i] as number) * Math.tanh(10 * (t / 50 - s)), 0));
    const got = run(theta, 2, 50, 0.02);
    const want = adamReference(X0, C, [lr(0), lr(1)]);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i] as number, 5));
    disposeTree(theta as unknown as TensorTree);
  });

  it('reads the loss: a large loss-feature weight changes the trajectory once the features switch on', () => {
    const base = { w: tf.zeros([18]) as tf.Tensor1D, b: tf.scalar(0) };
    const lossW = { w: tf.tensor1d(Array.from({ length: 18 }, (_, i) => (i >= 9 ? 2 : 0))), b: tf.scalar(0) };
    const a = run(base, 3, 40, 0.05);
    const b = run(lossW, 3, 40, 0.05);
    // Steps 1 and 2 see zero loss features, so the first two steps agree; the third may not.
    expect(run(lossW, 2, 40, 0.05)).toEqual(run(base, 2, 40, 0.05));
    expect(a.some((v, i) => Math.abs(v - (b[i] as number)) > 1e-4)).toBe(true);
    disposeTree([base, lossW] as unknown as TensorTree);
  });

  it('keeps the tensor count flat over many steps', () => {
    expect(runTensorGrowth(scheduleAdam().init(key(1)), run)).toBe(0);
  });

  it('uses the loss-EMA decays of numSteps and validates its options', () => {
    const lopt = scheduleAdam();
    const theta = lopt.init(key(2));
    const s = lopt.optimizer(theta).init(tf.zeros([3]), { numSteps: 300 });
    const decay = Array.from((s.state as { lossDecay: tf.Tensor }).lossDecay.dataSync());
    lossDecays(300).forEach((d, i) => expect(decay[i]).toBeCloseTo(d, 6));
    disposeTree([s.params, s.state as TensorTree, theta as unknown as TensorTree]);
    expect(() => scheduleAdam({ stepMult: 0 })).toThrow(/stepMult/);
    expect(() => scheduleAdam({ beta1: 1 })).toThrow(/beta1/);
    expect(() => scheduleAdam({ lr: 1 } as never)).toThrow(LoptError);
    expect(() => lopt.optimizer(lopt.init(key(3))).init(tf.zeros([2]))).toThrow(/numSteps/);
    expect(treeLeaves(lopt.init(key(4)) as unknown as TensorTree).length).toBe(2);
  });
});
