import { describe, expect, it } from 'vitest';
import { LoptError, foldIn, key } from '@lopt/core';
import { interquartileMean, percentile, stratifiedBootstrapCI, stratifiedResample } from './iqm.js';
import { mean, pairedComparison, std } from './paired.js';
import { performanceProfile, performanceRatios, profileScores } from './profile.js';
import { speedupToTarget, stepsToReach } from './speedup.js';
import { pairedRatios } from './summary.js';

describe('pairedComparison', () => {
  it('gives the mean per-pair difference, its standard error and the count of lower values', () => {
    // Differences -0.5, 0.5, -0.5, 1: mean 0.125; sample variance by hand = (0.390625*2 + 0.140625 + 0.765625) / 3.
    const c = pairedComparison([1, 2, 3, 4], [1.5, 1.5, 3.5, 3]);
    const variance = (0.390625 * 2 + 0.140625 + 0.765625) / 3;
    expect(c.meanDiff).toBeCloseTo(0.125, 15);
    expect(c.stdErr).toBeCloseTo(Math.sqrt(variance / 4), 15);
    expect([c.lower, c.pairs, c.finitePairs]).toEqual([2, 4, 4]);
  });

  it('counts a diverged value as not lower and a diverged reference as beaten, leaving both out of the mean', () => {
    const c = pairedComparison([Infinity, 0.5, 0.2], [0.3, Infinity, 0.4]);
    expect([c.lower, c.pairs, c.finitePairs]).toEqual([2, 3, 1]);
    expect(c.meanDiff).toBeCloseTo(-0.2, 15);
    expect(Number.isNaN(c.stdErr)).toBe(true);
  });

  it('is zero against itself and rejects arrays of different lengths with a LoptError', () => {
    const c = pairedComparison([0.3, 0.1, 0.7], [0.3, 0.1, 0.7]);
    expect([c.meanDiff, c.stdErr, c.lower]).toEqual([0, 0, 0]);
    expect(() => pairedComparison([1, 2], [1])).toThrow(LoptError);
    expect(mean([1, 2, Infinity, 6])).toBe(3);
    expect(std([1, 3])).toBeCloseTo(Math.SQRT2, 15);
  });
});

describe('interquartileMean', () => {
  it('drops floor(n/4) values from each end (scipy trim_mean 0.25)', () => {
    expect(interquartileMean([8, 1, 7, 2, 6, 3, 5, 4])).toBe(4.5); // keeps 3,4,5,6
    expect(interquartileMean([1, 2, 3, 100])).toBe(2.5); // keeps 2,3
    expect(interquartileMean([5, 1, 4, 2, 3])).toBe(3); // keeps 2,3,4
    expect(interquartileMean([1, 2, 6])).toBe(3); // n=3: nothing trimmed
    expect(interquartileMean([1, 2, 3, Infinity])).toBe(2.5); // a diverged run is trimmed
    expect(() => interquartileMean([])).toThrow(/values/);
    expect(() => interquartileMean([1, Number.NaN])).toThrow(/values\[1\]/);
  });

  it('interpolates percentiles linearly (numpy default)', () => {
    expect(percentile([1, 2, 3, 4, 5], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4], 25)).toBeCloseTo(1.75, 15); // position 0.75
    expect(percentile([10, 20], 97.5)).toBeCloseTo(19.75, 12);
    expect([percentile([1, Infinity], 25), percentile([1, Infinity], 75), percentile([Infinity, Infinity], 50)]).toEqual([1, Infinity, Infinity]);
  });
});

describe('stratifiedBootstrapCI', () => {
  const scores = [
    [0.9, 1.1, 1.0],
    [0.5, 0.7, 0.6],
    [2.0, 1.0, 1.5],
    [0.2, 0.3, 0.25],
  ];

  it('gives the same interval for the same key and a different one for another key', () => {
    const a = stratifiedBootstrapCI(scores, { key: key(7), replicates: 500 });
    const b = stratifiedBootstrapCI(scores, { key: key(7), replicates: 500 });
    expect(b).toEqual(a);
    // With few replicates the interpolated ends depend on which resamples were drawn.
    const few = (seed: number) => stratifiedBootstrapCI(scores, { key: key(seed), replicates: 6 });
    expect([few(8).low, few(8).high]).not.toEqual([few(9).low, few(9).high]);
    expect(a.estimate).toBe(interquartileMean(scores.flat()));
    expect(a.low).toBeLessThanOrEqual(a.estimate);
    expect(a.high).toBeGreaterThanOrEqual(a.estimate);
  });

  it('recomputes to the replicates of the stratified resamples (independent loop over the indices)', () => {
    const k = key(3);
    const reps = 40;
    const stats: number[] = [];
    for (let r = 0; r < reps; r++) {
      const picks = stratifiedResample(foldIn(k, r), [3, 3, 3, 3]);
      const pooled: number[] = [];
      picks.forEach((idx, t) => {
        expect(idx.every((j) => j >= 0 && j < 3)).toBe(true);
        for (const j of idx) pooled.push(scores[t]![j]!);
      });
      pooled.sort((x, y) => x - y);
      stats.push((pooled.slice(3, 9).reduce((x, y) => x + y, 0)) / 6); // n=12: drop 3 each end
    }
    stats.sort((x, y) => x - y);
    const at = (q: number): number => {
      const pos = q * (reps - 1);
      const lo = Math.floor(pos);
      return stats[lo]! + (stats[Math.ceil(pos)]! - stats[lo]!) * (pos - lo);
    };
    const ci = stratifiedBootstrapCI(scores, { key: k, replicates: reps, confidence: 0.9 });
    expect(ci.low).toBeCloseTo(at(0.05), 12);
    expect(ci.high).toBeCloseTo(at(0.95), 12);
  });

  it('has zero width when every task repeats one value, and validates its options', () => {
    const ci = stratifiedBootstrapCI([[1, 1], [3, 3], [2, 2], [5, 5]], { key: key(0), replicates: 50 });
    expect([ci.low, ci.estimate, ci.high]).toEqual([2.5, 2.5, 2.5]);
    expect(() => stratifiedBootstrapCI([], { key: key(0) })).toThrow(/scores/);
    expect(() => stratifiedBootstrapCI(scores, { key: key(0), confidence: 1 })).toThrow(/confidence/);
    expect(() => stratifiedBootstrapCI(scores, { key: key(0), replicates: 0 })).toThrow(/replicates/);
  });
});



