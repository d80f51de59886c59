// Distributed meta-training over Redis (issue 17, part 3): learner + workers, password URLs,
// validation of estimates, and the faults (worker killed mid-estimate, NaN worker, stale
// worker, learner killed and resumed, Redis restarted). Each test starts its own redis-server.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeTree, key, treeLeaves, type GradientEstimator, type TensorTree } from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { metaTrain, type MetaTrainOptions } from '../src/meta-train.js';
import { memoryCheckpointStore } from '../src/meta-train-checkpoint.js';
import { redisEstimateSource, runRedisWorker, type RedisWorkerHandle } from '../src/node.js';
import { perParameterMlpLOpt } from './problems/learned-optimizers.js';
import { nanEstimator, poolTestEstimators } from './fixtures/pool-setup.js';
import { haveRedisServer, startRedis, type TestRedis } from './fixtures/redis-server.js';

const here = dirname(fileURLToPath(import.meta.url));
const values = (t: TensorTree) => treeLeaves(t).flatMap((x) => Array.from(x.dataSync()));
const finite = (t: TensorTree) => values(t).every(Number.isFinite);
if (!haveRedisServer) console.warn('\n!!! SKIPPING the Redis tests: redis-server is not installed (apt-get install -y redis-server). CI installs it. !!!\n');

function options(steps: number): MetaTrainOptions {
  return { learnedOptimizer: perParameterMlpLOpt({ hidden: 4 }), estimators: poolTestEstimators(2), outerOptimizer: adam({ learningRate: 1e-2 }), steps, key: key(21) };
}

