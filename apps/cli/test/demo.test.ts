import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatNumber } from '../src/stats.js';
import { expectBadInput, runCli, tempDir } from './helpers.js';

// `lopt demo --quick` end to end on a 20-step budget: the printed table against the written JSON,
// and the JSON against the runs in suite/result.json.
let dir: string;

interface DemoJson {
  suite: string;
  reference: string;
  tasks: { id: string; steps: number; adamLearningRate: number }[];
  seeds: number[];
  rows: { label: string; finalLoss: Record<string, number>; vsAdam: Record<string, number>; wins: number; heldOutLoss: Record<string, number>; heldOutWins: number }[];
  loadAverageStart: number[];
  loadAverageEnd: number[];
  computed: number;
}
interface ResultJson {
  tuning: Record<string, Record<string, { trials: { hyperparams: Record<string, number>; score: number }[]; best: Record<string, number> }>>;
  rows: { label: string; runs: Record<string, { finalTrainLoss: number; finalValidLoss: number }[]> }[];
}

/** Numbers as the CLI's tables print them. */
const fmt = (x: number | null) => formatNumber(x);

beforeAll(() => {
  dir = tempDir('lopt-cli-demo-');
});

describe('lopt demo', () => {
  it('--quick prints the table of demo/table.json, whose numbers are the seed means of suite/result.json; a rerun comes from the cache', async () => {
    const args = ['demo', '--quick', '--steps', '20', '--jobs', '1', '--cache', join(dir, 'cache'), '--no-report'];
    const first = await runCli([...args, '--out', join(dir, 'out1')]);
    expect(first.code, first.stderr).toBe(0);
    const table = JSON.parse(readFileSync(join(dir, 'out1', 'demo', 'table.json'), 'utf8')) as DemoJson;
    const result = JSON.parse(readFileSync(join(dir, 'out1', 'suite', 'result.json'), 'utf8')) as ResultJson;
    expect(table.suite).toBe('demo-v1-quick-20steps');
    expect(table.rows.map((r) => r.label)).toEqual(['adam [tuned]', 'adamw-cosine [tuned]', 'pretrained:lopt-small-v1', 'pretrained:celo', 'pretrained:celo-adam', 'pretrained:celo2', 'pretrained:celo2 [tuned]']);
    expect(table.tasks.map((t) => [t.id, t.steps])).toEqual([['mnist14-mlp128x64', 20], ['mnist28-mlp64x32', 20], ['mnist14-conv8x16', 20]]);
    expect(table.loadAverageStart).toHaveLength(3);
    // 3 tasks x (adam, adamw-cosine, celo2) x 3 grid points on the tuning seed + 7 rows x 3 tasks x 1 seed.
    expect(table.computed).toBe(27 + 21);

    const adam = table.rows[0]!;
    const average = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const row of table.rows) {
      const runs = result.rows.find((r) => r.label === row.label)!.runs;
      let wins = 0;
      let heldOutWins = 0;
      for (const t of table.tasks) {
        const mean = average(runs[t.id]!.map((r) => r.finalTrainLoss));
        expect(row.finalLoss[t.id]).toBeCloseTo(mean, 12);
        expect(row.vsAdam[t.id]).toBeCloseTo(mean / adam.finalLoss[t.id]!, 12);
        if (mean < adam.finalLoss[t.id]!) wins++;
        const heldOut = average(runs[t.id]!.map((r) => r.finalValidLoss));
        expect(row.heldOutLoss[t.id]).toBeCloseTo(heldOut, 12);
        if (heldOut < adam.heldOutLoss[t.id]!) heldOutWins++;
      }
      expect([row.wins, row.heldOutWins]).toEqual([wins, heldOutWins]);
      const heldOutLine = first.stdout.split('\n').filter((l) => l.startsWith(`${row.label}  `))[1];
      expect(heldOutLine?.split(/ {2,}/)).toEqual([row.label, ...table.tasks.map((t) => fmt(row.heldOutLoss[t.id]!)), row === adam ? '-' : `${heldOutWins}/3`]);
      // The printed line: label, per task `loss (ratio x)` (tuned Adam: `loss (lr ...)`), wins.
      const line = first.stdout.split('\n').filter((l) => l.startsWith(`${row.label}  `))[0];
      const cells = table.tasks.map((t) => (row === adam ? `${fmt(row.finalLoss[t.id]!)} (lr ${fmt(t.adamLearningRate)})` : `${fmt(row.finalLoss[t.id]!)} (${fmt(row.vsAdam[t.id]!)}x)`));
      expect(line?.split(/ {2,}/)).toEqual([row.label, ...cells, row === adam ? '-' : `${wins}/3`]);
    }
    // Tuned Celo2 trains the best of its grid on the tuning seed (lowest score), and tuned Adam's learning rate is the printed one.
    for (const t of table.tasks) {
      const tuning = result.tuning['pretrained:celo2 [tuned]']![t.id]!;
      expect(tuning.trials.map((x) => x.hyperparams.learningRate)).toEqual([0.001, 0.01, 0.1]);
      const best = tuning.trials.reduce((a, b) => (b.score < a.score ? b : a));
      expect(tuning.best).toEqual(best.hyperparams);
      expect(t.adamLearningRate).toBe(result.tuning.adam![t.id]!.best.learningRate);
    }

    const again = await runCli([...args, '--out', join(dir, 'out2')]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/0 runs trained, 48 from the cache/);
    const lines = (s: string) => s.split('\n').filter((l) => table.rows.some((r) => l.startsWith(`${r.label}  `)));
    expect(lines(again.stdout)).toEqual(lines(first.stdout));
    expect(existsSync(join(dir, 'out2', 'report'))).toBe(false);
  }, 240_000);

  it('refuses bad flags with exit code 2 and one clear line', async () => {
    const runs = await Promise.all([
      runCli(['demo', '--steps', '0']),
      runCli(['demo', '--jobs', 'two', '--out', join(dir, 'bad')]),
      runCli(['demo', '--preset', 'nope']),
      runCli(['demo', '--preset', 'tiny', '--quick', '--jobs', '2']),
      runCli(['demo', '--frobnicate']),
    ]);
    // Commander's own messages (--steps, unknown option) name the problem only.
    expectBadInput(runs[0]!, /--steps must be an integer in \[1, 100000\]/, /--steps/);
    expectBadInput(runs[1]!, /--jobs must be an integer in \[1, 256\], got 'two'/, /Use --jobs 1/);
    expectBadInput(runs[2]!, /Unknown preset 'nope'/, /Presets: quickstart, tiny/);
    expectBadInput(runs[3]!, /--preset meta-trains from scratch and does not take --quick, --jobs/, /Drop them/);
    expectBadInput(runs[4]!, /unknown option '--frobnicate'/, /--frobnicate/);
  }, 120_000);
});