describe('speedupToTarget', () => {
  const reference = { steps: [0, 10, 20, 30, 40], losses: [10, 8, 6, 4, 2] };
  it('interpolates the steps the reference needs to reach the candidate final loss, and the reverse', () => {
    const candidate = { steps: [0, 10, 20], losses: [10, 5, 3] };
    // Reference reaches 3 between (30, 4) and (40, 2): 30 + (4-3)/(4-2)*10 = 35 steps; 35/20.
    const s = speedupToTarget(candidate, reference);
    expect(s.referenceSteps).toBeCloseTo(35, 12);
    expect(s.speedup).toBeCloseTo(1.75, 12);
    expect(s.candidateSteps).toBeNull(); // candidate never reaches 2
    expect(s.reverse).toBe(Infinity);
    expect(stepsToReach(candidate, 7)).toBeCloseTo(6, 12); // 0 + (10-7)/(10-5)*10
  });

  it('is 1 both ways for identical curves and 0 for a diverged candidate', () => {
    const s = speedupToTarget(reference, reference);
    expect([s.speedup, s.reverse]).toEqual([1, 1]);
    const d = speedupToTarget({ steps: [0, 10], losses: [10, Infinity] }, reference);
    expect(d.speedup).toBe(0);
    expect(d.reverse).toBe(Infinity);
    expect(() => speedupToTarget({ steps: [0, 0], losses: [1, 1] }, reference)).toThrow(/candidate.steps\[1\]/);
    // Not monotone: the curve dips to 3 at step 20 and ends at 4. Against itself: 1 both ways.
    const bumpy = { steps: [0, 10, 20, 30], losses: [10, 6, 3, 4] };
    const self = speedupToTarget(bumpy, bumpy);
    expect([self.speedup, self.reverse]).toEqual([1, 1]);
    // Candidate bumpy vs the linear reference: target 4; bumpy first reaches 4 at 10 + (6-4)/(6-3)*10,
    // the reference at 30: speedup 30 / 16.667 = 1.8.
    expect(speedupToTarget(bumpy, reference).speedup).toBeCloseTo(30 / (10 + 20 / 3), 12);
    // No progress (ends at its initial loss): 0, like a diverged run.
    expect(speedupToTarget({ steps: [0, 10, 20], losses: [10, 12, 10] }, reference).speedup).toBe(0);
  });
});

describe('performance profile', () => {
  // 3 submissions x 3 workloads, times to target (Infinity: never reached).
  const times = [
    [10, 20, Infinity],
    [20, 10, 30],
    [40, 15, 60],
  ];
  it('matches the ratios, rho and area scores computed by hand', () => {
    // Best per workload: 10, 10, 30.
    expect(performanceRatios(times)).toEqual([
      [1, 2, Infinity],
      [2, 1, 1],
      [4, 1.5, 2],
    ]);
    const p = performanceProfile(times);
    expect([p.rho(0, 1), p.rho(1, 1), p.rho(2, 1.5), p.rho(2, 4), p.rho(0, 1e9)]).toEqual([1 / 3, 2 / 3, 1 / 3, 1, 2 / 3]);
    // B = mean over workloads of (4 - max(r,1)) / 3 for r < 4:
    // s0: (3/3 + 2/3 + 0)/3 = 5/9; s1: (2/3 + 1 + 1)/3 = 8/9; s2: (0 + 2.5/3 + 2/3)/3 = 1/2.
    expect(p.scores[0]).toBeCloseTo(5 / 9, 14);
    expect(p.scores[1]).toBeCloseTo(8 / 9, 14);
    expect(p.scores[2]).toBeCloseTo(1 / 2, 14);
    expect(profileScores([[1, 1]], 2)).toEqual([1]);
  });

  it('rejects ragged, non-positive or empty tables', () => {
    expect(() => performanceProfile([[1, 2], [1]])).toThrow(/times\[1\]/);
    expect(() => performanceProfile([[1, 0]])).toThrow(/times\[0\]\[1\]/);
    expect(() => performanceProfile([])).toThrow(/times/);
    expect(() => profileScores([[1]], 1)).toThrow(/maxRatio/);
  });
});

describe('pairedRatios', () => {
  it('divides seed by seed, scoring divergence as worst and a beaten diverged reference as best', () => {
    expect(pairedRatios([1, 3, Infinity, 2, Infinity], [2, 3, 1, Infinity, Infinity])).toEqual([0.5, 1, Infinity, 0, 1]);
  });
});