/** Runs the test's learner over `server` with in-process workers built by `make`. */
async function withWorkers<T>(url: string, run: string, make: GradientEstimator[][], body: (workers: RedisWorkerHandle[]) => Promise<T>): Promise<T> {
  const workers = await Promise.all(make.map((estimators, i) => runRedisWorker({ redis: url, run, estimators, id: `w${i}`, seed: i, heartbeatMs: 100, lockMs: 1000 })));
  try {
    return await body(workers);
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
}

const nanEstimators = () => poolTestEstimators(2).map(nanEstimator);

describe.skipIf(!haveRedisServer)('meta-training over Redis', () => {
  let server: TestRedis;
  beforeAll(async () => {
    server = await startRedis('s3cret pass');
  });
  afterAll(async () => server?.stop());

  it('a password URL works, a wrong one fails naming the URL without the password, and a run uses metaBatch estimates per step', async () => {
    await expect(runRedisWorker({ redis: server.url.replace('s3cret%20pass', 'wrong'), estimators: poolTestEstimators(1) })).rejects.toThrow(
      expect.objectContaining({ code: 'IO_ERROR', message: expect.stringMatching(/^Cannot use Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+.*WRONGPASS/) }),
    );
    await expect(runRedisWorker({ redis: 'http://x', estimators: poolTestEstimators(1) })).rejects.toThrow(/Option 'redis' must be a redis:\/\/ or rediss:\/\/ URL/);
    const before = tf.memory().numTensors;
    await withWorkers(server.url, 'basic', [poolTestEstimators(2), poolTestEstimators(2)], async (workers) => {
      const source = redisEstimateSource({ redis: server.url, run: 'basic', estimators: 2, metaBatch: 3, staleness: 1 });
      try {
        const r = await metaTrain({ ...options(5), source });
        expect(r.history.map((m) => m.estimators['source/estimates'])).toEqual([3, 3, 3, 3, 3]);
        expect(r.history.every((m) => (m.estimators['source/staleness'] as number) <= 1)).toBe(true);
        expect(source.stats.accepted).toBe(15);
        expect(source.stats.liveWorkers).toBe(2);
        expect(workers.reduce((n, w) => n + w.stats.done, 0)).toBeGreaterThanOrEqual(15);
        expect(finite(r.theta)).toBe(true);
        disposeTree(r.theta);
      } finally {
        await source.close();
      }
    });
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it('rejects and counts a NaN worker: theta never sees a NaN', async () => {
    await withWorkers(server.url, 'nan', [poolTestEstimators(2), nanEstimators()], async () => {
      const source = redisEstimateSource({ redis: server.url, run: 'nan', estimators: 2, metaBatch: 2 });
      try {
        const r = await metaTrain({ ...options(5), source });
        expect(source.stats.rejected['non-finite'] ?? 0).toBeGreaterThan(0);
        expect(r.history.every((m) => m.nanGradientSteps === 0 && m.estimators['source/estimates'] === 2)).toBe(true);
        expect(finite(r.theta)).toBe(true);
        disposeTree(r.theta);
      } finally {
        await source.close();
      }
    });
  }, 60_000);

  it('drops the results of a slow worker once they are past the staleness bound', async () => {
    const slow = poolTestEstimators(2).map((e) => ({ ...e, init: e.init, estimate: (t: TensorTree, s: unknown, k: Parameters<GradientEstimator['estimate']>[2]) => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150);
      return e.estimate(t, s, k);
    } }));
    await withWorkers(server.url, 'stale', [poolTestEstimators(2), slow as GradientEstimator[]], async () => {
      const source = redisEstimateSource({ redis: server.url, run: 'stale', estimators: 2, metaBatch: 1, staleness: 0, prefetch: 1 });
      try {
        const r = await metaTrain({ ...options(8), source });
        expect(r.history.every((m) => m.estimators['source/staleness'] === 0)).toBe(true);
        const s = source.stats.rejected;
        expect((s.stale ?? 0) + (s.skipped ?? 0)).toBeGreaterThan(0);
        disposeTree(r.theta);
      } finally {
        await source.close();
      }
    });
  }, 60_000);

  it('a learner killed at step 3 resumes from its checkpoint with the workers still running', async () => {
    await withWorkers(server.url, 'resume', [poolTestEstimators(2), poolTestEstimators(2)], async () => {
      const store = memoryCheckpointStore();
      const first = redisEstimateSource({ redis: server.url, run: 'resume', estimators: 2 });
      await expect(
        metaTrain({
          ...options(6),
          source: first,
          checkpoint: { store, every: 1 },
          onStep: (m) => {
            if (m.step === 3) throw new Error('learner killed');
          },
        }),
      ).rejects.toThrow('learner killed');
      await first.close();
      const second = redisEstimateSource({ redis: server.url, run: 'resume', estimators: 2 });
      try {
        const r = await metaTrain({ ...options(6), source: second, checkpoint: { store, every: 1 } });
        // onStep(3) threw before step 3's checkpoint was written (saves follow onStep): resume from 2.
        expect([r.resumedFrom, r.step, r.history.length]).toEqual([2, 6, 4]);
        expect(second.stats.generation).toBe(first.stats.generation + 1);
        expect(finite(r.theta)).toBe(true);
        disposeTree(r.theta);
      } finally {
        await second.close();
      }
    });
  }, 60_000);
});

describe.skipIf(!haveRedisServer)('Redis faults that need a server of their own', () => {
  it('survives a Redis restart mid-run (jobs and theta are republished)', async () => {
    const server = await startRedis();
    try {
      await withWorkers(server.url, 'restart', [poolTestEstimators(2), poolTestEstimators(2)], async () => {
        const source = redisEstimateSource({ redis: server.url, run: 'restart', estimators: 2, pollMs: 100 });
        try {
          const r = await metaTrain({
            ...options(6),
            source,
            onStep: async (m) => {
              if (m.step === 2) await server.restart();
            },
          });
          expect(r.step).toBe(6);
          expect(r.history.every((m) => m.estimators['source/estimates'] === 2)).toBe(true);
          expect(finite(r.theta)).toBe(true);
          disposeTree(r.theta);
        } finally {
          await source.close();
        }
      });
    } finally {
      await server.stop();
    }
  }, 90_000);

  it('a worker process killed mid-estimate loses its job to another worker; each job counts once', async () => {
    const server = await startRedis();
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'redis-worker.ts'), server.url, 'kill', '2', '1000', '400'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (d: Buffer) => d.toString().includes('worker ready') && resolve());
        child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
      });
      await withWorkers(server.url, 'kill', [poolTestEstimators(2)], async () => {
        const source = redisEstimateSource({ redis: server.url, run: 'kill', estimators: 2, metaBatch: 2, staleness: 2, pollMs: 100 });
        try {
          const r = await metaTrain({
            ...options(6),
            source,
            onStep: (m) => {
              // 50 ms into the next step the slow worker (400 ms per estimate) is mid-estimate.
              if (m.step === 2) setTimeout(() => child.kill('SIGKILL'), 50);
            },
          });
          expect(r.history.every((m) => m.estimators['source/estimates'] === 2)).toBe(true);
          expect(source.stats.accepted).toBe(12);
          expect(finite(r.theta)).toBe(true);
          disposeTree(r.theta);
        } finally {
          await source.close();
        }
      });
    } finally {
      child.kill('SIGKILL');
      await server.stop();
    }
  }, 90_000);
});
