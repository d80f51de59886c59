import { describe, expect, it } from 'vitest';
import { formatPaired, pairedComparison } from './stats.js';

describe('pairedComparison', () => {
  it('gives the mean per-pair difference, its standard error and the count of lower values', () => {
    const values = [1, 2, 3, 4];
    const reference = [1.5, 1.5, 3.5, 3];
    // Differences -0.5, 0.5, -0.5, 1: mean 0.125; sample variance of the differences by hand.
    const d = [-0.5, 0.5, -0.5, 1];
    const m = 0.125;
    const variance = d.reduce((a, x) => a + (x - m) ** 2, 0) / 3;
    const c = pairedComparison(values, reference);
    expect(c.meanDiff).toBeCloseTo(m, 15);
    expect(c.stdErr).toBeCloseTo(Math.sqrt(variance / 4), 15);
    expect(c.lower).toBe(2);
    expect(c.pairs).toBe(4);
    expect(c.finitePairs).toBe(4);
    expect(formatPaired(c)).toBe(`+0.125 ± ${Number(Math.sqrt(variance / 4).toPrecision(4))} (2/4 lower)`);
  });

  it('counts a diverged value as not lower and a diverged reference as beaten, leaving both out of the mean', () => {
    const c = pairedComparison([Infinity, 0.5, 0.2], [0.3, Infinity, 0.4]);
    expect(c.lower).toBe(2);
    expect(c.pairs).toBe(3);
    expect(c.meanDiff).toBeCloseTo(-0.2, 15);
    expect(Number.isNaN(c.stdErr)).toBe(true);
    expect(c.finitePairs).toBe(1);
    expect(formatPaired(c)).toBe('-0.2 (2/3 lower; mean of 1)');
  });

  it('rejects arrays of different lengths (LoptError from @lopt/eval)', () => {
    expect(() => pairedComparison([1, 2], [1])).toThrow(/one length/);
  });
});
