import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, create, disposeTree, foldIn, has, list, treeLeaves, type Key, type Task, type TaskFamily, type TensorTree } from '@lopt/core';
import { checkEstimatorAgreement, describeEstimatorConformance, expectClose } from '@lopt/testkit';
import { fullES } from './full-es.js';
import { lOptTruncatedStep } from './lopt-truncated-step.js';
import { learnableSgd } from '../test/problems/learned-optimizers.js';
import { quadraticTaskFamily } from '../test/problems/quadratic-family.js';
import { learnableSgdQuadratic } from '../test/problems/quadratic-sgd.js';
import { registerAll } from './registry.js';
import { disposeExcept } from './state.js';
import { tbptt } from './tbptt.js';
import { truncatedES } from './truncated-es.js';
import { truncatedPES } from './truncated-pes.js';
import { constantTruncation, logUniformTruncation } from './truncation.js';
import { TEST_KEY, gaussianExpectation } from '../test/test-utils.js';

// Conformance problem: learnable SGD on a quadratic, one truncation = the whole episode.
const T = 10;
const THETA = Math.log(0.2);
const STD = 0.05;
const N = 192;
const ref = learnableSgdQuadratic({ numTasks: 1, horizon: T });

/** d/du of sum_t w_t L_t with every step at log learning rate THETA + e. */
function reductionGradient(e: number, weights: (t: number) => number): number {
  const { dL } = ref.reference(new Array(T).fill(THETA + e));
  let g = 0;
  dL.forEach((row, t) => row.forEach((v) => (g += weights(t) * v)));
  return g;
}
const smoothed = (weights: (t: number) => number) => gaussianExpectation(1, STD, 12, (e) => reductionGradient(e[0] as number, weights));
const MEAN = (_t: number) => 1 / T;
const LAST = (t: number) => (t === T - 1 ? 1 : 0);

const setupWith = (make: (step: ReturnType<typeof learnableSgdQuadratic>['truncatedStep']) => ReturnType<typeof truncatedES>) => () => {
  const p = learnableSgdQuadratic({ numTasks: N, horizon: T });
  return { estimator: make(p.truncatedStep) as never, theta: p.theta(THETA) };
};

describeEstimatorConformance('tbptt', {
  setup: () => {
    const p = learnableSgdQuadratic({ numTasks: 2, horizon: T });
    return { estimator: tbptt({ truncatedStep: p.truncatedStep, unrollLength: T }) as never, theta: p.theta(THETA) };
  },
  expectedGradient: [reductionGradient(0, MEAN)],
  samples: 2,
  stochastic: false,
});
describeEstimatorConformance('truncatedES', {
  setup: setupWith((s) => truncatedES({ truncatedStep: s, unrollLength: T, std: STD })),
  expectedGradient: [smoothed(MEAN)],
});
describeEstimatorConformance('truncatedPES', {
  setup: setupWith((s) => truncatedPES({ truncatedStep: s, unrollLength: T, std: STD }) as never),
  expectedGradient: [smoothed(MEAN)],
});
describeEstimatorConformance('fullES', {
  setup: setupWith((s) => fullES({ truncatedStep: s, unrollLength: T, std: STD }) as never),
  expectedGradient: [smoothed(MEAN)],
});

