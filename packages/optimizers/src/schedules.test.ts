import { describe, expect, it } from 'vitest';
import { LoptError } from '@lopt/core';
import {
  constant,
  cosineDecay,
  exponentialDecay,
  joinSchedules,
  linear,
  piecewiseConstant,
  polynomial,
  sgdr,
  warmupConstant,
  warmupCosineDecay,
} from './index.js';

const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-12 + 1e-12 * Math.abs(b));

describe('schedules equal their formulas', () => {
  it('constant', () => {
    const s = constant(0.3);
    expect([0, 5, 1e6].map(s)).toEqual([0.3, 0.3, 0.3]);
  });
  it('polynomial and linear', () => {
    const s = polynomial({ initValue: 1, endValue: 0.1, power: 2, transitionSteps: 10, transitionBegin: 5 });
    for (const t of [0, 5, 7, 12, 15, 100]) {
      const c = Math.min(Math.max(t - 5, 0), 10);
      close(s(t), 0.9 * (1 - c / 10) ** 2 + 0.1);
    }
    const l = linear({ initValue: 0, endValue: 2, transitionSteps: 4 });
    expect([0, 1, 2, 4, 9].map(l)).toEqual([0, 0.5, 1, 2, 2]);
    expect(polynomial({ initValue: 3, endValue: 0, power: 1, transitionSteps: 0 })(7)).toBe(3);
  });
  it('exponentialDecay (continuous, staircase, end value, begin)', () => {
    const s = exponentialDecay({ initValue: 2, transitionSteps: 10, decayRate: 0.5, transitionBegin: 3 });
    close(s(0), 2);
    close(s(3), 2);
    close(s(8), 2 * 0.5 ** 0.5);
    close(s(23), 2 * 0.25);
    const st = exponentialDecay({ initValue: 2, transitionSteps: 10, decayRate: 0.5, staircase: true });
    close(st(19), 1);
    close(st(20), 0.5);
    const e = exponentialDecay({ initValue: 1, transitionSteps: 1, decayRate: 0.5, endValue: 0.2 });
    close(e(1), 0.5);
    close(e(10), 0.2);
  });
  it('cosineDecay', () => {
    const s = cosineDecay({ initValue: 0.1, decaySteps: 100, alpha: 0.1, exponent: 2 });
    for (const t of [0, 25, 50, 99, 100, 150]) {
      const c = Math.min(t, 100);
      close(s(t), 0.1 * (0.9 * (0.5 * (1 + Math.cos((Math.PI * c) / 100))) ** 2 + 0.1));
    }
  });
  it('warmupCosineDecay', () => {
    const s = warmupCosineDecay({ initValue: 0, peakValue: 1, warmupSteps: 10, decaySteps: 110, endValue: 0.01 });
    close(s(0), 0);
    close(s(5), 0.5);
    close(s(10), 1);
    close(s(60), 1 * (0.99 * 0.5 * (1 + Math.cos(Math.PI * 0.5)) + 0.01));
    close(s(110), 0.01);
    close(s(500), 0.01);
  });
  it('warmupConstant', () => {
    const s = warmupConstant({ peakValue: 0.4, warmupSteps: 4 });
    expect([0, 2, 4, 100].map(s)).toEqual([0, 0.2, 0.4, 0.4]);
  });
  it('piecewiseConstant multiplies from each boundary on', () => {
    const s = piecewiseConstant({ initValue: 1, boundariesAndScales: { 10: 0.5, 5: 0.1 } });
    close(s(4), 1);
    close(s(5), 0.1);
    close(s(9), 0.1);
    close(s(10), 0.05);
  });
  it('joinSchedules and sgdr restart', () => {
    const j = joinSchedules([constant(1), linear({ initValue: 2, endValue: 0, transitionSteps: 4 })], [3]);
    expect([0, 2, 3, 5, 7, 100].map(j)).toEqual([1, 1, 2, 1, 0, 0]);
    const s = sgdr([
      { peakValue: 1, warmupSteps: 0 + 2, decaySteps: 10 },
      { peakValue: 0.5, warmupSteps: 2, decaySteps: 20 },
    ]);
    close(s(1), 0.5);
    close(s(10), 0);
    close(s(11), 0.25);
    close(s(12), 0.5);
    close(s(22), 0.5 * 0.5 * (1 + Math.cos(Math.PI * 10 / 18)));
  });
  it('reject invalid options naming them', () => {
    const bad: [string, () => unknown][] = [
      ['decaySteps', () => cosineDecay({ initValue: 1, decaySteps: 0 })],
      ['decayRate', () => exponentialDecay({ initValue: 1, transitionSteps: 1, decayRate: -1 })],
      ['initValue', () => linear({ initValue: Number.NaN, endValue: 0, transitionSteps: 1 })],
      ['transitionSteps', () => linear({ initValue: 1, endValue: 0, transitionSteps: 1.5 })],
      ['decaySteps', () => warmupCosineDecay({ peakValue: 1, warmupSteps: 10, decaySteps: 10 })],
      ['boundaries', () => joinSchedules([constant(1), constant(2)], [])],
    ];
    for (const [option, f] of bad) {
      try {
        f();
        expect.unreachable(option);
      } catch (e) {
        expect(e).toBeInstanceOf(LoptError);
        expect((e as LoptError).option).toBe(option);
      }
    }
  });
});
