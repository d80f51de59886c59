import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { LoptError, disposeTree, key as makeKey, treeLeaves, type Optimizer, type TaskFamily, type TensorTree } from '@lopt/core';
import { adam, sgd } from '@lopt/optimizers';
import { lOptTruncatedStep } from './lopt-truncated-step.js';
import { metaTrain } from './meta-train.js';
import { memoryCheckpointStore, metaTrainCheckpointStep, type MetaTrainCheckpointOptions } from './meta-train-checkpoint.js';
import { metaTrain as metaTrainNode, fileCheckpointStore } from './node.js';
import { perParameterMlpLOpt } from '../test/problems/learned-optimizers.js';
import { quadraticTaskFamily } from '../test/problems/quadratic-family.js';
import { truncatedES } from './truncated-es.js';
import { truncatedPES } from './truncated-pes.js';
import { constantTruncation } from './truncation.js';
import { heldOutLosses } from '../test/test-utils.js';
import { expectMetaTrainingImproves } from '../test/meta-train-check.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function values(tree: TensorTree): number[] {
  return treeLeaves(tree).flatMap((t) => Array.from(t.dataSync()));
}

function smallSetup(numTasks = 2, family: TaskFamily = quadraticTaskFamily({ dim: 4 })) {
  const lopt = perParameterMlpLOpt({ hidden: 4 });
  const step = lOptTruncatedStep({ taskFamily: family, learnedOptimizer: lopt, truncation: constantTruncation(6), numTasks, randomInitialIterationOffset: 6 });
  return { lopt, step };
}

