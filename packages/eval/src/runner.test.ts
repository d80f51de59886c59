import { describe, expect, it } from 'vitest';
import { key } from '@lopt/core';
import { adam, sgd } from '@lopt/optimizers';
import { logisticRegressionTask, quadraticTask } from '@lopt/tasks';
import type { HalvingTrial } from './halving.js';
import { memoryCache, type RunCache } from './cache.js';
import { serialExecutor } from './executor.js';
import { baselineResolver } from './run.js';
import { runSuite, type SuiteRow } from './runner.js';
import { summarizeSuite } from './summary.js';
import type { Suite } from './suite.js';
import { trainOnTask } from './train.js';

const SUITE: Suite = {
  name: 'test-v1',
  description: 'two small tasks',
  seeds: [0, 1],
  tuningSeeds: [5],
  evalBatches: 1,
  tasks: [
    { id: 'quad', task: 'quadraticTask', options: { dim: 4 }, steps: 20, evalEvery: 5 },
    { id: 'logreg', task: 'logisticRegressionTask', options: { dim: 5, batchSize: 16 }, steps: 20, evalEvery: 5 },
  ],
};
const LRS = [0.001, 0.05];
const spaces = { adam: { learningRate: { grid: LRS } } };
/** Rows without their timings (wall-clock times differ between runs). */
const untimed = (rows: readonly SuiteRow[]) => rows.map((r) => ({ ...r, runs: Object.fromEntries(Object.entries(r.runs).map(([id, runs]) => [id, runs.map(({ curve, finalTrainLoss, finalValidLoss, diverged, steps }) => ({ curve, finalTrainLoss, finalValidLoss, diverged, steps }))])) }));
const resolver = (ref: Parameters<typeof baselineResolver>[0], n: number) => (ref.spec === 'sgd' ? sgd({ learningRate: 0.01 }) : baselineResolver(ref, n));

