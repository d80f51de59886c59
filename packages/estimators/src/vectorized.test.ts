import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, disposeReplaced, disposeTree, foldIn, key, treeFlatten, type TaskFamily, type TensorTree } from '@lopt/core';
import { adafacMlpLOpt, mlpLOpt } from '@lopt/learned';
import { fixedDimQuadraticFamily, imageMlpFamily } from '@lopt/tasks';
import { constantTruncation, emptyUnrollTimings, lOptTruncatedStep, truncatedES, truncatedPES } from './index.js';

type Est = ReturnType<typeof truncatedPES> | ReturnType<typeof truncatedES>;

/** Runs `n` estimates and returns the host gradients and mean losses. */
function run(make: (vectorize: boolean) => Est, vectorize: boolean, n: number, lopt: { init(k: ReturnType<typeof key>): TensorTree }): { grads: Float32Array[]; losses: number[] } {
  const est = make(vectorize);
  const theta = lopt.init(key(3));
  let ws = est.init(theta, key(4)) as unknown;
  const grads: Float32Array[] = [];
  const losses: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = (est.estimate as (t: TensorTree, s: unknown, k: ReturnType<typeof key>) => { grad: TensorTree; meanLoss: number; state: unknown })(theta, ws, foldIn(key(5), i));
    grads.push(Float32Array.from(treeFlatten(r.grad).leaves.flatMap((x) => Array.from(x.dataSync()))));
    losses.push(r.meanLoss);
    disposeTree(r.grad);
    disposeReplaced(ws, r.state);
    ws = r.state;
  }
  disposeReplaced(ws, undefined);
  disposeTree(theta);
  return { grads, losses };
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 1e-6;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
  }
  return d / scale;
}

const softmax = imageMlpFamily({ maxLayers: 0, imageSizeRange: [8, 8], batchSizeRange: [16, 16] });
const mlp1 = imageMlpFamily({ minLayers: 1, maxLayers: 1, hiddenRange: [8, 8], imageSizeRange: [6, 6], batchSizeRange: [8, 8], activations: ['tanh'] });
const quad = fixedDimQuadraticFamily({ dim: 6, maxCondition: 10 });

describe('vectorized inner trainings', () => {
  const cases: [string, TaskFamily, number, 'pes' | 'es', ReturnType<typeof adafacMlpLOpt> | ReturnType<typeof mlpLOpt>][] = [
    ['PES, softmax regression, adafac, 3 tasks', softmax, 3, 'pes', adafacMlpLOpt({ stepMult: 0.03, expMult: 1 })],
    ['PES, 1-hidden-layer MLP, mlpLOpt, 2 tasks', mlp1, 2, 'pes', mlpLOpt()],
    ['ES, quadratics, adafac, 4 tasks', quad, 4, 'es', adafacMlpLOpt()],
  ];
  for (const [name, family, numTasks, kind, lopt] of cases) {
    it(`${name}: estimates equal the per-task loop's (resets inside the unrolls)`, () => {
      const timings = emptyUnrollTimings();
      const make = (vectorize: boolean) => {
        const step = lOptTruncatedStep({ taskFamily: family, learnedOptimizer: lopt, truncation: constantTruncation(5), numTasks, randomInitialIterationOffset: 5, vectorize, timings });
        return kind === 'pes' ? truncatedPES({ truncatedStep: step, unrollLength: 3, std: 0.01 }) : truncatedES({ truncatedStep: step, unrollLength: 3, std: 0.01 });
      };
      const a = run(make, true, 4, lopt);
      expect(timings.batchedTrainSteps).toBeGreaterThan(0);
      const batchedSteps = timings.batchedTrainSteps;
      const b = run(make, false, 4, lopt);
      expect(timings.batchedTrainSteps).toBe(batchedSteps);
      a.grads.forEach((g, i) => expect(maxRelDiff(g, b.grads[i]!)).toBeLessThan(2e-3));
      a.losses.forEach((l, i) => expect(l).toBeCloseTo(b.losses[i]!, 4));
      // the same key gives the same estimate
      const c = run(make, true, 2, lopt);
      c.grads.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(a.grads[i]!)));
    });
  }

  it('falls back to the per-task loop when the family cannot batch the configurations', () => {
    const timings = emptyUnrollTimings();
    const mixed = imageMlpFamily({ maxLayers: 0, imageSizeRange: [6, 10], batchSizeRange: [8, 8] });
    const step = lOptTruncatedStep({ taskFamily: mixed, learnedOptimizer: adafacMlpLOpt(), truncation: constantTruncation(50), numTasks: 4, timings });
    const pes = truncatedPES({ truncatedStep: step, unrollLength: 2 });
    const lopt = adafacMlpLOpt();
    const theta = lopt.init(key(1));
    const ws = pes.init(theta, key(2));
    const cfgs = (ws.pos as { tasks: { cfg: { imageSize: number } }[] }).tasks.map((t) => t.cfg.imageSize);
    expect(new Set(cfgs).size).toBeGreaterThan(1);
    const r = pes.estimate(theta, ws, key(3));
    expect(timings.trainSteps).toBe(16);
    expect(timings.batchedTrainSteps).toBe(0);
    disposeTree(r.grad);
    disposeReplaced(ws, r.state);
    disposeReplaced(r.state, undefined);
    disposeTree(theta);
  });

  it('keeps tf.memory flat over many vectorized estimates', () => {
    const lopt = adafacMlpLOpt();
    const step = lOptTruncatedStep({ taskFamily: softmax, learnedOptimizer: lopt, truncation: constantTruncation(4), numTasks: 2, randomInitialIterationOffset: 4 });
    const pes = truncatedPES({ truncatedStep: step, unrollLength: 3 });
    const theta = lopt.init(key(1));
    let ws = pes.init(theta, key(2));
    const once = (i: number) => {
      const r = pes.estimate(theta, ws, foldIn(key(3), i));
      disposeTree(r.grad);
      disposeReplaced(ws, r.state);
      ws = r.state;
    };
    for (let i = 0; i < 3; i++) once(i);
    const before = tf.memory().numTensors;
    for (let i = 3; i < 20; i++) once(i);
    expect(tf.memory().numTensors).toBe(before);
    disposeReplaced(ws, undefined);
    disposeTree(theta);
  });

  it('bad input: vectorize must be a boolean, unrollMany needs items', () => {
    const opts = { taskFamily: softmax, learnedOptimizer: adafacMlpLOpt(), truncation: constantTruncation(4), numTasks: 2 };
    expect(() => lOptTruncatedStep({ ...opts, vectorize: 'yes' as unknown as boolean })).toThrow(/'vectorize'/);
    const step = lOptTruncatedStep(opts);
    expect(() => step.unrollMany!([], key(0), 2)).toThrow(LoptError);
    expect(() => step.unrollMany!([], key(0), 2)).toThrow(/'items'/);
  });
});
