import { describe, expect, it } from 'vitest';
import { LoptError, key } from '@lopt/core';
import type { Hyperparams } from './baselines.js';
import { halvingRungs, randomSearch, successiveHalving } from './halving.js';

// A synthetic tuning objective: the loss after `budget` steps at learning rate `lr` is
// (log10 lr + 2)^2 + 1/budget: its optimum is lr = 1e-2 at every budget, and lr > 0.3 diverges.
const objective = (hp: Hyperparams, budget: number): number => {
  const lr = hp.lr as number;
  return lr > 0.3 ? Infinity : (Math.log10(lr) + 2) ** 2 + 1 / budget;
};

describe('successive halving', () => {
  it('rungs grow by eta from minBudget and end at maxBudget', () => {
    expect(halvingRungs({ maxBudget: 900 })).toEqual([100, 300, 900]);
    expect(halvingRungs({ maxBudget: 100, minBudget: 10, eta: 2 })).toEqual([10, 20, 40, 80, 100]);
    expect(halvingRungs({ maxBudget: 5, minBudget: 5 })).toEqual([5]);
  });

  it('finds the optimum of a synthetic objective and stops bad trials early', async () => {
    const budgetsSeen: number[][] = [];
    const r = await randomSearch(
      { lr: { low: 1e-5, high: 1 } },
      (hps, budget) => {
        budgetsSeen.push([budget, hps.length]);
        return hps.map((hp) => objective(hp, budget));
      },
      { trials: 27, key: key(3), maxBudget: 900 },
    );
    // 27 trials at 100, 9 at 300, 3 at 900
    expect(budgetsSeen).toEqual([[100, 27], [300, 9], [900, 3]]);
    expect(r.cost).toBe(27 * 100 + 9 * 300 + 3 * 900);
    expect(r.cost).toBeLessThan(0.35 * 27 * 900);
    // The best of all 27 draws at the full budget (computed directly) is the one chosen.
    const direct = r.trials.map((t) => objective(t.hyperparams, 900));
    const bestDirect = Math.min(...direct);
    expect(objective(r.best.hyperparams, 900)).toBe(bestDirect);
    expect(Math.abs(Math.log10(r.best.hyperparams.lr as number) + 2)).toBeLessThan(0.3);
    // Every diverging trial (lr > 0.3) was stopped at the first rung.
    const diverging = r.trials.filter((t) => (t.hyperparams.lr as number) > 0.3);
    for (const t of diverging) expect([t.stopped, t.budget, t.rungScores.length]).toEqual([true, 100, 1]);
    expect(r.trials.filter((t) => !t.stopped)).toHaveLength(3);
  });

  it('is deterministic for a seed and differs across seeds', async () => {
    const run = (seed: number) => randomSearch({ lr: { low: 1e-5, high: 1 } }, (hps, b) => hps.map((hp) => objective(hp, b)), { trials: 9, key: key(seed), maxBudget: 90 });
    const [a, b, c] = await Promise.all([run(1), run(1), run(2)]);
    expect(b).toEqual(a);
    expect(c.trials.map((t) => t.hyperparams)).not.toEqual(a.trials.map((t) => t.hyperparams));
  });

  it('never promotes a diverged trial while a finite one is left', async () => {
    const trials = [{ lr: 1 }, { lr: 0.5 }, { lr: 1e-3 }, { lr: 2 }];
    const r = await successiveHalving(trials, (hps, b) => hps.map((hp) => objective(hp, b)), { maxBudget: 4, minBudget: 1, eta: 2 });
    expect(r.rungs).toEqual([1, 2, 4]);
    expect(r.trials.map((t) => t.stopped)).toEqual([true, true, false, true]);
    expect(r.best.hyperparams).toEqual({ lr: 1e-3 });
  });

  it('validates its inputs with LoptError naming the option', async () => {
    const opt = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        return e instanceof LoptError ? e.option : String(e);
      }
      return 'no error';
    };
    expect(await opt(() => halvingRungs({ maxBudget: 0 }))).toBe('maxBudget');
    expect(await opt(() => halvingRungs({ maxBudget: 10, eta: 1 }))).toBe('eta');
    expect(await opt(() => halvingRungs({ maxBudget: 10, minBudget: 11 }))).toBe('minBudget');
    expect(await opt(() => successiveHalving([], () => [], { maxBudget: 1 }))).toBe('trials');
    expect(await opt(() => successiveHalving([{ lr: 1 }], () => [], { maxBudget: 1 }))).toBe('evaluate');
    expect(await opt(() => successiveHalving([{ lr: 1 }], () => [Number.NaN], { maxBudget: 1 }))).toBe('evaluate');
    expect(await opt(() => randomSearch({ lr: { low: 1, high: 2 } }, () => [1], { trials: 0, key: key(0), maxBudget: 1 }))).toBe('trials');
  });
});
