import { describe, expect, it } from 'vitest';
import { validateConfig } from './config.js';
import { PRESETS } from './presets.js';

const base = () => JSON.parse(JSON.stringify((PRESETS.tiny as { config: Record<string, unknown> }).config)) as Record<string, unknown>;

function message(input: unknown): string {
  try {
    validateConfig(input, 'test');
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('meta-train config schema', () => {
  it('accepts every preset and fills defaults', () => {
    for (const [name, preset] of Object.entries(PRESETS)) {
      const c = validateConfig(preset.config, name);
      expect(c.estimators.length).toBeGreaterThan(0);
      expect(c.outerOptimizer.name).toBeTruthy();
    }
    const c = validateConfig({ learnedOptimizer: { name: 'x' }, taskFamily: { name: 'y' }, estimators: [{ name: 'truncatedPES' }], steps: 3 }, 'min');
    expect(c.learnedOptimizer.options).toEqual({});
    expect(c.outerOptimizer).toEqual({ name: 'adam', options: { learningRate: 3e-4 } });
    expect(c.truncatedStep).toEqual({ numTasks: 4, truncation: { kind: 'logUniform', min: 50, max: 200 } });
    expect(c.checkpointEvery).toBe(10);
  });

  it('names the field and the allowed values of an enum', () => {
    const c = base();
    (c.truncatedStep as Record<string, unknown>).truncation = { kind: 'exponential', length: 3 };
    expect(message(c)).toMatch(/field 'truncatedStep\.truncation\.kind' must be one of "constant", "logUniform", "never", got "exponential"/);
  });

  it('names out-of-range and wrongly typed fields with the given value', () => {
    expect(message({ ...base(), steps: 0 })).toMatch(/field 'steps' must be >= 1, got 0/);
    expect(message({ ...base(), steps: 2.5 })).toMatch(/field 'steps' must be an integer, got 2\.5/);
    expect(message({ ...base(), estimators: [] })).toMatch(/field 'estimators' must be a list of at least 1 item/);
    expect(message({ ...base(), seed: 'zero' })).toMatch(/field 'seed' must be a number, got "zero"/);
    const { steps: _s, ...noSteps } = base();
    expect(message(noSteps)).toMatch(/field 'steps' is required/);
  });

  it('lists the allowed fields for an unknown one, also inside a discriminated union', () => {
    expect(message({ ...base(), stpes: 3 })).toMatch(/unknown field 'stpes'; allowed fields there: name, seed, learnedOptimizer, taskFamily, truncatedStep, estimators, outerOptimizer, steps/);
    const c = base();
    (c.truncatedStep as Record<string, unknown>).truncation = { kind: 'constant', length: 3, max: 4 };
    expect(message(c)).toMatch(/unknown field 'truncatedStep\.truncation\.max'; allowed fields there: kind, length/);
    const e = base();
    (e.eval as Record<string, unknown>).tuneBaseline = { trials: 3, lo: 1 };
    expect(message(e)).toMatch(/unknown field 'eval\.tuneBaseline\.lo'; allowed fields there: trials, low, high, seeds/);
  });

  it('checks relations between fields', () => {
    const c = base();
    (c.truncatedStep as Record<string, unknown>).truncation = { kind: 'logUniform', min: 10, max: 5 };
    expect(message(c)).toMatch(/'truncatedStep\.truncation\.max' \(5\) must be >= 'min' \(10\)/);
  });
});
