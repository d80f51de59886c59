import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError } from '@lopt/core';
import { adam, adamw, sgd } from '../index.js';
import { expectTrajectory, runReference, runSteps, zerosState } from '../../test/reference.js';

describe('sgd', () => {
  it('plain: p -= lr g', () => {
    const lr = 0.1;
    const ref = runReference((p, g) => p.map((x, j) => x - lr * (g[j] as number)));
    expectTrajectory(runSteps(sgd({ learningRate: lr })), ref, 'sgd');
  });

  for (const nesterov of [false, true]) {
    it(`momentum 0.9 nesterov=${nesterov}`, () => {
      const lr = 0.05;
      const mu = 0.9;
      const tr = zerosState();
      const ref = runReference((p, g, i) => {
        const m = tr[i] as number[];
        return p.map((x, j) => {
          m[j] = (g[j] as number) + mu * (m[j] as number);
          const u = nesterov ? (g[j] as number) + mu * (m[j] as number) : (m[j] as number);
          return x - lr * u;
        });
      });
      expectTrajectory(runSteps(sgd({ learningRate: lr, momentum: mu, nesterov })), ref, 'sgdm');
    });
  }

  it('schedule learning rate is evaluated at step 0, 1, 2', () => {
    const sched = (t: number) => 0.1 / (1 + t);
    const ref = runReference((p, g, _i, t) => p.map((x, j) => x - sched(t - 1) * (g[j] as number)));
    expectTrajectory(runSteps(sgd({ learningRate: sched })), ref, 'sgd-schedule');
  });
});

function adamReference(o: { lr: number; b1: number; b2: number; eps: number; wd?: number; nesterov?: boolean; epsRoot?: number }) {
  const m = zerosState();
  const v = zerosState();
  return runReference((p, g, i, t) =>
    p.map((x, j) => {
      const gj = g[j] as number;
      const mi = m[i] as number[];
      const vi = v[i] as number[];
      mi[j] = o.b1 * (mi[j] as number) + (1 - o.b1) * gj;
      vi[j] = o.b2 * (vi[j] as number) + (1 - o.b2) * gj * gj;
      const mHat = o.nesterov
        ? (o.b1 * (mi[j] as number)) / (1 - o.b1 ** (t + 1)) + ((1 - o.b1) * gj) / (1 - o.b1 ** t)
        : (mi[j] as number) / (1 - o.b1 ** t);
      const vHat = (vi[j] as number) / (1 - o.b2 ** t);
      const u = mHat / (Math.sqrt(vHat + (o.epsRoot ?? 0)) + o.eps) + (o.wd ?? 0) * x;
      return x - o.lr * u;
    }),
  );
}

describe('adam / adamw', () => {
  it('adam defaults match the bias-corrected formula', () => {
    expectTrajectory(runSteps(adam({ learningRate: 0.1 })), adamReference({ lr: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8 }), 'adam');
  });
  it('adam with other betas, epsilonRoot and nesterov', () => {
    const o = { lr: 0.03, b1: 0.8, b2: 0.95, eps: 1e-3, epsRoot: 1e-4, nesterov: true };
    const opt = adam({ learningRate: o.lr, beta1: o.b1, beta2: o.b2, epsilon: o.eps, epsilonRoot: o.epsRoot, nesterov: true });
    expectTrajectory(runSteps(opt), adamReference(o), 'nadam');
  });
  it('adamw decays decoupled and multiplied by the learning rate', () => {
    const o = { lr: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.3 };
    expectTrajectory(runSteps(adamw({ learningRate: o.lr, weightDecay: o.wd })), adamReference(o), 'adamw');
  });
  it('adamw with a mask decays only selected leaves', () => {
    const base = { lr: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8 };
    const decayed = adamReference({ ...base, wd: 0.3 });
    const plain = adamReference(base);
    const actual = runSteps(adamw({ learningRate: 0.1, weightDecay: 0.3, mask: (_path, p) => p.rank > 1 }));
    const expected = decayed.map((step, s) => [(plain[s] as number[][])[0] as number[], step[1] as number[]]);
    expectTrajectory(actual, expected, 'adamw-mask');
  });
});

describe('validation', () => {
  const bad: [string, () => unknown][] = [
    ['learningRate', () => sgd({ learningRate: -0.1 })],
    ['learningRate', () => adam({ learningRate: Number.NaN })],
    ['beta1', () => adam({ beta1: 1 })],
    ['beta2', () => adamw({ beta2: -0.1 })],
    ['epsilon', () => adam({ epsilon: -1 })],
    ['weightDecay', () => adamw({ weightDecay: Number.NaN })],
    ['momentum', () => sgd({ momentum: 1.5 })],
    ['learningrate', () => adam({ learningrate: 0.1 } as never)],
  ];
  for (const [option, make] of bad) {
    it(`rejects bad ${option}`, () => {
      let err: unknown;
      try {
        make();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LoptError);
      expect((err as LoptError).code).toBe('INVALID_OPTION');
      expect((err as LoptError).option).toBe(option);
      expect((err as LoptError).message).toContain(option);
    });
  }

  it('rejects a gradient tree of another structure, naming the path', () => {
    const opt = adam();
    const params = { a: tf.zeros([3]), w: tf.zeros([2, 2]) };
    const state = opt.init(params);
    const grads = { a: tf.zeros([3]), v: tf.zeros([2, 2]) };
    expect(() => opt.update(state, grads)).toThrow(/'v'|'w'/);
    try {
      opt.update(state, grads);
    } catch (e) {
      expect((e as LoptError).code).toBe('TREE_MISMATCH');
    }
    const wrongShape = { a: tf.zeros([3]), w: tf.zeros([4]) };
    try {
      opt.update(state, wrongShape);
      expect.unreachable();
    } catch (e) {
      expect((e as LoptError).code).toBe('SHAPE_MISMATCH');
      expect((e as LoptError).path).toBe('w');
    }
  });
});
