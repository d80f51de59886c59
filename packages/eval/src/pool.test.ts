import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryCache } from './cache.js';
import { serialExecutor } from './executor.js';
import { fileCache } from './file-cache.js';
import { processPool } from './pool.js';
import type { RunRecord } from './record.js';
import { baselineRef, type RunRequest } from './run.js';
import { runSuite } from './runner.js';
import type { Suite } from './suite.js';

const worker = fileURLToPath(new URL('../test/pool-worker.ts', import.meta.url));
const execArgv = ['--import', 'tsx'];
const task = { id: 'logreg', task: 'logisticRegressionTask', options: { dim: 6, batchSize: 16 }, steps: 60, evalEvery: 20 };
const requests: RunRequest[] = [0, 1, 2, 3, 4, 5].map((seed) => ({ task, evalBatches: 1, optimizer: baselineRef('adam', { learningRate: 0.01 * (seed + 1) }), seed }));
const untimed = (r: RunRecord) => ({ curve: r.curve, finalTrainLoss: r.finalTrainLoss, diverged: r.diverged, steps: r.steps });
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function collect(executor: ReturnType<typeof serialExecutor>): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  await executor.run(requests, (i, r) => { out[i] = r; });
  return out;
}

describe('processPool', () => {
  it('gives the results of a serial run, and replaces a worker killed mid-run without losing results', async () => {
    const serial = await collect(serialExecutor());
    const pool = await collect(processPool({ worker, jobs: 2, execArgv }));
    expect(pool.map(untimed)).toEqual(serial.map(untimed));

    // Kill the first worker right after the first result arrives: it holds a run then
    // (the one it was just given, or the one it is training), which must be redone.
    const children: import('node:child_process').ChildProcess[] = [];
    const delivered: number[] = [];
    const killing = processPool({ worker, jobs: 2, execArgv, onSpawn: (c) => children.push(c) });
    const out: RunRecord[] = [];
    await killing.run(requests, (i, r) => {
      if (delivered.length === 0) children[0]?.kill('SIGKILL');
      delivered.push(i);
      out[i] = r;
    });
    const spawned = children;
    expect(spawned.length).toBeGreaterThanOrEqual(3); // two workers plus the replacement
    expect([...delivered].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(out.map(untimed)).toEqual(serial.map(untimed));
  }, 120_000);

  it('resumes a suite from a file cache and recomputes a corrupt entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lopt-eval-cache-'));
    dirs.push(dir);
    const suite: Suite = { name: 't', description: '', seeds: [0], tuningSeeds: [9], evalBatches: 1, tasks: [task] };
    const options = { candidates: [], baselines: ['adam'], spaces: { adam: { learningRate: { grid: [0.01, 0.1] } } } };
    const first = await runSuite(suite, { ...options, cache: fileCache(dir) });
    expect([first.computed, first.cached]).toEqual([3, 0]);
    const files = readdirSync(join(dir, 'runs'));
    expect(files).toHaveLength(3);
    writeFileSync(join(dir, 'runs', files[0] as string), 'not json{');
    const corrupt: string[] = [];
    const second = await runSuite(suite, { ...options, cache: fileCache(dir), onCorrupt: (k) => corrupt.push(k) });
    expect([second.computed, second.cached, corrupt.length]).toEqual([1, 2, 1]);
    expect(second.rows[0]?.runs.logreg?.map(untimed)).toEqual(first.rows[0]?.runs.logreg?.map(untimed));
    writeFileSync(join(dir, 'lopt-eval-cache.json'), '{"format":"something-else"}');
    expect(() => fileCache(dir)).toThrow(/corrupt/);
    expect(() => fileCache(join(dir, 'lopt-eval-cache.json'))).toThrow(/is a file/);
    expect(memoryCache().get('x')).toBeUndefined();
  });
});
