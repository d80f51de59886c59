import * as tf from '@tensorflow/tfjs-core';
import { advance, disposeTree, key, LoptError, tidy, treeLeaves, type OptState, type TensorTree } from '@lopt/core';
import { describe, expect, it } from 'vitest';
import { CELO_TIME_OFFSETS, lossDecays } from './celo-scheduler.js';
import { loadLearnedOptimizer, saveLearnedOptimizer } from './checkpoint.js';
import { controlAdam, type ControlAdamTheta } from './control-adam.js';
import { adamReferenceStep, DIAGONAL_QUADRATIC, runDiagonalQuadratic, runTensorGrowth, zeroInitialTheta } from './test-helpers.js';

const { x0: X0, c: C } = DIAGONAL_QUADRATIC;

/**
 * Plain-JS float64 reference of controlAdam on `0.5 * sum(c * x^2)` whose loss-feature weights
 * are zero: `extraDrive(t, c, logMult)` is the rest of `w . x + b` (time and control features).
 */
function controlReference(steps: number, stepMult: number, extraDrive: (t: number, cos: number, logMult: number) => number): number[] {
  const x = [...X0];
  const m = x.map(() => 0);
  const v = x.map(() => 0);
  let logMult = 0;
  for (let t = 0; t < steps; t++) {
    const g = x.map((xi, i) => (C[i] as number) * xi);
    let cos = 0;
    if (t > 0) {
      const u = m.map((mi, i) => mi / (1 - 0.9 ** t) / (1e-8 + Math.sqrt((v[i] as number) / (1 - 0.999 ** t) + 1e-10)));
      const dot = g.reduce((a, gi, i) => a + gi * (u[i] as number), 0);
      const norm = Math.sqrt(g.reduce((a, gi) => a + gi * gi, 0) * u.reduce((a, ui) => a + ui * ui, 0));
      cos = dot / Math.max(norm, 1e-30);
    }
    logMult = Math.min(10, Math.max(-10, logMult + 0.05 * Math.tanh(extraDrive(t, cos, logMult) + 3 * cos)));
    const lr = stepMult * Math.exp(logMult);
    adamReferenceStep(x, m, v, g, lr, t + 1);
  }
  return x;
}

function run(theta: ControlAdamTheta, steps: number, numSteps: number, stepMult: number): { x: number[]; logMult: number } {
  const out = runDiagonalQuadratic(controlAdam({ stepMult }).optimizer(theta, { numSteps }), { x0: X0, c: C }, steps, numSteps, (s) => (s as { logMult: tf.Scalar }).logMult.dataSync()[0] as number);
  return { x: out.x, logMult: out.read };
}

const ZERO_LOSS_WEIGHTS = Array.from({ length: 22 }, (_, i) => (i < 9 ? 0.1 * (i - 4) : i < 18 ? 0 : [0.7, -1.2, 0.5, 0.9][i - 18] as number));

