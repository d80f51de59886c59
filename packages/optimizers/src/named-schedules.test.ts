import { describe, expect, it } from 'vitest';
import { LoptError } from '@lopt/core';
import { NAMED_SCHEDULES, isScheduleName, scheduleByName } from './named-schedules.js';

describe('scheduleByName', () => {
  it('builds the named schedule from its options (cosine decay against its formula)', () => {
    const lr = scheduleByName('cosineDecay', { initValue: 0.01, decaySteps: 300 });
    for (const t of [0, 75, 150, 300]) expect(lr(t)).toBeCloseTo(0.01 * 0.5 * (1 + Math.cos((Math.PI * t) / 300)), 9);
    const lin = scheduleByName('linear', { initValue: 1, endValue: 0, transitionSteps: 10 });
    expect(lin(5)).toBeCloseTo(0.5, 9);
  });

  it('refuses unknown names (listing the names) and lets the factory refuse bad options', () => {
    expect(() => scheduleByName('cosine', {})).toThrow(LoptError);
    expect(() => scheduleByName('__proto__', {})).toThrow(/No schedule named '__proto__'\. Schedules: linear, polynomial, exponentialDecay, cosineDecay, warmupCosineDecay, warmupConstant, piecewiseConstant\./);
    expect(() => scheduleByName('cosineDecay', { initValue: 0.01, decaySteps: -1 })).toThrow(/decaySteps/);
    expect(isScheduleName('toString')).toBe(false);
    expect(Object.keys(NAMED_SCHEDULES)).toHaveLength(7);
  });
});
