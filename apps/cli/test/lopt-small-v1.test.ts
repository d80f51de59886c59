import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli, tempDir } from './helpers.js';

/**
 * Reproduction of `pretrained('lopt-small-v1')` on a shortened budget: the committed
 * configs/lopt-small-v1.json with fewer outer steps, fewer and shorter inner trainings and no
 * validation (everything else, the architecture, task family, augmentation, estimator and outer
 * optimizer, as committed).
 */
const STEPS = 16;
const TAIL = 8;

type Config = Record<string, unknown> & { truncatedStep: Record<string, unknown>; outerOptimizer: { name: string; options: Record<string, unknown> } };

function shortened(frozen: boolean): Config {
  const c = JSON.parse(readFileSync(join(REPO_ROOT, 'configs', 'lopt-small-v1.json'), 'utf8')) as Config;
  const { validation: _validation, ...rest } = c;
  return {
    ...rest,
    steps: STEPS,
    checkpointEvery: STEPS,
    truncatedStep: { ...c.truncatedStep, numTasks: 4, truncation: { kind: 'logUniform', min: 40, max: 80 }, randomInitialIterationOffset: 80 },
    // The frozen run: the same task and perturbation stream with theta held at its start.
    ...(frozen ? { outerOptimizer: { name: 'sgd', options: { learningRate: 0 } } } : {}),
  };
}

async function metaTrain(config: Config, dir: string): Promise<{ theta: Buffer; metaLoss: number[] }> {
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  const out = join(dir, 'run');
  const run = await runCli(['meta-train', '--config', file, '--no-eval', '--no-report', '--out', out]);
  expect(run.code, run.stderr).toBe(0);
  const metaLoss = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { metaLoss: number }).metaLoss);
  return { theta: readFileSync(join(out, 'theta.safetensors')), metaLoss };
}

const mean = (xs: readonly number[]): number => xs.reduce((a, x) => a + x, 0) / xs.length;

describe('configs/lopt-small-v1.json on a shortened budget', () => {
  const runs = Promise.all([metaTrain(shortened(false), tempDir()), metaTrain(shortened(false), tempDir()), metaTrain(shortened(true), tempDir())]);

  it('regenerates theta bit for bit with the same seed', async () => {
    const [a, b] = await runs;
    expect(a.metaLoss).toHaveLength(STEPS);
    expect(Buffer.compare(a.theta, b.theta)).toBe(0);
    expect(b.metaLoss).toEqual(a.metaLoss);
  }, 120_000);

  it('makes progress: over the last outer steps the meta-loss is at least 2% below the frozen start theta on the same tasks and perturbations', async () => {
    const [trained, , frozen] = await runs;
    // Same stream: at the first step both evaluate the same theta on the same tasks.
    expect(trained.metaLoss[0]).toBe(frozen.metaLoss[0]);
    const t = mean(trained.metaLoss.slice(-TAIL));
    const f = mean(frozen.metaLoss.slice(-TAIL));
    expect(t).toBeLessThan(0.98 * f);
  }, 120_000);
});