describe('fullES loss types', () => {
  it("'last' and 'min' estimate the smoothed gradient of the final loss, 'avg' of the mean", () => {
    for (const [lossType, w] of [['last', LAST], ['min', LAST], ['avg', MEAN]] as const) {
      const expected = smoothed(w);
      const r = checkEstimatorAgreement({
        setup: setupWith((s) => fullES({ truncatedStep: s, unrollLength: T, std: STD, lossType }) as never),
        expectedGradient: [expected],
        samples: 8,
      });
      console.log(`fullES ${lossType}: ${r.mean[0]?.toFixed(5)} +- ${r.standardError[0]?.toFixed(5)}, smoothed exact ${expected.toFixed(5)}`);
    }
  });

  it("'lastRecompute' evaluates the final parameters through TruncatedStep.evaluate", () => {
    const family: TaskFamily<{ id: number }> = {
      name: 'fixed',
      sample: () => ({ id: 0 }),
      task: (): Task => ({
        name: 'fixed',
        init: () => ({ x: tf.tensor1d(Array.from(ref.initial)) }),
        loss: (p: TensorTree) => tf.tidy(() => tf.mul(0.5, tf.sum(tf.mul(tf.tensor1d(Array.from(ref.curvatures)), tf.square((p as { x: tf.Tensor }).x)))) as tf.Scalar),
      }),
    };
    const step = lOptTruncatedStep({ taskFamily: family, learnedOptimizer: learnableSgd(), truncation: constantTruncation(1000), numTasks: 32 });
    // The loss after the T-th update is L_T: smoothed d L_T / du from a horizon T + 1 reference.
    const ref1 = learnableSgdQuadratic({ numTasks: 1, horizon: T + 1 });
    const expected = gaussianExpectation(1, STD, 12, (e) => {
      const { dL } = ref1.reference(new Array(T + 1).fill(THETA + (e[0] as number)));
      return (dL[T] as Float64Array).reduce((a, b) => a + b, 0);
    });
    const r = checkEstimatorAgreement({
      setup: () => ({ estimator: fullES({ truncatedStep: step, unrollLength: T, std: STD, lossType: 'lastRecompute', recomputeSamples: 2 }), theta: { logLearningRate: tf.scalar(THETA) } }),
      expectedGradient: [expected],
      samples: 5,
    });
    console.log(`fullES lastRecompute: ${r.mean[0]?.toFixed(5)} +- ${r.standardError[0]?.toFixed(5)}, smoothed exact ${expected.toFixed(5)}`);
    expect(() => fullES({ truncatedStep: ref.truncatedStep, unrollLength: T, lossType: 'lastRecompute' })).toThrow(/evaluate/);
  });

  it('samples episode lengths from lengthSchedule', () => {
    const p = learnableSgdQuadratic({ numTasks: 4, horizon: T });
    const est = fullES({ truncatedStep: p.truncatedStep, unrollLength: T, lengthSchedule: logUniformTruncation(3, 9) });
    const theta = p.theta(THETA);
    const lengths = new Set<number>();
    for (let i = 0; i < 8; i++) {
      const r = est.estimate(theta, est.init(theta, TEST_KEY), foldIn(TEST_KEY, i));
      lengths.add(r.metrics.episodeLength as number);
      disposeTree(r.grad);
    }
    for (const l of lengths) expect(l >= 3 && l < 9).toBe(true);
    expect(lengths.size).toBeGreaterThan(1);
    disposeTree(theta);
  });
});

