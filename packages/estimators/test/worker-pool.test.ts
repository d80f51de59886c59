// The local worker pool (issue 17, part 2): synchronous mode equals the in-process run bit for
// bit (and resumes from checkpoints either way), a worker killed mid-run is replaced, and
// asynchronous mode drops estimates past the staleness bound and rejects NaN workers.
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeTree, key, treeLeaves, type TensorTree } from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { memoryCheckpointStore } from '../src/meta-train-checkpoint.js';
import { metaTrain, workerPool, type NodeMetaTrainOptions } from '../src/node.js';
import { perParameterMlpLOpt } from './problems/learned-optimizers.js';
import { poolTestEstimators } from './fixtures/pool-setup.js';

const here = dirname(fileURLToPath(import.meta.url));
const script = join(here, 'fixtures', 'pool-worker.ts');
const execArgv = ['--import', 'tsx'];
const values = (t: TensorTree) => treeLeaves(t).flatMap((x) => Array.from(x.dataSync()));

function options(slots: number, steps: number): NodeMetaTrainOptions {
  return { learnedOptimizer: perParameterMlpLOpt({ hidden: 4 }), estimators: poolTestEstimators(slots), outerOptimizer: adam({ learningRate: 1e-2 }), steps, key: key(21) };
}
const workers = (n: number, copies: number, extra: string[] = []) => ({ workers: n, script, execArgv, args: [String(copies), ...extra] });

describe('workerPool, synchronous', () => {
  it('equals the in-process run bit for bit, and a pool checkpoint resumes in-process and on the pool', async () => {
    const before = tf.memory().numTensors;
    const local = await metaTrain(options(3, 6));
    const pooled = await metaTrain({ ...options(3, 6), workers: workers(2, 3) });
    expect(values(pooled.theta)).toEqual(values(local.theta));
    expect(pooled.history.map((m) => m.meanLoss)).toEqual(local.history.map((m) => m.meanLoss));
    expect(pooled.history.map((m) => m.gradNorm)).toEqual(local.history.map((m) => m.gradNorm));

    // Stop a pool run at step 3 (its checkpoint holds the workers' PES states), then finish it twice.
    const store = memoryCheckpointStore();
    const first = await metaTrain({ ...options(3, 3), workers: workers(2, 3), checkpoint: { store, every: 3 } });
    const saved = (await store.load()) as Uint8Array;
    const onPool = await metaTrain({ ...options(3, 6), workers: workers(2, 3), checkpoint: { store, every: 3 } });
    const copy = memoryCheckpointStore();
    await copy.save(saved);
    const inProcess = await metaTrain({ ...options(3, 6), checkpoint: { store: copy, every: 3 } });
    expect([onPool.resumedFrom, inProcess.resumedFrom]).toEqual([3, 3]);
    expect(values(onPool.theta)).toEqual(values(local.theta));
    expect(values(inProcess.theta)).toEqual(values(local.theta));
    disposeTree([local.theta, pooled.theta, first.theta, onPool.theta, inProcess.theta]);
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('replaces a worker killed mid-run: every step still averages one estimate per slot, and theta stays finite', async () => {
    const children: ChildProcess[] = [];
    const pool = workerPool({ ...workers(2, 2), estimators: 2, onSpawn: (c) => children.push(c) });
    try {
      const r = await metaTrain({
        ...options(2, 6),
        source: pool,
        onStep: (m) => {
          // 20 ms into the next step: the worker is busy with its estimate then.
          if (m.step === 2) setTimeout(() => children[0]?.kill('SIGKILL'), 20);
        },
      });
      expect(r.step).toBe(6);
      expect(children.length).toBe(3);
      expect(pool.stats.restarts).toBe(1);
      expect(r.history.map((m) => m.estimators['source/estimates'])).toEqual([2, 2, 2, 2, 2, 2]);
      expect(values(r.theta).every(Number.isFinite)).toBe(true);
      expect(r.history.every((m) => m.nanGradientSteps === 0)).toBe(true);
      disposeTree(r.theta);
    } finally {
      await pool.close();
    }
  }, 120_000);
});

describe('workerPool, asynchronous', () => {
  it('keeps every used estimate within the staleness bound and rejects a NaN worker, counting it', async () => {
    const pool = workerPool({ ...workers(2, 4, ['1']), estimators: 4, mode: 'async', staleness: 1, metaBatch: 2 });
    try {
      const r = await metaTrain({ ...options(4, 8), source: pool });
      expect(r.step).toBe(8);
      expect(r.history.every((m) => m.estimators['source/estimates'] === 2)).toBe(true);
      expect(r.history.every((m) => (m.estimators['source/staleness'] as number) <= 1)).toBe(true);
      expect(pool.stats.rejected['non-finite'] ?? 0).toBeGreaterThan(0);
      expect(r.history.every((m) => m.nanGradientSteps === 0 && m.nanLossSteps === 0)).toBe(true);
      expect(values(r.theta).every(Number.isFinite)).toBe(true);
      disposeTree(r.theta);
    } finally {
      await pool.close();
    }
  }, 120_000);

  it('with staleness 0 drops every estimate computed on an older theta', async () => {
    const pool = workerPool({ ...workers(2, 4), estimators: 4, mode: 'async', staleness: 0, metaBatch: 2 });
    try {
      const r = await metaTrain({ ...options(4, 6), source: pool });
      expect(r.history.every((m) => m.estimators['source/staleness'] === 0)).toBe(true);
      // Four slots compute, two are used per step: the other two finish on an old theta and are dropped.
      expect(pool.stats.rejected.stale ?? 0).toBeGreaterThan(0);
      disposeTree(r.theta);
    } finally {
      await pool.close();
    }
  }, 120_000);
});
