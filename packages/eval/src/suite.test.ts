import { describe, expect, it } from 'vitest';
import { LoptError, key } from '@lopt/core';
import { noisyQuadraticFamily } from '@lopt/tasks';
import { buildSuiteTask, DEMO_LEARNING_RATES, DEMO_V1, getSuite, MEDIUM_V1, SMALL_V1, suiteEvalEvery, validateSuite } from './suite.js';

describe('suites', () => {
  it('small-v1 has at least 12 tasks at horizons of 500 to 5000 steps, 3 seeds, disjoint tuning seeds', () => {
    const s = validateSuite(SMALL_V1);
    expect(s.tasks.length).toBeGreaterThanOrEqual(12);
    expect(s.seeds).toHaveLength(3);
    for (const t of s.tasks) {
      expect(t.steps).toBeGreaterThanOrEqual(500);
      expect(t.steps).toBeLessThanOrEqual(5000);
    }
    expect(s.tuningSeeds.some((x) => s.seeds.includes(x))).toBe(false);
    expect(validateSuite(MEDIUM_V1).tasks.length).toBeGreaterThan(0);
    expect(getSuite('suite:small-v1')).toBe(SMALL_V1);
    expect(suiteEvalEvery({ id: 'x', task: 'quadraticTask', steps: 1000 })).toBe(50);
  });

  it('demo-v1: three tasks with hidden layers at 500 steps, 2 seeds, 5-point half-decade grids for both baselines', () => {
    const s = validateSuite(DEMO_V1);
    expect(getSuite('demo-v1')).toBe(DEMO_V1);
    expect(s.seeds).toEqual([0, 1]);
    expect(s.tasks.map((t) => [t.id, t.steps])).toEqual([['mnist14-mlp128x64', 500], ['mnist28-mlp64x32', 500], ['mnist14-conv8x16', 500]]);
    for (const t of s.tasks) expect(((t.options?.hidden ?? t.options?.channels) as number[]).length).toBe(2);
    DEMO_LEARNING_RATES.forEach((lr, i) => expect(lr).toBe(Number((1e-3 * 10 ** (i / 2)).toPrecision(3))));
    expect(s.spaces).toEqual({ adam: { learningRate: { grid: DEMO_LEARNING_RATES } }, 'adamw-cosine': { peakValue: { grid: DEMO_LEARNING_RATES } } });
  });

  it('builds a family task from its sample seed', () => {
    const t = buildSuiteTask({ family: 'noisyQuadraticFamily', options: { dim: 20, noiseStd: 1 }, sample: 7 });
    const f = noisyQuadraticFamily({ dim: 20, noiseStd: 1 });
    expect(t.name).toBe(f.task(f.sample(key(7))).name);
  });

  it('rejects unknown suites, unknown tasks and overlapping seeds naming the path', () => {
    expect(() => getSuite('tiny-v9')).toThrow(/small-v1, medium-v1/);
    const bad = { ...SMALL_V1, tasks: [{ id: 'a', task: 'noSuchTask', steps: 10 }] };
    try {
      validateSuite(bad);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(LoptError);
      expect((e as LoptError).code).toBe('UNKNOWN_NAME');
      expect((e as LoptError).message).toMatch(/tasks\[0\]\.task: unknown task "noSuchTask"/);
    }
    expect(() => validateSuite({ ...SMALL_V1, tuningSeeds: [1] })).toThrow(/tuningSeeds/);
    expect(() => validateSuite({ ...SMALL_V1, tasks: [{ id: 'a', task: 'quadraticTask', steps: 0 }] })).toThrow(/tasks\[0\]\.steps/);
    expect(() => validateSuite({ ...SMALL_V1, tasks: [{ id: 'a', family: 'noisyQuadraticFamily', steps: 5 }] })).toThrow(/tasks\[0\]\.sample/);
    expect(() => validateSuite([])).toThrow(/root/);
    expect(() => validateSuite({ ...SMALL_V1, spaces: { adam: { learningRate: { grid: [] } } } })).toThrow(/spaces.adam: .*learningRate.grid/);
    expect(() => validateSuite({ ...SMALL_V1, spaces: { adam: {} } })).toThrow(/spaces.adam: .*empty/);
  });
});