describe('metaTrain', () => {
  it('resumed after a stop mid-run gives exactly the theta of an uninterrupted run (memory and file checkpoints)', async () => {
    const run = async (store?: ReturnType<typeof memoryCheckpointStore>, stopAt?: number) => {
      const { lopt, step } = smallSetup();
      const estimators = [truncatedPES({ truncatedStep: step, unrollLength: 3, std: 0.01 }), truncatedES({ truncatedStep: step, unrollLength: 2, std: 0.01 })];
      const ctrl = new AbortController();
      return metaTrain({
        learnedOptimizer: lopt,
        estimators,
        outerOptimizer: adam({ learningRate: 1e-2 }),
        steps: 7,
        key: makeKey(5),
        ...(store ? { checkpoint: { store, every: 2 } } : {}),
        signal: ctrl.signal,
        onStep: (m) => {
          if (m.step === stopAt) ctrl.abort();
        },
      });
    };
    const before = tf.memory().numTensors;
    const full = await run();
    const store = memoryCheckpointStore();
    const first = await run(store, 5); // stops after step 5; the checkpoint holds step 4
    expect(first.stopped).toBe(true);
    expect(first.step).toBe(5);
    expect(store.saves).toBe(2);
    const second = await run(store);
    expect(second.resumedFrom).toBe(4);
    expect(second.step).toBe(7);
    expect(values(second.theta)).toEqual(values(full.theta));
    expect(values(first.theta)).not.toEqual(values(full.theta));
    // Only the three returned thetas are left.
    disposeTree([first.theta, second.theta]);
    expect(tf.memory().numTensors - before).toBe(treeLeaves(full.theta).length);
    disposeTree(full.theta);

    // The same through the Node entry with checkpoint: { dir, every }.
    const dir = mkdtempSync(join(tmpdir(), 'lopt-meta-'));
    dirs.push(dir);
    const nodeRun = async (stopAt?: number) => {
      const { lopt, step } = smallSetup();
      const ctrl = new AbortController();
      return metaTrainNode({
        learnedOptimizer: lopt,
        estimators: [truncatedPES({ truncatedStep: step, unrollLength: 3, std: 0.01 }), truncatedES({ truncatedStep: step, unrollLength: 2, std: 0.01 })],
        outerOptimizer: adam({ learningRate: 1e-2 }),
        steps: 7,
        key: makeKey(5),
        checkpoint: { dir, every: 2 },
        signal: ctrl.signal,
        onStep: (m) => {
          if (m.step === stopAt) ctrl.abort();
        },
      });
    };
    const a = await nodeRun(3);
    expect(existsSync(fileCheckpointStore(dir).path)).toBe(true);
    const b = await nodeRun();
    expect(b.resumedFrom).toBe(2);
    const again = await run();
    expect(values(b.theta)).toEqual(values(again.theta));
    disposeTree([a.theta, b.theta, again.theta]);
  });

  it('flush policy: every 3 with onStop saves at steps 3 and 5 (the stop), after onStep and after beforeSave; the step-5 checkpoint resumes to the uninterrupted theta', async () => {
    const run = async (checkpoint?: MetaTrainCheckpointOptions, stopAt?: number, events: string[] = []) => {
      const { lopt, step } = smallSetup();
      const ctrl = new AbortController();
      return metaTrain({
        learnedOptimizer: lopt,
        estimators: [truncatedPES({ truncatedStep: step, unrollLength: 3, std: 0.01 })],
        outerOptimizer: adam({ learningRate: 1e-2 }),
        steps: 7,
        key: makeKey(6),
        ...(checkpoint ? { checkpoint } : {}),
        signal: ctrl.signal,
        onStep: (m) => {
          events.push(`step ${m.step}`);
          if (m.step === stopAt) ctrl.abort();
        },
      });
    };
    const before = tf.memory().numTensors;
    const full = await run();
    const inner = memoryCheckpointStore();
    const events: string[] = [];
    const thetasBeforeSave: number[][] = [];
    const store = {
      load: () => inner.load(),
      save: async (bytes: Uint8Array) => {
        events.push(`save ${metaTrainCheckpointStep(bytes)}`);
        await inner.save(bytes);
      },
    };
    const beforeSave = (step: number, theta: TensorTree) => {
      events.push(`beforeSave ${step}`);
      thetasBeforeSave.push(values(theta));
    };
    const first = await run({ store, every: 3, onStop: true, beforeSave }, 5, events);
    expect(first.stopped).toBe(true);
    expect(events).toEqual(['step 1', 'step 2', 'step 3', 'beforeSave 3', 'save 3', 'step 4', 'step 5', 'beforeSave 5', 'save 5']);
    expect(inner.saves).toBe(2);
    // beforeSave sees the theta the stopped run returns (the checkpoint's step).
    expect(thetasBeforeSave[1]).toEqual(values(first.theta));
    expect(metaTrainCheckpointStep(await inner.load())).toBe(5);
    const second = await run({ store: inner, every: 3 });
    expect(second.resumedFrom).toBe(5);
    expect(values(second.theta)).toEqual(values(full.theta));
    // Without onStop the same stop keeps the step-3 checkpoint (the default).
    const plain = memoryCheckpointStore();
    const third = await run({ store: plain, every: 3 }, 5);
    expect(plain.saves).toBe(1);
    expect(metaTrainCheckpointStep(await plain.load())).toBe(3);
    expect(metaTrainCheckpointStep(undefined)).toBe(0);
    disposeTree([full.theta, first.theta, second.theta, third.theta]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a bad flush policy, naming the option', async () => {
    const { lopt, step } = smallSetup();
    const options = { learnedOptimizer: lopt, estimators: [truncatedPES({ truncatedStep: step, unrollLength: 2, std: 0.01 })], steps: 1, key: makeKey(1) };
    const store = memoryCheckpointStore();
    await expect(metaTrain({ ...options, checkpoint: { store, every: 1, onStop: 'yes' as unknown as boolean } })).rejects.toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'checkpoint.onStop' }),
    );
    await expect(metaTrain({ ...options, checkpoint: { store, every: 1, beforeSave: 3 as never } })).rejects.toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'checkpoint.beforeSave' }),
    );
    expect(() => metaTrainCheckpointStep(new Uint8Array([1, 2, 3]))).toThrow(LoptError);
    expect(store.saves).toBe(0);
  });

  it('refuses a checkpoint written with another key, estimator list or learned-optimizer config', async () => {
    const { lopt, step } = smallSetup();
    const store = memoryCheckpointStore();
    const est = [truncatedPES({ truncatedStep: step, unrollLength: 2, std: 0.01 })];
    const r = await metaTrain({ learnedOptimizer: lopt, estimators: est, steps: 2, key: makeKey(1), checkpoint: { store, every: 1 } });
    disposeTree(r.theta);
    await expect(metaTrain({ learnedOptimizer: lopt, estimators: est, steps: 3, key: makeKey(2), checkpoint: { store, every: 1 } })).rejects.toThrow(/key/);
    await expect(
      metaTrain({ learnedOptimizer: lopt, estimators: [truncatedES({ truncatedStep: step, unrollLength: 2 })], steps: 3, key: makeKey(1), checkpoint: { store, every: 1 } }),
    ).rejects.toThrow(/estimators/);
    await expect(
      metaTrain({ learnedOptimizer: perParameterMlpLOpt({ hidden: 5 }), estimators: est, steps: 3, key: makeKey(1), checkpoint: { store, every: 1 } }),
    ).rejects.toThrow(LoptError);
    await expect(metaTrain({ learnedOptimizer: lopt, estimators: [], steps: 1, key: makeKey(1) })).rejects.toThrow(/estimators/);
    await expect(metaTrain({ learnedOptimizer: lopt, estimators: est, steps: -1, key: makeKey(1) })).rejects.toThrow(/steps/);
  });

  it('clips the averaged gradient to clipGradNorm and reports the norm', async () => {
    const { lopt, step } = smallSetup();
    const theta0 = lopt.init(makeKey(3));
    const r = await metaTrain({
      learnedOptimizer: lopt,
      estimators: [truncatedPES({ truncatedStep: step, unrollLength: 2, std: 0.01 })],
      outerOptimizer: sgd({ learningRate: 1 }),
      steps: 1,
      key: makeKey(3),
      theta: theta0,
      clipGradNorm: 1e-3,
    });
    const m = r.history[0];
    expect(m?.gradNorm).toBeGreaterThan(1e-3);
    expect(m?.clipped).toBe(1);
    const moved = Math.sqrt(values(r.theta).reduce((s, v, i) => s + (v - (values(theta0)[i] as number)) ** 2, 0));
    expect(moved).toBeCloseTo(1e-3, 6);
    disposeTree([r.theta, theta0]);
  });

  it('a NaN in one task does not poison theta, and the metrics count it', async () => {
    const family = quadraticTaskFamily({ dim: 3, poisonProbability: 0.25 });
    for (const nanToNum of [true, false]) {
      const { lopt, step } = smallSetup(4, family);
      const r = await metaTrain({
        learnedOptimizer: lopt,
        estimators: [truncatedPES({ truncatedStep: step, unrollLength: 3, std: 0.01, nanToNum })],
        outerOptimizer: adam({ learningRate: 1e-2 }),
        steps: 6,
        key: makeKey(11),
      });
      const last = r.history[r.history.length - 1];
      const v = values(r.theta);
      expect(v.every(Number.isFinite)).toBe(true);
      expect(last?.nanLossSteps).toBeGreaterThan(0); // the poisoned task's loss is NaN
      const counted = r.history.reduce((s, m) => s + (m.estimators['0:truncated-pes/nonFiniteLossDiffs'] ?? 0), 0);
      expect(counted).toBeGreaterThan(0);
      if (nanToNum) {
        expect(last?.nanGradientSteps).toBe(0);
        expect(r.history.some((m) => m.gradNorm > 0)).toBe(true);
      } else {
        expect(last?.nanGradientSteps).toBeGreaterThan(0);
      }
      console.log(`NaN injection (nanToNum=${nanToNum}): nanLossSteps ${last?.nanLossSteps}, nanGradientSteps ${last?.nanGradientSteps}, non-finite loss differences ${counted}, theta finite`);
      disposeTree(r.theta);
    }
  });

  it('with PES on a quadratic family, 3 meta-training seeds each lower the paired held-out log-loss of their initial theta by more than 0.3; an un-updated theta fails the check', async () => {
    const family = quadraticTaskFamily({ dim: 6, minCurvature: 0.1, maxCurvature: 3 });
    const lopt = perParameterMlpLOpt({ hidden: 4 });
    const horizon = 20;
    const tasks = 8;
    const step = lOptTruncatedStep({ taskFamily: family, learnedOptimizer: lopt, truncation: constantTruncation(horizon), numTasks: 4, randomInitialIterationOffset: horizon });
    const kEval = makeKey(777);
    // The family normalizer is log(loss): per-task differences are log-ratios of the losses.
    const evalTheta = (th: TensorTree) => heldOutLosses((n) => lopt.optimizer(th as never, { numSteps: n }) as Optimizer<unknown>, family, kEval, tasks, horizon);
    // Against a TUNED Adam this is false at this scale (best of {1e-3..1} on separate tasks: lr 0.3, ~4x lower
    // held-out loss, measured 2026-12-04); that comparison is experiment (a) in docs/experiments.md, not a test.
    for (const seed of [9, 10, 11]) {
      await expectMetaTrainingImproves({
        lopt,
        step,
        seed,
        steps: 80,
        learningRate: 3e-2,
        margin: 0.3,
        evalTheta,
        report: (check) =>
          `meta-train perParameterMlpLOpt, PES, 80 outer steps, seed ${seed}: held-out log-loss trained - initial ${check.mean.toFixed(4)} ± ${check.se.toFixed(4)} (upper ${check.upper.toFixed(4)})`,
      });
    }
  });
});

