// trainOnTask and optimizers with extra needs: evaluation parameters (Schedule-Free's average,
// Lookahead's slow weights) and per-layer statistics (K-FAC, FOOF, MBF).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, key, treeMap, type Optimizer } from '@lopt/core';
import { kfac, sgd } from '@lopt/optimizers';
import { imageMlpTask, quadraticTask } from '@lopt/tasks';
import { BASELINES } from './baselines.js';
import { trainOnTask } from './train.js';

describe('trainOnTask with optimizer capabilities', () => {
  it('logs losses at the optimizer\'s evalParams when it has them', () => {
    // SGD whose evaluation parameters are all zeros: every logged loss is the loss at 0.
    const base = sgd({ learningRate: 0.1 });
    const zeroEval: Optimizer = { ...base, name: 'sgd-zero-eval', evalParams: (state) => treeMap((p) => tf.zerosLike(p), state.params) };
    const task = quadraticTask({ dim: 4 });
    const r = trainOnTask(task, zeroEval, { steps: 10, key: key(1), evalEvery: 5 });
    const atZero = tf.tidy(() => task.loss(treeMap((p) => tf.zerosLike(p), task.init(key(0))), undefined as never).dataSync()[0]!);
    expect(r.curve.map((p) => p.trainLoss)).toEqual([atZero, atZero, atZero]);
    const plain = trainOnTask(task, base, { steps: 10, key: key(1), evalEvery: 5 });
    expect(plain.finalTrainLoss).toBeLessThan(plain.curve[0]!.trainLoss);
  });

  it('feeds curvature optimizers the layer statistics of tasks that report their layers', () => {
    const task = imageMlpTask({ imageSize: 8, hidden: [16], batchSize: 32 });
    const before = tf.memory().numTensors;
    const r = trainOnTask(task, kfac({ learningRate: 0.05, damping: 0.05 }), { steps: 40, key: key(2), evalEvery: 20 });
    expect(r.diverged).toBe(false);
    expect(r.finalTrainLoss).toBeLessThan(r.curve[0]!.trainLoss * 0.8);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a curvature optimizer on a task without layers, naming both', () => {
    expect(() => trainOnTask(quadraticTask({ dim: 3 }), kfac(), { steps: 5, key: key(3) })).toThrow(LoptError);
    expect(() => trainOnTask(quadraticTask({ dim: 3 }), kfac(), { steps: 5, key: key(3) })).toThrow(/kfac.*quadratic/);
  });

  it('has Muon and Schedule-Free AdamW baselines that train', () => {
    const task = imageMlpTask({ imageSize: 8, hidden: [16], batchSize: 32 });
    for (const [name, lr] of [['muon', 0.03], ['schedule-free-adamw', 0.01]] as const) {
      const b = BASELINES[name]!;
      expect(Object.keys(b.space)).toEqual(['learningRate']);
      const r = trainOnTask(task, b.build({ learningRate: lr }, 60), { steps: 60, key: key(4), evalEvery: 30 });
      expect(r.finalTrainLoss, name).toBeLessThan(r.curve[0]!.trainLoss);
    }
  });
});
