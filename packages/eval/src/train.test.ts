import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { key } from '@lopt/core';
import { adam, sgd } from '@lopt/optimizers';
import { logisticRegressionTask, quadraticTask } from '@lopt/tasks';
import { trainOnTask } from './train.js';

describe('trainOnTask', () => {
  it('matches the closed form of SGD on sum(p^2): L_T = (1 - 2 lr)^(2T) L_0', () => {
    const lr = 0.05;
    const steps = 30;
    const r = trainOnTask(quadraticTask({ dim: 5 }), sgd({ learningRate: lr }), { steps, key: key(1), evalEvery: 10 });
    const l0 = r.curve[0]!.trainLoss;
    expect(r.curve.map((p) => p.step)).toEqual([0, 10, 20, 30]);
    for (const p of r.curve) expect(p.trainLoss).toBeCloseTo(l0 * (1 - 2 * lr) ** (2 * p.step), 4);
    expect(r.finalTrainLoss).toBe(r.curve[3]!.trainLoss);
    expect(r.finalValidLoss).toBeNull();
    expect([r.diverged, r.steps, r.lossCap]).toEqual([false, steps, 100 * Math.max(l0, 1)]);
    // RMS step size of step 10 -> the parameter change of that one update: 2 lr |p_9| RMS.
    const rms9 = Math.sqrt((l0 * (1 - 2 * lr) ** 18) / 5);
    expect(r.curve[1]!.stepSize).toBeCloseTo(2 * lr * rms9, 4);
  });

  it('stops as diverged when the loss passes the cap, and on NaN', () => {
    const r = trainOnTask(quadraticTask({ dim: 3 }), sgd({ learningRate: 2 }), { steps: 50, key: key(2), evalEvery: 1 });
    // |1 - 2*2| = 3: the loss grows 9x per step and passes 100 * L0 within 3 steps.
    expect(r.diverged).toBe(true);
    expect(r.steps).toBeLessThanOrEqual(3);
    expect(r.finalTrainLoss).toBe(Infinity);
    const capped = trainOnTask(quadraticTask({ dim: 3 }), sgd({ learningRate: 0.6 }), { steps: 50, key: key(2), lossCap: Infinity });
    expect(capped.diverged).toBe(false); // |1 - 1.2| < 1: converges
    const nan = trainOnTask(quadraticTask({ dim: 3 }), sgd({ learningRate: 1e30 }), { steps: 20, key: key(2), lossCap: Infinity });
    expect(nan.diverged).toBe(true);
  });

  it('gives identical curves for one key, reports held-out losses and calls onStep per update', () => {
    const task = logisticRegressionTask({ dim: 6, batchSize: 16 });
    const seen: number[] = [];
    const a = trainOnTask(task, adam({ learningRate: 0.05 }), { steps: 12, key: key(3), evalEvery: 4, evalBatches: 2, onStep: (s) => seen.push(s) });
    const b = trainOnTask(task, adam({ learningRate: 0.05 }), { steps: 12, key: key(3), evalEvery: 4, evalBatches: 2 });
    expect(b.curve).toEqual(a.curve);
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(a.finalValidLoss).not.toBeNull();
    expect(a.finalTrainLoss).toBeLessThan(a.curve[0]!.trainLoss);
  });

  it('does not leak tensors over many steps', () => {
    const task = logisticRegressionTask({ dim: 8, batchSize: 8 });
    trainOnTask(task, adam(), { steps: 5, key: key(4) });
    const before = tf.memory().numTensors;
    trainOnTask(task, adam(), { steps: 300, key: key(4), evalEvery: 7, evalBatches: 2 });
    trainOnTask(quadraticTask({ dim: 4 }), sgd({ learningRate: 3 }), { steps: 300, key: key(4), evalEvery: 1 }); // diverges
    expect(tf.memory().numTensors).toBe(before);
  });

  it('honours an abort signal and validates its options', () => {
    const controller = new AbortController();
    controller.abort(new Error('stop here'));
    expect(() => trainOnTask(quadraticTask(), sgd(), { steps: 5, key: key(0), signal: controller.signal })).toThrow('stop here');
    expect(() => trainOnTask(quadraticTask(), sgd(), { steps: -1, key: key(0) })).toThrow(/'steps'/);
    expect(() => trainOnTask(quadraticTask(), sgd(), { steps: 5, key: key(0), evalEvery: 0 })).toThrow(/'evalEvery'/);
    expect(() => trainOnTask(quadraticTask(), sgd(), { steps: 5, key: 3 as never })).toThrow(/'key'/);
  });
});