describe('loss-difference options', () => {
  const M = 2048;
  const p = learnableSgdQuadratic({ numTasks: M, horizon: T });
  const one = (est: ReturnType<typeof truncatedES>, k: Key): number => {
    const theta = p.theta(THETA);
    const ws = est.init(theta, TEST_KEY);
    const r = est.estimate(theta, ws, k);
    const g = treeLeaves(r.grad)[0]?.dataSync()[0] as number;
    disposeTree([theta, r.grad]);
    disposeExcept([ws, r.state]);
    return g;
  };

  it('sign-ES gives -scalar E|eps| / (2 std^2) when the loss falls with theta; tiny clipping equals sign-ES', () => {
    const s = 0.01;
    const g = one(truncatedES({ truncatedStep: p.truncatedStep, unrollLength: T, std: STD, signDeltaLossScalar: s }), TEST_KEY);
    const expected = (-s * STD * Math.sqrt(2 / Math.PI)) / (2 * STD * STD);
    expectClose(g, expected, { rtol: 0.05 }); // |mean|eps|/std - sqrt(2/pi)| ~ 0.6/sqrt(2048) ~ 1.3%
    const clipped = one(truncatedES({ truncatedStep: p.truncatedStep, unrollLength: T, std: STD, clipLossDiff: 1e-9 }), TEST_KEY);
    const signed = one(truncatedES({ truncatedStep: p.truncatedStep, unrollLength: T, std: STD, signDeltaLossScalar: 1e-9 }), TEST_KEY);
    expectClose(clipped, signed, { rtol: 1e-6 });
  });

  it('a task whose loss is NaN is dropped (nanToNum) and counted; without nanToNum the gradient is NaN', () => {
    const family = quadraticTaskFamily({ dim: 3, poisonProbability: 0.3 });
    const step = lOptTruncatedStep({ taskFamily: family, learnedOptimizer: learnableSgd(), truncation: constantTruncation(5), numTasks: 6 });
    const theta: TensorTree = { logLearningRate: tf.scalar(Math.log(0.05)) };
    for (const nanToNum of [true, false]) {
      const est = truncatedPES({ truncatedStep: step, unrollLength: 3, std: 0.01, nanToNum });
      const ws = est.init(theta, TEST_KEY);
      const poisoned = (ws.pos as { tasks: { cfg: { poisoned?: boolean } }[] }).tasks.filter((t) => t.cfg.poisoned).length;
      expect(poisoned).toBeGreaterThan(0);
      const r = est.estimate(theta, ws, TEST_KEY);
      const g = treeLeaves(r.grad)[0]?.dataSync()[0] as number;
      expect(r.metrics.nonFiniteLossDiffs).toBeGreaterThanOrEqual(poisoned);
      if (nanToNum) expect(Number.isFinite(g) && g !== 0).toBe(true);
      else expect(Number.isNaN(g)).toBe(true);
      disposeTree(r.grad);
      disposeExcept([ws, r.state]);
    }
    disposeTree(theta);
  });
});

describe('estimator options and registry', () => {
  const step = learnableSgdQuadratic({ numTasks: 2 }).truncatedStep;
  it('validate their options with LoptError naming the option', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => truncatedPES({ truncatedStep: step, unrollLength: 0 }), /unrollLength/],
      [() => truncatedPES({ truncatedStep: step, unrollLength: 5, std: 0 }), /std/],
      [() => truncatedES({ truncatedStep: step, unrollLength: 5, clipLossDiff: -1 }), /clipLossDiff/],
      [() => truncatedES({ truncatedStep: {} as never, unrollLength: 5 }), /truncatedStep/],
      [() => truncatedES({ truncatedStep: step, unrollLength: 5, stdev: 1 } as never), /stdev/],
      [() => tbptt({ truncatedStep: step, unrollLength: 2, stopInnerGradients: 'yes' as never }), /stopInnerGradients/],
      [() => fullES({ truncatedStep: step, unrollLength: 5, lossType: 'median' as never }), /lossType/],
      [() => fullES({ truncatedStep: step, unrollLength: 5, nanToNum: 1 as never }), /nanToNum/],
    ];
    for (const [f, re] of cases) {
      expect(f).toThrow(LoptError);
      expect(f).toThrow(re);
    }
  });

  it('registerAll registers the four estimators idempotently under kind estimator', () => {
    registerAll();
    registerAll();
    for (const name of ['tbptt', 'truncatedES', 'truncatedPES', 'fullES']) expect(has('estimator', name)).toBe(true);
    expect(list('estimator').map((e) => e.name)).toEqual(expect.arrayContaining(['fullES', 'tbptt', 'truncatedES', 'truncatedPES']));
    const est = create('estimator', 'truncatedPES', { truncatedStep: step, unrollLength: 10, std: 0.01 });
    expect(est.name).toBe('truncated-pes');
    expect(() => create('estimator', 'truncatedPES', { truncatedStep: step, unrollLength: -1 })).toThrow(/unrollLength/);
  });
});
