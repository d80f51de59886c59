import { describe, expect, it } from 'vitest';
import { LoptError, key } from '@lopt/core';
import { claimVerdict, pairedLogRatios } from './claim.js';

describe('claimVerdict', () => {
  it('holds, is refuted or is inconclusive by where the bootstrap interval of the mean lies', () => {
    const k = key(0);
    const clearlyBelow = claimVerdict([-0.5, -0.4, -0.6, -0.45, -0.55], { threshold: 0, direction: 'below', key: k });
    expect(clearlyBelow.outcome).toBe('holds');
    expect(clearlyBelow.estimate).toBeCloseTo(-0.5, 12);
    // a bootstrap interval of the mean stays inside [min, max] of the values
    expect(clearlyBelow.low).toBeGreaterThanOrEqual(-0.6);
    expect(clearlyBelow.high).toBeLessThanOrEqual(-0.4);
    expect(claimVerdict([0.5, 0.4, 0.6], { threshold: 0, direction: 'below', key: k }).outcome).toBe('refuted');
    expect(claimVerdict([-1, 1, -1, 1], { threshold: 0, direction: 'below', key: k }).outcome).toBe('inconclusive');
    expect(claimVerdict([3, 4, 5], { threshold: 2, direction: 'above', key: k }).outcome).toBe('holds');
    // the same values against a stated margin they do not clear
    expect(claimVerdict([-0.5, -0.4, -0.6], { threshold: -1, direction: 'below', key: k }).outcome).toBe('refuted');
    expect(claimVerdict([1, 2, 3], { threshold: 0, direction: 'below', key: k })).toEqual(claimVerdict([1, 2, 3], { threshold: 0, direction: 'below', key: k }));
  });

  it('pairs log-ratios, counting a diverged run against its side', () => {
    expect(pairedLogRatios([1, 2, Infinity, 1, NaN], [2, 2, 1, Infinity, NaN])).toEqual([Math.log(0.5), 0, Math.log(100), -Math.log(100), 0]);
    expect(pairedLogRatios([1e-9], [1], 2)).toEqual([-2]);
  });

  it('validates with LoptError naming the option', () => {
    const opt = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof LoptError ? e.option : String(e);
      }
      return 'no error';
    };
    expect(opt(() => claimVerdict([], { threshold: 0, direction: 'below', key: key(0) }))).toBe('values');
    expect(opt(() => claimVerdict([Infinity], { threshold: 0, direction: 'below', key: key(0) }))).toBe('values');
    expect(opt(() => claimVerdict([1], { threshold: Number.NaN, direction: 'below', key: key(0) }))).toBe('threshold');
    expect(opt(() => claimVerdict([1], { threshold: 0, direction: 'sideways' as never, key: key(0) }))).toBe('direction');
    expect(opt(() => pairedLogRatios([1], [1, 2]))).toBe('baseline');
    expect(opt(() => pairedLogRatios([-1], [1]))).toBe('candidate[0]');
  });
});
