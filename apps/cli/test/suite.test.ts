import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorParagraph, runCli, tempDir, type CliRun } from './helpers.js';

// `lopt suite run` end to end on a two-task suite file with a two-point learning-rate grid.
let dir: string;
const suite = {
  name: 'cli-test-v1',
  description: 'two tiny tasks',
  seeds: [0, 1],
  tuningSeeds: [7],
  evalBatches: 1,
  spaces: { adam: { learningRate: { grid: [0.003, 0.03] } } },
  tasks: [
    { id: 'quad', task: 'quadraticTask', options: { dim: 6 }, steps: 40 },
    { id: 'logreg', task: 'logisticRegressionTask', options: { dim: 6, batchSize: 16 }, steps: 40 },
  ],
};

function expectBadInput(run: CliRun, problem: RegExp): void {
  const { text, hasStack } = errorParagraph(run);
  expect(run.code, run.stderr).toBe(2);
  expect(text).toMatch(problem);
  expect(hasStack).toBe(false);
}

beforeAll(() => {
  dir = tempDir('lopt-cli-suite-');
  writeFileSync(join(dir, 'suite.json'), JSON.stringify(suite));
  writeFileSync(join(dir, 'unknown-task.json'), JSON.stringify({ ...suite, tasks: [{ id: 'x', task: 'noSuchTask', steps: 10 }] }));
  writeFileSync(join(dir, 'negative-space.json'), JSON.stringify({ ...suite, spaces: { adam: { learningRate: { grid: [-0.1] } } } }));
  writeFileSync(join(dir, 'empty-space.json'), JSON.stringify({ ...suite, spaces: { adam: { learningRate: { grid: [] } } } }));
});

const base = (extra: string[]) => ['suite', 'run', '--suite', join(dir, 'suite.json'), '--baselines', 'adam', '--jobs', '1', '--no-report', ...extra];

describe('lopt suite run', () => {
  it('reports tuned Adam as its own reference (loss/ref 1, speedup 1x, zero paired difference), then resumes from the cache', async () => {
    const cache = join(dir, 'cache');
    const first = await runCli(base(['--optimizer', 'adam', '--cache', cache, '--out', join(dir, 'out1')]));
    expect(first.code, first.stderr).toBe(0);
    const adamRow = first.stdout.split('\n').find((l) => l.startsWith('adam ') && !l.startsWith('adam ['));
    expect(adamRow).toMatch(/^adam\s+1 \[1, 1\]\s+0 ± 0 \(0\/4 below\)\s+0\/2/);
    const quadRow = first.stdout.split('\n').find((l) => l.startsWith('quad '));
    expect(quadRow).toMatch(/1 \(1x\)\s+1 \(1x\)$/);
    // 2 tasks x 2 learning rates x 1 tuning seed + 2 tasks x 2 seeds (the candidate shares the reference's runs).
    expect(first.stderr).toMatch(/8 runs trained, 4 from the cache/);
    const second = await runCli(base(['--optimizer', 'adam', '--cache', cache, '--out', join(dir, 'out2')]));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/0 runs trained, 12 from the cache/);
    expect(second.stdout.split('\n').filter((l) => /^(quad|logreg|adam)/.test(l))).toEqual(first.stdout.split('\n').filter((l) => /^(quad|logreg|adam)/.test(l)));

    // A corrupt entry is recomputed with a warning; a corrupt manifest is refused.
    const runs = join(cache, 'runs');
    writeFileSync(join(runs, readdirSync(runs)[0] as string), '{"format":"lopt-eval-run"');
    const third = await runCli(base(['--optimizer', 'adam', '--cache', cache, '--out', join(dir, 'out3')]));
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toMatch(/warning: a corrupt cache entry was recomputed/);
    expect(third.stderr).toMatch(/1 runs trained, 11 from the cache \(1 corrupt entries recomputed\)/);
    writeFileSync(join(cache, 'lopt-eval-cache.json'), 'garbage');
    expectBadInput(await runCli(base(['--optimizer', 'adam', '--cache', cache, '--out', join(dir, 'out4')])), /cache manifest .* is corrupt/);
  }, 240_000);

  it('continues from the cache after being killed mid-run', async () => {
    const cache = join(dir, 'cache-kill');
    const args = base(['--optimizer', 'adam', '--cache', cache, '--out', join(dir, 'out-kill')]);
    const killed = await runCli(args, {
      onSpawn: (child) => {
        // Kill it once the first evaluation run has finished (all tuning runs are cached by then).
        child.stderr?.on('data', (d: Buffer) => {
          if (/evaluation \d+\/\d+/.test(d.toString())) child.kill('SIGKILL');
        });
      },
    });
    expect(killed.signal).toBe('SIGKILL');
    const resumed = await runCli(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    const m = /(\d+) runs trained, (\d+) from the cache/.exec(resumed.stderr);
    // 12 runs in all (4 tuning, 4 evaluation, 4 the candidate shares with the reference, counted as
    // cached): at least the 4 tuning runs were read back from the cache.
    expect(Number(m?.[2])).toBeGreaterThanOrEqual(4 + 4);
    expect(Number(m?.[1]) + Number(m?.[2])).toBe(12);
  }, 240_000);

  it('exits 2 with a clear message on bad input', async () => {
    const out = ['--out', join(dir, 'bad')];
    expectBadInput(await runCli(['suite', 'run', '--suite', 'huge-v7', '--optimizer', 'adam', ...out]), /No suite named "huge-v7".*small-v1, medium-v1/);
    expectBadInput(await runCli(['suite', 'run', '--suite', join(dir, 'unknown-task.json'), '--optimizer', 'adam', ...out]), /tasks\[0\]\.task: unknown task "noSuchTask"/);
    expectBadInput(await runCli(['suite', 'run', '--suite', join(dir, 'negative-space.json'), '--optimizer', 'adam', ...out]), /spaces\.adam: .*learningRate\.grid\[0\]/);
    expectBadInput(await runCli(['suite', 'run', '--suite', join(dir, 'empty-space.json'), '--optimizer', 'adam', ...out]), /spaces\.adam: .*learningRate\.grid/);
    expectBadInput(await runCli(['suite', 'run', '--baselines', ',', '--optimizer', 'adam', ...out]), /--baselines is empty/);
    expectBadInput(await runCli(['suite', 'run', '--baselines', 'adam,lbfgs', '--optimizer', 'adam', ...out]), /No baseline named "lbfgs"/);
    expectBadInput(await runCli(['suite', 'run', '--suite', join(dir, 'suite.json'), '--baselines', 'sgdm', '--optimizer', 'adam', ...out]), /reference/);
    expectBadInput(await runCli(['suite', 'run', '--jobs', '0', '--optimizer', 'adam', ...out]), /--jobs/);
    expectBadInput(await runCli(['suite', 'run', ...out]), /at least one --optimizer/);
  }, 240_000);
});
