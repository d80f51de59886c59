import * as tf from '@tensorflow/tfjs-core';
import { advance, collectTensors, type Optimizer, type TensorTree } from '@lopt/core';
import { adam, sgd } from '@lopt/optimizers';
import { expectClose } from '@lopt/testkit';
import { describe, expect, it } from 'vitest';
import { lossGuarded } from './lossGuarded.js';
import { guardStats } from './stats.js';
import { quadratic, scaledGradient, scripted, stepsTo, train, values } from '../test/fixtures.js';

const free = (...v: unknown[]): void => tf.dispose(collectTensors(v));

describe('lossGuarded with a good learned optimizer', () => {
  // "Good": a learned diagonal preconditioner (0.8 / lambda_i), far faster than SGD at 1/L.
  const p = quadratic(20, 10, 5);
  const precond = { w: tf.keep(tf.tensor1d(p.lambdas)) };
  const good = scaledGradient('learned-precond', () => 0.8, precond);

  it('keeps >= 90% of its steps and reaches 1e-4 no slower than the fallback alone', () => {
    const guarded = train(lossGuarded(good, sgd({ learningRate: 1 / p.L }), { lossFn: p.lossFn }), p, p.init(), 60);
    const report = guardStats(guarded.state);
    const fallbackAlone = train(sgd({ learningRate: 1 / p.L }), p, p.init(), 60);
    expect(report.acceptanceRate).toBeGreaterThanOrEqual(0.9);
    expect(report.learnedFraction).toBeGreaterThanOrEqual(0.9);
    const tGuarded = stepsTo(guarded.losses, 0, 1e-4);
    const tFallback = stepsTo(fallbackAlone.losses, 0, 1e-4);
    expect(tGuarded).toBeLessThan(Infinity);
    expect(tGuarded).toBeLessThanOrEqual(tFallback);
    // The guard's counters: one check per step, two forward passes per check.
    expect(report.checks).toBe(60);
    expect(report.lossEvals).toBe(120);
    expect(report.lossEvalsPerStep).toBe(2);
    free(guarded.state, fallbackAlone.state);
  });
});

describe('the tortoise and the hare (LGL2O claim), measured', () => {
  // The hare: a learned optimizer meta-trained for a horizon H = 20 steps; fast until H
  // (per-coordinate rate ~ sqrt(lambda_i / L), vs lambda_i / L for SGD), after H its step
  // shrinks by half every step, so it plateaus.
  const H = 20;
  const p = quadratic(30, 100, 9);
  const precond = { w: tf.keep(tf.tensor1d(p.lambdas.map((l) => Math.sqrt(l * p.L)))) };
  const hare = (): Optimizer<TensorTree[]> => scaledGradient('plateau-hare', (t) => (t < H ? 0.9 : 0.9 * 0.5 ** (t - H + 1)), precond);

  it.each([
    ['SGD', () => sgd({ learningRate: 1 / p.L })],
    ['Adam', () => adam({ learningRate: 0.05 })],
  ] as const)('guarded by %s it keeps improving past the plateau and ends at or below the fallback after 10 H', (_n, fallback) => {
    const steps = 10 * H;
    const alone = train(hare(), p, p.init(), steps);
    const tortoise = train(fallback(), p, p.init(), steps);
    const guarded = train(lossGuarded(hare(), fallback(), { lossFn: p.lossFn }), p, p.init(), steps);
    const at = (r: { losses: number[] }, t: number): number => r.losses[t] as number;
    // The hare alone plateaus: almost no progress between H and 10 H.
    expect(at(alone, steps)).toBeGreaterThan(0.5 * at(alone, H));
    // Early, the guarded run is as fast as the hare (far ahead of the tortoise).
    expect(at(guarded, H)).toBeLessThanOrEqual(at(alone, H) * 1.0001);
    expect(at(guarded, H)).toBeLessThan(at(tortoise, H));
    // It keeps improving past the plateau, and ends at or below the tortoise.
    expect(at(guarded, steps)).toBeLessThan(0.1 * at(alone, steps));
    expect(at(guarded, steps)).toBeLessThanOrEqual(at(tortoise, steps));
    const r = guardStats(guarded.state);
    expect(r.learnedSteps).toBeGreaterThanOrEqual(H - 1); // the hare led early
    expect(r.fallbackSteps).toBeGreaterThan(steps / 2); // the tortoise led late
    free(alone.state, tortoise.state, guarded.state);
  });
});

