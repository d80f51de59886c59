import * as tf from '@tensorflow/tfjs-core';
import { advance, collectTensors, isLoptError, type TensorTree } from '@lopt/core';
import { sgd } from '@lopt/optimizers';
import { expectClose } from '@lopt/testkit';
import { describe, expect, it } from 'vitest';
import { divergenceGuard } from './divergenceGuard.js';
import { guardStats } from './stats.js';
import { scaledGradient, scripted, train, values } from '../test/fixtures.js';

const free = (...v: unknown[]): void => tf.dispose(collectTensors(v));
const half = (q: TensorTree): tf.Scalar => tf.tidy(() => tf.mul(0.5, tf.sum(tf.square((q as { x: tf.Tensor }).x))) as tf.Scalar);
const oneD = { lossFn: half, loss64: (x: readonly number[]) => 0.5 * (x[0] as number) ** 2 };

describe('divergenceGuard', () => {
  // f = x^2/2 at x = 1 (loss 0.5); the learned step x -> (1 - a) x has loss 0.5 (1 - a)^2.
  // maxLossIncrease 0.5 allows loss <= 0.75: a = 2.2 (loss 0.72) passes, a = 2.3 (0.845) is
  // rolled back to the fallback SGD(0.5) step, x = 0.5.
  it.each([
    [2.2, -1.2, 'learned'],
    [2.3, 0.5, 'fallback'],
  ] as const)('a step of a = %s: x becomes %s (%s), hand-computed', (a, x, branch) => {
    const opt = divergenceGuard(scripted([a]), sgd({ learningRate: 0.5 }), { lossFn: half, maxLossIncrease: 0.5 });
    const r = train(opt, oneD, { x: tf.tensor1d([1]) }, 1);
    expectClose(values(r.state.params), [x], { rtol: 1e-6 });
    const s = guardStats(r.state);
    expect(branch === 'learned' ? s.learnedSteps : s.fallbackSteps).toBe(1);
    expect(s.lossEvals).toBe(1); // ctx.loss was given: only the candidate is evaluated
    expect(s.checks).toBe(1);
    free(r.state);
  });

  it('evaluates the current loss itself when ctx.loss is missing', () => {
    const opt = divergenceGuard(scripted([0.5]), sgd({ learningRate: 0.5 }), { lossFn: half });
    let s = opt.init({ x: tf.tensor1d([1]) });
    const g = { x: tf.tensor1d([1]) };
    s = advance(opt, s, g);
    expect(guardStats(s).lossEvals).toBe(2);
    expectClose(values(s.params), [0.5], { rtol: 1e-6 });
    free(s, g);
  });

  it('without lossFn only tests finiteness: an overflowing step falls back, a finite bad one passes', () => {
    // a = Infinity: the step is -Inf.
    const huge = divergenceGuard(scripted([Infinity, Infinity, 3]), sgd({ learningRate: 0.5 }));
    const r = train(huge, oneD, { x: tf.tensor1d([4]) }, 3);
    // Steps 0 and 1 overflow -> fallback (x/2 twice) and the learned state stays at t = 0,
    // so step 2 overflows again -> x = 0.5.
    expectClose(values(r.state.params), [0.5], { rtol: 1e-6 });
    const s = guardStats(r.state);
    expect([s.fallbackSteps, s.nonFinite, s.learnedIteration, s.checks, s.lossEvals]).toEqual([3, 3, 0, 0, 0]);
    free(r.state);
    const bad = divergenceGuard(scaledGradient('x3', () => 3), sgd({ learningRate: 0.5 }));
    const r2 = train(bad, oneD, { x: tf.tensor1d([1]) }, 3);
    expectClose(values(r2.state.params), [-8], { rtol: 1e-6 }); // (1 - 3)^3: not caught without a loss test
    free(r2.state);
  });

  it("onNonFinite: 'throw' throws LoptError NON_FINITE and leaks nothing", () => {
    const opt = divergenceGuard(scripted([0.5]), sgd({ learningRate: 0.5 }), { onNonFinite: 'throw' });
    const s = opt.init({ x: tf.tensor1d([1]) });
    const g = { x: tf.tensor1d([Number.NaN]) };
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      advance(opt, s, g);
    } catch (e) {
      err = e;
    }
    expect(isLoptError(err) && err.code === 'NON_FINITE').toBe(true);
    expect(String((err as Error).message)).toMatch(/iteration 0/);
    expect(tf.memory().numTensors).toBe(before);
    free(s, g);
  });

  it('a loss jump is rolled back but, with the default maxLossIncrease 0, any increase is', () => {
    const opt = divergenceGuard(scripted([2.05]), sgd({ learningRate: 0.5 }), { lossFn: half });
    const r = train(opt, oneD, { x: tf.tensor1d([1]) }, 1); // loss 0.55125 > 0.5: rolled back
    expectClose(values(r.state.params), [0.5], { rtol: 1e-6 });
    free(r.state);
  });
});
