// `lopt meta-train --workers N` / `--redis URL` and `lopt worker` (issue 17): the synchronous
// pool equals the in-process run bit for bit, bad flags exit 2 naming the flag, and a Redis
// learner with one `lopt worker` process completes a few outer steps of the tiny preset.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../src/presets.js';
import { haveRedisServer, startRedis } from '../../../packages/estimators/test/fixtures/redis-server.js';
import { errorParagraph, runCli, tempDir, type CliRun } from './helpers.js';

const rows = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

/** The tiny preset with two estimators (a pool of 2 runs one on each worker), 4 outer steps, no validation. */
function twoEstimatorConfig(dir: string): string {
  const { validation: _v, eval: _e, ...tiny } = PRESETS.tiny?.config as Record<string, unknown> & { estimators: unknown[] };
  const file = join(dir, 'tiny2.json');
  writeFileSync(file, JSON.stringify({ ...tiny, name: 'tiny2', steps: 4, estimators: [...tiny.estimators, ...tiny.estimators] }));
  return file;
}

const QUIET = ['--no-eval', '--no-report'];

describe('lopt meta-train --workers', () => {
  it('the synchronous pool of 2 workers gives the in-process result bit for bit (theta file and every logged loss)', async () => {
    const dir = tempDir();
    const config = twoEstimatorConfig(dir);
    const [local, pool] = await Promise.all([
      runCli(['meta-train', '--config', config, '--out', join(dir, 'local'), ...QUIET]),
      runCli(['meta-train', '--config', config, '--workers', '2', '--out', join(dir, 'pool'), ...QUIET]),
    ]);
    expect(local.code, local.stderr).toBe(0);
    expect(pool.code, pool.stderr).toBe(0);
    expect(pool.stderr).toContain('local pool of 2 worker processes (sync)');
    const a = rows(join(dir, 'local'));
    const b = rows(join(dir, 'pool'));
    expect(a.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    expect(b.map((r) => [r.metaLoss, r.gradNorm])).toEqual(a.map((r) => [r.metaLoss, r.gradNorm]));
    expect(a.every((r) => Number.isFinite(r.metaLoss) && (r.gradNorm ?? 0) > 0)).toBe(true);
    expect(Buffer.compare(readFileSync(join(dir, 'pool', 'theta.safetensors')), readFileSync(join(dir, 'local', 'theta.safetensors')))).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, 'pool', 'meta-train.safetensors')), readFileSync(join(dir, 'local', 'meta-train.safetensors')))).toBe(0);
  });

  it('a run checkpointed on the pool resumes in-process to the uninterrupted in-process result', async () => {
    const dir = tempDir();
    const config = twoEstimatorConfig(dir);
    const [local, half] = await Promise.all([
      runCli(['meta-train', '--config', config, '--out', join(dir, 'local'), ...QUIET]),
      runCli(['meta-train', '--config', config, '--workers', '2', '--steps', '2', '--out', join(dir, 'half'), ...QUIET]),
    ]);
    expect(local.code, local.stderr).toBe(0);
    expect(half.code, half.stderr).toBe(0);
    const resumed = await runCli(['meta-train', '--resume', join(dir, 'half'), '--steps', '4', ...QUIET]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(rows(join(dir, 'half')).map((r) => r.metaLoss)).toEqual(rows(join(dir, 'local')).map((r) => r.metaLoss));
    expect(Buffer.compare(readFileSync(join(dir, 'half', 'theta.safetensors')), readFileSync(join(dir, 'local', 'theta.safetensors')))).toBe(0);
  });

  it('the asynchronous pool completes its steps with finite losses', async () => {
    const dir = tempDir();
    const run = await runCli(['meta-train', '--config', twoEstimatorConfig(dir), '--workers', '2', '--async', '--staleness', '1', '--meta-batch', '2', '--out', join(dir, 'a'), ...QUIET]);
    expect(run.code, run.stderr).toBe(0);
    const r = rows(join(dir, 'a'));
    expect(r.map((x) => x.step)).toEqual([1, 2, 3, 4]);
    expect(r.every((x) => Number.isFinite(x.metaLoss))).toBe(true);
  });

  it.each([
    [['--workers', '0'], "'--workers'"],
    [['--workers', 'two'], "'--workers'"],
    [['--workers', '2'], "'--workers' (2) must be at most the number of estimators of the config (1)"],
    [['--redis', 'notaurl'], "'--redis' must be a Redis URL"],
    [['--redis', 'http://user:hunter2@host'], "'--redis' must be a Redis URL"],
    [['--staleness', '2'], "'--staleness' needs --workers or --redis"],
    [['--workers', '1', '--redis', 'redis://127.0.0.1:6379'], "'--redis' and '--workers' exclude each other"],
  ])('meta-train --preset tiny %j exits 2 naming the option', async (flags, message) => {
    const dir = tempDir();
    const run = await runCli(['meta-train', '--preset', 'tiny', ...flags, '--out', join(dir, 'x'), ...QUIET]);
    expect(run.code).toBe(2);
    const { text, hasStack } = errorParagraph(run);
    expect(text).toContain(message);
    expect(text).not.toContain('hunter2');
    expect(hasStack).toBe(false);
  });

  it.each([
    ['meta-train', ['--workers', '--async', '--staleness', '--meta-batch', '--redis', '--run']],
    ['worker', ['--redis', '--config', '--preset', '--run', '--id', 'lopt worker --preset tiny --redis']],
  ])('lopt %s --help documents the scale-out flags without starting a backend', async (command, words) => {
    const run = await runCli([command, '--help']);
    expect(run.code).toBe(0);
    for (const w of words) expect(run.stdout).toContain(w);
    expect(run.stderr).toBe('');
  });

  it('lopt worker refuses a bad --redis and a missing config with exit 2', async () => {
    const bad = await runCli(['worker', '--redis', 'notaurl', '--preset', 'tiny']);
    expect(bad.code).toBe(2);
    expect(errorParagraph(bad).text).toContain("'--redis' must be a Redis URL");
    const noConfig = await runCli(['worker', '--redis', 'redis://127.0.0.1:6379']);
    expect(noConfig.code).toBe(2);
    expect(errorParagraph(noConfig).text).toContain("'--config' (or '--preset') is required");
  });
});

