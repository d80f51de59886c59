import { describe, expect, it } from 'vitest';
import { key } from '@lopt/core';
import { ADAMW_COSINE_BASELINE, BASELINES, getBaseline } from './baselines.js';
import { bestTrial, gridTrials, randomTrials, searchTrials, validateSpace } from './search.js';

describe('search spaces', () => {
  it('enumerates the grid product, the last name fastest', () => {
    expect(gridTrials({ learningRate: { grid: [0.1, 0.01] }, weightDecay: { grid: [0, 1e-4] } })).toEqual([
      { learningRate: 0.1, weightDecay: 0 },
      { learningRate: 0.1, weightDecay: 1e-4 },
      { learningRate: 0.01, weightDecay: 0 },
      { learningRate: 0.01, weightDecay: 1e-4 },
    ]);
    for (const b of Object.values(BASELINES)) {
      const lrs = gridTrials(b.space).map((t) => Object.values(t)[0] as number);
      expect(lrs).toHaveLength(7);
      // Half-decades: each value is sqrt(10) times the previous one (3 significant digits).
      lrs.slice(1).forEach((v, i) => expect(v / (lrs[i] as number)).toBeCloseTo(Math.sqrt(10), 2));
    }
  });

  it('draws random trials from the key only, inside the declared ranges', () => {
    const space = { learningRate: { low: 1e-4, high: 1e-1 }, momentum: { low: 0.5, high: 0.99, scale: 'linear' as const } };
    const a = randomTrials(space, 50, key(1));
    expect(randomTrials(space, 50, key(1))).toEqual(a);
    expect(randomTrials(space, 50, key(2))).not.toEqual(a);
    for (const t of a) {
      expect(t.learningRate).toBeGreaterThanOrEqual(1e-4);
      expect(t.learningRate).toBeLessThanOrEqual(1e-1);
      expect(t.momentum).toBeGreaterThanOrEqual(0.5);
      expect(t.momentum).toBeLessThanOrEqual(0.99);
    }
    // Log-uniform: about half the draws fall below the geometric midpoint sqrt(1e-5).
    const below = a.filter((t) => (t.learningRate as number) < Math.sqrt(1e-4 * 1e-1)).length;
    expect(below).toBeGreaterThan(12);
    expect(below).toBeLessThan(38);
    expect(searchTrials({ lr: { grid: [1, 2, 3] } }, { method: 'random', trials: 10, key: key(0) }).every((t) => [1, 2, 3].includes(t.lr as number))).toBe(true);
  });

  it('rejects empty or negative spaces naming the dimension', () => {
    expect(() => validateSpace({})).toThrow(/empty/);
    expect(() => validateSpace({ learningRate: { grid: [] } })).toThrow(/learningRate.grid/);
    expect(() => validateSpace({ learningRate: { grid: [0.1, -0.01] } })).toThrow(/learningRate.grid\[1\]/);
    expect(() => validateSpace({ weightDecay: { grid: [0, 1e-4] } })).not.toThrow();
    expect(() => validateSpace({ learningRate: { low: 1, high: 0.1 } })).toThrow(/high/);
    expect(() => gridTrials({ learningRate: { low: 0.1, high: 1 } })).toThrow(/random search/);
    expect(() => getBaseline('rmsprop')).toThrow(/adam, adamw-cosine, sgdm/);
  });

  it('picks the lowest score (first on ties) and builds the schedule of adamw-cosine', () => {
    const best = bestTrial([{ hyperparams: { a: 1 }, score: 0.5 }, { hyperparams: { a: 2 }, score: 0.2 }, { hyperparams: { a: 3 }, score: 0.2 }, { hyperparams: { a: 4 }, score: Infinity }]);
    expect(best.hyperparams).toEqual({ a: 2 });
    expect(() => bestTrial([])).toThrow(/empty/);
    expect(ADAMW_COSINE_BASELINE.build({ peakValue: 0.01 }, 100).name).toBe('adamw');
  });
});