describe('lossGuarded mechanics', () => {
  const one = { lossFn: (q: TensorTree) => tf.tidy(() => tf.mul(0.5, tf.sum(tf.square((q as { x: tf.Tensor }).x))) as tf.Scalar) };
  const loss64 = (x: readonly number[]): number => 0.5 * (x[0] as number) ** 2;
  const problem = { lossFn: one.lossFn, loss64 };

  it('averages the loss over the lookahead, which can change the decision (hand-computed)', () => {
    // f = x^2/2 at x = 1. Fallback SGD(0.5): 0.5, then 0.25 -> mean loss (0.125 + 0.03125)/2 = 0.078125.
    // Learned (scripted 0.45, then 1.0): 0.55, then 0 -> mean (0.15125 + 0)/2 = 0.075625: it wins
    // with lookahead 2, but loses on the candidate alone (0.15125 > 0.125).
    for (const [lookahead, expected] of [
      [1, 0.5],
      [2, 0.55],
    ] as const) {
      const opt = lossGuarded(scripted([0.45, 1.0]), sgd({ learningRate: 0.5 }), { lossFn: one.lossFn, lookahead });
      const r = train(opt, problem, { x: tf.tensor1d([1]) }, 1);
      expectClose(values(r.state.params), [expected], { rtol: 1e-6 });
      const s = guardStats(r.state);
      expect(s.lossEvals).toBe(2);
      expect(s.gradEvals).toBe(2 * (lookahead - 1));
      free(r.state);
    }
  });

  it('checks every `every` steps and follows the last winner in between', () => {
    // Learned: a 3x-too-large step on f = x^2/2 (x -> -2x), always worse than SGD(0.5) (x -> x/2).
    const opt = lossGuarded(scripted([3]), sgd({ learningRate: 0.5 }), { lossFn: one.lossFn, every: 10 });
    const r = train(opt, problem, { x: tf.tensor1d([1]) }, 25);
    const s = guardStats(r.state);
    expect(s.checks).toBe(3); // iterations 0, 10, 20
    expect(s.lossEvals).toBe(6);
    expect(s.fallbackSteps).toBe(25);
    expect(s.rejected).toBe(3);
    expect(s.leader).toBe(1);
    expectClose(values(r.state.params), [0.5 ** 25], { rtol: 1e-5 });
    free(r.state);
  });

  it("advances both states under 'both' and only the taken one under 'taken'", () => {
    const p = quadratic(5, 10, 1);
    const bad = scripted([3 / p.L]);
    for (const policy of ['both', 'taken'] as const) {
      const opt = lossGuarded(bad, adam({ learningRate: 0.1 }), { lossFn: p.lossFn, advance: policy });
      const r = train(opt, p, p.init(), 12);
      const s = guardStats(r.state);
      expect(s.learnedSteps + s.fallbackSteps).toBe(12);
      if (policy === 'both') {
        expect(s.learnedIteration).toBe(12);
        expect(s.fallbackIteration).toBe(12);
      } else {
        expect(s.learnedIteration).toBe(s.learnedSteps);
        expect(s.fallbackIteration).toBe(s.fallbackSteps);
      }
      free(r.state);
    }
  });

  it('never lets the guarded loss rise above the fallback candidate (per-step descent of LGL2O)', () => {
    const p = quadratic(10, 30, 2);
    const opt = lossGuarded(scaledGradient('noisy', (t) => (t % 3 === 0 ? 2.5 : 0.5) / p.L), sgd({ learningRate: 1 / p.L }), { lossFn: p.lossFn });
    let state = opt.init(p.init());
    for (let t = 0; t < 30; t++) {
      const x = values(state.params);
      const g = x.map((xi, i) => (p.lambdas[i] as number) * (xi - (p.c[i] as number)));
      const sgdLoss = p.loss64(x.map((xi, i) => xi - (g[i] as number) / p.L));
      const grads = { w: tf.tensor1d(g) };
      state = advance(opt, state, grads);
      tf.dispose(grads.w);
      expect(p.loss64(values(state.params))).toBeLessThanOrEqual(sgdLoss * (1 + 1e-5) + 1e-9);
    }
    free(state);
  });
});