// A redis-server of the test's own (with a password); else the one CI exports.
const sharedUrl = process.env.LOPT_TEST_REDIS_URL;
const canRedis = haveRedisServer || sharedUrl !== undefined;
if (!canRedis) console.warn('\n!!! SKIPPING the CLI Redis test: redis-server is not installed (apt-get install -y redis-server) and LOPT_TEST_REDIS_URL is not set. CI installs it. !!!\n');

async function testRedis(): Promise<{ url: string; password: string | undefined; stop: () => Promise<void> }> {
  if (haveRedisServer) {
    const server = await startRedis('cli pass');
    return { url: server.url, password: 'cli pass', stop: () => server.stop() };
  }
  return { url: sharedUrl as string, password: undefined, stop: async () => undefined };
}

describe.skipIf(!canRedis)('lopt meta-train --redis with lopt worker', () => {
  it('a learner and one worker process complete 3 outer steps of the tiny preset; the worker stops cleanly on SIGTERM', async () => {
    const server = await testRedis();
    const dir = tempDir();
    const run = `cli-${process.pid}`;
    let worker: ReturnType<typeof import('node:child_process').spawn> | undefined;
    const workerRun: Promise<CliRun> = runCli(['worker', '--preset', 'tiny', '--redis', server.url, '--run', run], { onSpawn: (c) => (worker = c) });
    try {
      const learner = await runCli(['meta-train', '--preset', 'tiny', '--steps', '3', '--redis', server.url, '--run', run, '--out', join(dir, 'r'), ...QUIET]);
      expect(learner.code, learner.stderr).toBe(0);
      if (server.password) expect(learner.stderr).not.toContain(server.password);
      const r = rows(join(dir, 'r'));
      expect(r.map((x) => x.step)).toEqual([1, 2, 3]);
      expect(r.every((x) => Number.isFinite(x.metaLoss) && (x.gradNorm ?? 0) > 0)).toBe(true);
    } finally {
      worker?.kill('SIGTERM');
      const w = await workerRun;
      await server.stop();
      expect(w.code, w.stderr).toBe(0);
      expect(w.stderr).toMatch(/ready: run 'cli-\d+' on redis:\/\//);
      if (server.password) expect(w.stderr).not.toContain(server.password);
      const done = Number(/stopped \(SIGTERM\): (\d+) estimates done/.exec(w.stderr)?.[1]);
      expect(done).toBeGreaterThanOrEqual(3);
    }
  });
});
