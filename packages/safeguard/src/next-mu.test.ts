import { describe, expect, it } from 'vitest';
import { nextMu } from './safeguarded.js';

describe('nextMu (the threshold rules of GL2O, a pure function)', () => {
  it('geometric, ema and recent follow their formulas and never raise mu', () => {
    expect(nextMu('geometric', 0.1, 2, 1).mu).toBeCloseTo(0.9 * 2, 12);
    expect(nextMu('ema', 0.1, 2, 1).mu).toBeCloseTo(0.1 * 1 + 0.9 * 2, 12);
    expect(nextMu('recent', 0.1, 2, 1.5).mu).toBe(1.5);
    // A residual above mu (never accepted by the guard, but the rule is total) leaves mu unchanged.
    expect(nextMu('recent', 0.1, 2, 3).mu).toBe(2);
    expect(nextMu('ema', 0.5, 2, 3).mu).toBe(2);
  });

  it('recentMax slides its window and takes the max of it', () => {
    const a = nextMu('recentMax', 0.1, 2, 1, [2, 2, 2]);
    expect(a).toEqual({ mu: 2, recent: [2, 2, 1] });
    const b = nextMu('recentMax', 0.1, a.mu, 0.5, a.recent);
    expect(b).toEqual({ mu: 2, recent: [2, 1, 0.5] });
    const c = nextMu('recentMax', 0.1, b.mu, 0.25, b.recent);
    expect(c).toEqual({ mu: 1, recent: [1, 0.5, 0.25] });
  });
});
