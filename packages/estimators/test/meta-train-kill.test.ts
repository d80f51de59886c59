// metaTrain killed with SIGKILL in another process, then resumed here, ends with exactly the
// theta of an uninterrupted run (atomic checkpoint writes: a kill never leaves a torn file).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { disposeTree, key, treeLeaves, type TensorTree } from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { metaTrain } from '../src/node.js';
import { killTestSetup } from './fixtures/kill-setup.js';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, '..');
const dir = mkdtempSync(join(tmpdir(), 'lopt-kill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const STEPS = 40;

const values = (t: TensorTree) => treeLeaves(t).flatMap((x) => Array.from(x.dataSync()));

describe('metaTrain after SIGKILL', () => {
  it('resumes from the last checkpoint and matches an uninterrupted run bit for bit', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'meta-train-child.ts'), dir, String(STEPS)], {
      cwd: pkg,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killedAt = await new Promise<number>((resolveStep, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const steps = [...out.matchAll(/step (\d+)/g)].map((m) => Number(m[1]));
        const last = steps[steps.length - 1] ?? 0;
        if (last >= 4) {
          child.kill('SIGKILL'); // possibly in the middle of the next step's checkpoint write
          resolveStep(last);
        }
      });
      child.on('exit', (code) => reject(new Error(`child exited (${code}) before it was killed: ${stderr.slice(-2000)}`)));
    });
    await new Promise((r) => child.once('close', r));
    expect(killedAt).toBeLessThan(STEPS);

    const run = (checkpoint?: { dir: string; every: number }) => {
      const { learnedOptimizer, estimators } = killTestSetup();
      return metaTrain({ learnedOptimizer, estimators, outerOptimizer: adam({ learningRate: 1e-2 }), steps: STEPS, key: key(21), ...(checkpoint ? { checkpoint } : {}) });
    };
    const resumed = await run({ dir, every: 1 });
    // The checkpoint of step k is written after onStep(k) (which printed "step k"), so a kill
    // seen at step k resumes from k or, when it hit before that write finished, from k - 1.
    expect(resumed.resumedFrom).toBeGreaterThanOrEqual(killedAt - 1);
    expect(resumed.resumedFrom).toBeLessThan(STEPS);
    const full = await run();
    console.log(`killed after step ${killedAt}; resumed from step ${resumed.resumedFrom}`);
    expect(values(resumed.theta)).toEqual(values(full.theta));
    disposeTree([resumed.theta, full.theta]);
  }, 120_000);
});
