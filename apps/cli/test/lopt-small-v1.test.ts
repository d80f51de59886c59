import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { disposeTree, foldIn, key } from '@lopt/core';
import { trainOnTask } from '@lopt/eval';
import { controlAdam, loadLearnedOptimizer, type ControlAdamTheta } from '@lopt/learned';
import { imageMlpFamily } from '@lopt/tasks';
import { REPO_ROOT, runCli, tempDir } from './helpers.js';

/**
 * Reproduction of `pretrained('lopt-small-v1')` on a shortened budget: the committed
 * configs/lopt-small-v1.json with 16 outer steps, 4 inner trainings instead of 8 and no
 * validation (the architecture, task family, augmentation, truncations, estimator and outer
 * optimizer as committed). The full config regenerates the shipped theta byte for byte
 * (MODEL_CARD.md); this checks the same determinism in CI, and that the 16 steps make progress.
 */
const STEPS = 16;
type Config = Record<string, unknown> & { learnedOptimizer: { options: { stepMult: number } }; taskFamily: { options: { family: { options: Parameters<typeof imageMlpFamily>[0] } } }; truncatedStep: Record<string, unknown> };

function committedConfig(): Config {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'configs', 'lopt-small-v1.json'), 'utf8')) as Config;
}

function shortened(): Record<string, unknown> {
  const c = committedConfig();
  const { validation: _validation, ...rest } = c;
  return { ...rest, steps: STEPS, checkpointEvery: STEPS, truncatedStep: { ...c.truncatedStep, numTasks: 4 } };
}

async function metaTrain(dir: string): Promise<{ theta: Buffer; rows: { metaLoss: number; gradNorm: number }[] }> {
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(shortened()));
  const out = join(dir, 'run');
  const run = await runCli(['meta-train', '--config', file, '--no-eval', '--no-report', '--out', out]);
  expect(run.code, run.stderr).toBe(0);
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { metaLoss: number; gradNorm: number });
  return { theta: readFileSync(join(out, 'theta.safetensors')), rows };
}

/**
 * The meta-objective on fixed tasks: final train loss after 300 steps on 6 tasks of the
 * training family without augmentation, sampled from a key the meta-training never uses, with
 * the same initial parameters and batches for every theta.
 */
function committedOptimizer(): ReturnType<typeof controlAdam> {
  return controlAdam({ stepMult: committedConfig().learnedOptimizer.options.stepMult });
}

function finalLosses(theta: ControlAdamTheta): number[] {
  const config = committedConfig();
  const lopt = committedOptimizer();
  const family = imageMlpFamily(config.taskFamily.options.family.options);
  return [0, 1, 2, 3, 4, 5].map((i) => {
    const task = family.task(family.sample(foldIn(key(777), i)));
    const optimizer = lopt.optimizer(theta, { numSteps: 300 });
    return trainOnTask(task, optimizer, { steps: 300, key: foldIn(key(778), i), evalEvery: 300, evalBatches: 4 }).finalTrainLoss;
  });
}

describe('configs/lopt-small-v1.json on a shortened budget', () => {
  it('regenerates theta and every meta-loss bit for bit, and lowers the held-out meta-objective by at least 10%', async () => {
    const [a, b] = await Promise.all([metaTrain(tempDir()), metaTrain(tempDir())]);
    expect(a.rows).toHaveLength(STEPS);
    expect(a.rows.every((r) => Number.isFinite(r.metaLoss) && r.gradNorm > 0)).toBe(true);
    expect(b.rows.map((r) => r.metaLoss)).toEqual(a.rows.map((r) => r.metaLoss));
    expect(Buffer.compare(a.theta, b.theta)).toBe(0);

    // Progress: the per-step PES meta-loss resamples tasks and truncation points every step, so
    // it is compared on fixed tasks instead: theta at step 0 (zeros: Adam at 3e-3) against the
    // theta after 16 steps. Measured when written: mean 0.257 -> 0.212 (-18%), all 6 tasks lower.
    const start = committedOptimizer().init(key(0));
    const end = loadLearnedOptimizer(a.theta, { expect: committedOptimizer() }).theta as ControlAdamTheta;
    const before = finalLosses(start);
    const after = finalLosses(end);
    disposeTree([start, end]);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean(after)).toBeLessThan(0.9 * mean(before));
    expect(after.filter((x, i) => x < (before[i] as number)).length).toBeGreaterThanOrEqual(5);
  }, 300_000);
});