describe('controlAdam', () => {
  it('at theta = 0 is Adam whose log learning rate moves by 0.05 tanh(3 cos(g_t, previous step))', () => {
    const theta = zeroInitialTheta(controlAdam({ stepMult: 0.05 }), 22);
    const got = run(theta, 40, 100, 0.05);
    const want = controlReference(40, 0.05, () => 0);
    got.x.forEach((v, i) => expect(v).toBeCloseTo(want[i] as number, 4));
    // The control did act: the learning rate is not stepMult any more (on this quadratic it oscillates down).
    expect(Math.abs(got.logMult)).toBeGreaterThan(0.05);
    disposeTree(theta as unknown as TensorTree);
  });

  it('adds w . (time and control features) + b to the drive (loss-feature weights zero)', () => {
    const theta: ControlAdamTheta = { w: tf.tensor1d(ZERO_LOSS_WEIGHTS), b: tf.scalar(-0.4) };
    const N = 50;
    const drive = (t: number, cos: number, logMult: number): number => {
      const tau = t / N;
      const time = CELO_TIME_OFFSETS.reduce((a, s, i) => a + (ZERO_LOSS_WEIGHTS[i] as number) * Math.tanh(10 * (tau - s)), 0);
      return -0.4 + time + 0.7 * cos - 1.2 * cos * tau + 0.5 * Math.tanh(logMult) + 0.9 * tau;
    };
    const got = run(theta, 30, N, 0.02);
    const want = controlReference(30, 0.02, drive);
    got.x.forEach((v, i) => expect(v).toBeCloseTo(want[i] as number, 4));
    disposeTree(theta as unknown as TensorTree);
  });

  it('reads the loss: loss-feature weights change the trajectory once the features switch on (after step 2)', () => {
    const base: ControlAdamTheta = { w: tf.zeros([22]) as tf.Tensor1D, b: tf.scalar(0) };
    const lossW: ControlAdamTheta = { w: tf.tensor1d(Array.from({ length: 22 }, (_, i) => (i >= 9 && i < 18 ? 2 : 0))), b: tf.scalar(0) };
    expect(run(lossW, 2, 40, 0.05).x).toEqual(run(base, 2, 40, 0.05).x);
    const a = run(base, 6, 40, 0.05).x;
    const b = run(lossW, 6, 40, 0.05).x;
    expect(a.some((v, i) => Math.abs(v - (b[i] as number)) > 1e-5)).toBe(true);
    disposeTree([base, lossW] as unknown as TensorTree);
  });

  it('keeps the log learning rate within ±10 whatever theta says', () => {
    const theta: ControlAdamTheta = { w: tf.zeros([22]) as tf.Tensor1D, b: tf.scalar(50) };
    const out = controlAdam({ controlRate: 1 }).optimizer(theta, { numSteps: 30 });
    let s = out.init(tf.tensor1d([1, 2]));
    for (let t = 0; t < 15; t++) s = tidy<OptState>(() => advance(out, s, tf.tensor1d([0.1, -0.2]), { loss: tf.scalar(1) }));
    expect((s.state as { logMult: tf.Scalar }).logMult.dataSync()[0]).toBe(10);
    disposeTree([s.params, s.state as TensorTree, theta as unknown as TensorTree]);
  });

  it('keeps the tensor count flat over many steps', () => {
    expect(runTensorGrowth(controlAdam().init(key(1)), run)).toBe(0);
  });

  it('round-trips through a checkpoint (same config, same theta, same steps)', () => {
    const lopt = controlAdam({ stepMult: 0.01, numSteps: 40 });
    const theta: ControlAdamTheta = { w: tf.tensor1d(ZERO_LOSS_WEIGHTS.map((w, i) => w + 0.01 * i)), b: tf.scalar(0.3) };
    const loaded = loadLearnedOptimizer(saveLearnedOptimizer(lopt, theta as unknown as TensorTree));
    expect(loaded.lopt.name).toBe('controlAdam');
    expect(loaded.lopt.config).toEqual(lopt.config);
    const [a, b] = [theta, loaded.theta as unknown as ControlAdamTheta].map((t) => run(t, 12, 40, 0.01).x);
    expect(b).toEqual(a);
    disposeTree([theta, loaded.theta] as unknown as TensorTree);
  });

  it('uses the loss-EMA decays of numSteps and validates its options, naming them', () => {
    const lopt = controlAdam();
    const theta = lopt.init(key(2));
    expect(treeLeaves(theta as unknown as TensorTree).reduce((a, l) => a + l.size, 0)).toBe(23);
    const s = lopt.optimizer(theta).init(tf.zeros([3]), { numSteps: 300 });
    const decay = Array.from((s.state as { lossDecay: tf.Tensor }).lossDecay.dataSync());
    lossDecays(300).forEach((d, i) => expect(decay[i]).toBeCloseTo(d, 6));
    disposeTree([s.params, s.state as TensorTree]);
    for (const [opts, option] of [[{ stepMult: 0 }, 'stepMult'], [{ controlRate: -1 }, 'controlRate'], [{ agreementGain: Number.NaN }, 'agreementGain'], [{ beta1: 1 }, 'beta1'], [{ epsilon: -1 }, 'epsilon'], [{ numSteps: 0 }, 'numSteps']] as const) {
      expect(() => controlAdam(opts)).toThrow(expect.objectContaining({ name: 'LoptError', message: expect.stringContaining(option) }));
    }
    expect(() => controlAdam({ lr: 1 } as never)).toThrow(LoptError);
    expect(() => controlAdam({ lr: 1 } as never)).toThrow(/lr/);
    expect(() => lopt.optimizer(theta).init(tf.zeros([2]))).toThrow(/numSteps/);
    expect(() => lopt.optimizer(theta, { numSteps: 5 }).update(lopt.optimizer(theta, { numSteps: 5 }).init(tf.zeros([2])), tf.zeros([2]))).toThrow(/loss/);
    disposeTree(theta as unknown as TensorTree);
  });
});
