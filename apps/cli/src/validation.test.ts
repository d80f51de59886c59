import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeTree, key, treeLeaves } from '@lopt/core';
import { adafacMlpLOpt } from '@lopt/learned';
import { registerAll } from '@lopt/tasks';
import { createValidator } from './validation.js';

describe('createValidator', () => {
  registerAll();
  const target = { kind: 'task-family' as const, name: 'fixedDimQuadraticFamily', options: { dim: 4 } };
  const settings = { every: 1, tasks: 3, steps: 8, evalBatches: 1, seed: 2 };

  it('scores deterministically, reads theta without disposing it, and leaks no tensors', () => {
    const lopt = adafacMlpLOpt({ stepMult: 0.05 });
    const theta = lopt.init(key(1));
    const validator = createValidator(target, lopt, settings);
    const first = validator.score(theta);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) expect(validator.score(theta)).toBe(first);
    expect(tf.memory().numTensors).toBe(before);
    expect(Number.isFinite(first)).toBe(true);
    for (const t of treeLeaves(theta)) expect(t.isDisposed).toBe(false);
    disposeTree(theta);
  });

  it('a theta that takes no steps scores the same whatever the horizon (the loss at initialization)', () => {
    const still = adafacMlpLOpt({ zeroInitOutput: true });
    const stillTheta = still.init(key(1));
    const atInit = createValidator(target, still, settings).score(stillTheta);
    // The same tasks with a longer horizon: an optimizer that never moves keeps the same loss.
    expect(createValidator(target, still, { ...settings, steps: 16 }).score(stillTheta)).toBe(atInit);
    disposeTree(stillTheta);
  });
});