describe('runSuite', () => {
  it('tunes on the tuning seed, runs tuned Adam as its own reference, and caches every run', async () => {
    const cache = memoryCache();
    const options = {
      candidates: [{ label: 'adam', id: 'tuned-adam', tuned: 'adam' }, { label: 'sgd', id: 'sgd-0.01', spec: 'sgd' }],
      baselines: ['adam'],
      spaces,
      cache,
      executor: serialExecutor(resolver),
    };
    const result = await runSuite(SUITE, options);
    // Independent tuning: train each learning rate on the tuning seed and take the lowest final loss.
    const tasks = { quad: quadraticTask({ dim: 4 }), logreg: logisticRegressionTask({ dim: 5, batchSize: 16 }) };
    for (const [id, task] of Object.entries(tasks)) {
      const finals = LRS.map((lr) => trainOnTask(task, adam({ learningRate: lr }), { steps: 20, key: key(5), evalEvery: 5 }).finalTrainLoss);
      expect(result.tuning.adam?.[id]?.best).toEqual({ learningRate: LRS[finals.indexOf(Math.min(...finals))] });
      expect(result.tuning.adam?.[id]?.trials.map((t) => t.score)).toEqual(finals);
    }
    expect(result.rows.map((r) => r.label)).toEqual(['adam [tuned]', 'adam', 'sgd']);
    expect(untimed(result.rows)[1]?.runs).toEqual(untimed(result.rows)[0]?.runs);
    // 2 tasks x 2 lrs x 1 tuning seed + 3 rows x 2 tasks x 2 seeds, of which the candidate 'adam' rows hit the cache.
    expect([result.computed, result.cached]).toEqual([4 + 8, 4]);
    const sgdFinal = trainOnTask(tasks.quad, sgd({ learningRate: 0.01 }), { steps: 20, key: key(1), evalEvery: 5 }).finalTrainLoss;
    expect(result.rows[2]?.runs.quad?.[1]?.finalTrainLoss).toBe(sgdFinal);

    const summary = summarizeSuite(result, { key: key(0), replicates: 100 });
    const self = summary.rows[1]!;
    for (const id of ['quad', 'logreg']) {
      expect(self.cells[id]?.normalized).toBe(1);
      expect(self.cells[id]?.speedup.speedup).toBe(1);
      expect(self.cells[id]?.paired.meanDiff).toBe(0);
    }
    expect([self.iqm.low, self.iqm.estimate, self.iqm.high]).toEqual([1, 1, 1]);
    expect(self.wins).toBe(0);
    expect(self.profileScore).toBe(summary.rows[0]?.profileScore);

    // Rerun: everything from the cache, identical results.
    const again = await runSuite(SUITE, options);
    expect([again.computed, again.cached]).toEqual([0, 16]);
    expect(again.rows).toEqual(result.rows);
  });

  it('recomputes a corrupt cache entry instead of trusting it', async () => {
    const store = memoryCache();
    const keys: string[] = [];
    const cache: RunCache = { get: (k) => store.get(k), set: (k, t) => { keys.push(k); store.set(k, t); } };
    const options = { candidates: [], baselines: ['adam'], spaces, cache };
    const first = await runSuite(SUITE, options);
    store.set(keys[0]!, '{"format":"lopt-eval-run","version":1,"key":"x"');
    store.set(keys[5]!, store.get(keys[5]!)!.replace(/"finalTrainLoss":[^,]+/, '"finalTrainLoss":"oops"'));
    const corrupt: string[] = [];
    const second = await runSuite(SUITE, { ...options, onCorrupt: (k) => corrupt.push(k) });
    expect(corrupt).toEqual([keys[0], keys[5]]);
    expect([second.computed, second.cached]).toEqual([2, first.computed - 2]);
    expect(untimed(second.rows)).toEqual(untimed(first.rows));
    expect(second.tuning).toEqual(first.tuning);
  });

  it('tunes by random search with successive halving: short runs first, cached, the best at full steps chosen', async () => {
    const cache = memoryCache();
    const suite: Suite = { ...SUITE, tasks: [{ id: 'quad', task: 'quadraticTask', options: { dim: 4 }, steps: 18, evalEvery: 3 }] };
    const search = { method: 'halving' as const, trials: 6, key: key(7), eta: 3, minFraction: 1 / 9 };
    const options = { candidates: [], baselines: ['adam'], spaces: { adam: { learningRate: { low: 1e-3, high: 0.3 } } }, cache, search };
    const result = await runSuite(suite, options);
    const tuning = result.tuning.adam?.quad as { trials: HalvingTrial[]; best: unknown } | undefined;
    // rungs 2, 6, 18 steps: 6 trials, then 2, then 1 (ceil(6/3) = 2, ceil(2/3) = 1)
    expect(tuning?.trials.map((t) => t.budget).sort((a, b) => a - b)).toEqual([2, 2, 2, 2, 6, 18]);
    const finalist = tuning?.trials.find((t) => t.budget === 18);
    expect(tuning?.best).toEqual(finalist?.hyperparams);
    // The finalist's score is its independently trained full-length run on the tuning seed.
    const lr = finalist?.hyperparams.learningRate as number;
    expect(finalist?.score).toBe(trainOnTask(quadraticTask({ dim: 4 }), adam({ learningRate: lr }), { steps: 18, key: key(5), evalEvery: 3 }).finalTrainLoss);
    // Among the six, the two promoted to 6 steps had the lowest 2-step scores.
    const at2 = [...(tuning?.trials ?? [])].sort((a, b) => (a.rungScores[0] as number) - (b.rungScores[0] as number));
    expect(at2.slice(0, 2).every((t) => t.budget >= 6)).toBe(true);
    // 9 tuning runs + 2 evaluation runs; a rerun reads them all from the cache.
    expect(result.computed).toBe(6 + 2 + 1 + 2);
    const again = await runSuite(suite, options);
    expect([again.computed, again.tuning]).toEqual([0, result.tuning]);
  });

  it('tunes a tunable candidate like a baseline: its row trains the best of its grid, chosen on the tuning seed', async () => {
    const cache = memoryCache();
    const grid = [0.002, 0.02, 0.2];
    // The candidate is SGD whose learning rate travels in its spec text, as a CLI spec would.
    const sgdAt = (ref: Parameters<typeof baselineResolver>[0], n: number) => (ref.spec?.startsWith('sgd@') ? sgd({ learningRate: Number(ref.spec.slice(4)) }) : baselineResolver(ref, n));
    const tunable = { label: 'sgd [tuned lr]', space: { learningRate: { grid } }, trial: (hp: Readonly<Record<string, number>>) => ({ label: 'sgd', id: `spec:sgd@${hp.learningRate}`, spec: `sgd@${hp.learningRate}` }) };
    const options = { candidates: [], tunables: [tunable], baselines: ['adam'], spaces, cache, executor: serialExecutor(sgdAt) };
    const result = await runSuite(SUITE, options);
    const tasks = { quad: quadraticTask({ dim: 4 }), logreg: logisticRegressionTask({ dim: 5, batchSize: 16 }) };
    for (const [id, task] of Object.entries(tasks)) {
      // Independently: each grid point on the tuning seed, the lowest final loss wins, and the row trains it on the evaluation seeds.
      const finals = grid.map((lr) => trainOnTask(task, sgd({ learningRate: lr }), { steps: 20, key: key(5), evalEvery: 5 }).finalTrainLoss);
      const best = grid[finals.indexOf(Math.min(...finals))] as number;
      expect(result.tuning['sgd [tuned lr]']?.[id]?.trials.map((t) => t.score)).toEqual(finals);
      expect(result.tuning['sgd [tuned lr]']?.[id]?.best).toEqual({ learningRate: best });
      const row = result.rows.find((r) => r.label === 'sgd [tuned lr]');
      expect(row?.baseline).toBeNull();
      expect(row?.runs[id]?.map((r) => r.finalTrainLoss)).toEqual([0, 1].map((seed) => trainOnTask(task, sgd({ learningRate: best }), { steps: 20, key: key(seed), evalEvery: 5 }).finalTrainLoss));
    }
    expect(result.rows.map((r) => r.label)).toEqual(['adam [tuned]', 'sgd [tuned lr]']);
    // Tuning: 2 tasks x (2 adam + 3 sgd) lrs; evaluation: 2 rows x 2 tasks x 2 seeds (a tuned sgd run on seed 0/1 is new).
    expect([result.computed, result.cached]).toEqual([10 + 8, 0]);
    const again = await runSuite(SUITE, options);
    expect([again.computed, again.cached, again.tuning]).toEqual([0, 18, result.tuning]);
  });

  it('rejects tunables without a label, with a clashing label or an empty space, naming the option', async () => {
    const trial = () => ({ label: 'x', id: 'spec:x' });
    const run = (tunables: unknown) => runSuite(SUITE, { candidates: [{ label: 'mine', id: 'spec:mine', spec: 'mine' }], baselines: ['adam'], spaces, tunables: tunables as never });
    await expect(run({})).rejects.toThrow(/'tunables' must be an array/);
    await expect(run([{ label: '', space: { learningRate: { grid: [1] } }, trial }])).rejects.toThrow(/'tunables\[0\]' must be/);
    await expect(run([{ label: 'adam', space: { learningRate: { grid: [1] } }, trial }])).rejects.toThrow(/tunables\[0\]\.label' \(adam\)/);
    await expect(run([{ label: 'mine', space: { learningRate: { grid: [1] } }, trial }])).rejects.toThrow(/tunables\[0\]\.label' \(mine\)/);
    await expect(run([{ label: 'ok', space: { learningRate: { grid: [1] } }, trial }, { label: 'ok', space: { learningRate: { grid: [1] } }, trial }])).rejects.toThrow(/tunables\[1\]\.label/);
    await expect(run([{ label: 'ok', space: {}, trial }])).rejects.toThrow(/tunables\[0\]\.space': .*empty/);
  });

  it('rejects a reference outside the baselines and unknown baselines', async () => {
    await expect(runSuite(SUITE, { candidates: [], baselines: ['sgdm'] })).rejects.toThrow(/reference/);
    await expect(runSuite(SUITE, { candidates: [], baselines: ['adam', 'lbfgs'] })).rejects.toThrow(/lbfgs/);
    await expect(runSuite(SUITE, { candidates: [], baselines: ['adam'], spaces: { adam: { learningRate: { grid: [-1] } } } })).rejects.toThrow(/learningRate.grid\[0\]/);
  });
});
