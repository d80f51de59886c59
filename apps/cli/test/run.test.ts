import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { deserializeTree, treeLeaves } from '@lopt/core';
import { loadLearnedOptimizer } from '@lopt/learned';
import { REPO_ROOT, runCli, tempDir } from './helpers.js';

const PLUGIN = join(REPO_ROOT, 'examples', 'plugin-example', 'index.js');

function metricsRows(dir: string): Record<string, number>[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
}

function thetaValues(file: string): { step: number; values: number[][] } {
  const { lopt, theta, extra } = loadLearnedOptimizer(new Uint8Array(readFileSync(file)));
  expect(lopt.name).toBe('adafacMlpLOpt');
  const values = treeLeaves(theta).map((t) => Array.from(t.dataSync()));
  tf.dispose(treeLeaves(theta));
  return { step: Number(extra.step), values };
}

function checkpointStep(file: string): number {
  const { tree, metadata } = deserializeTree(new Uint8Array(readFileSync(file)), { kind: 'meta-train' });
  tf.dispose(treeLeaves(tree));
  return Number(metadata.extra.step);
}

/** The data a plot embeds (`<metadata id="lopt-data">`). */
function svgData(file: string): { id: string; data: Record<string, number | string>[] } {
  const m = /<metadata id="lopt-data"><!\[CDATA\[(.*?)\]\]><\/metadata>/s.exec(readFileSync(file, 'utf8'));
  expect(m, `${file} embeds its data`).not.toBeNull();
  return JSON.parse((m as RegExpExecArray)[1] as string) as { id: string; data: Record<string, number | string>[] };
}

/** Width and height of a PNG from its IHDR chunk. */
function pngSize(file: string): { width: number; height: number } {
  const b = readFileSync(file);
  expect(b.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

// Child processes: generous timeouts for loaded CI machines (a quiet 2-core machine needs a fraction).
const TIMEOUT = 300_000;

describe.concurrent('lopt meta-train on the tiny preset, end to end', () => {
  const root = tempDir('lopt-cli-run-');
  const out = join(root, 'full');
  let fullRun: ReturnType<typeof runCli> | undefined;
  /** The uninterrupted tiny run, shared by the tests that need it (started once). */
  const full = () => (fullRun ??= runCli(['meta-train', '--preset', 'tiny', '--out', out]));

  it('writes the run directory, evaluates against a tuned Adam and reports', { timeout: TIMEOUT }, async () => {
    const run = await full();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr.split('\n')[0]).toMatch(/^lopt meta-train · backend: wasm \(set by LOPT_BACKEND: WASM backend\)/);

    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { config: { name: string; steps: number; learnedOptimizer: { name: string } }; source: string; backend: string };
    expect(config.config).toMatchObject({ name: 'tiny', steps: 6, learnedOptimizer: { name: 'adafacMlpLOpt' } });
    expect(config.source).toBe('preset:tiny');
    expect(config.backend).toBe('wasm');

    const rows = metricsRows(out);
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const r of rows) {
      expect(Number.isFinite(r.metaLoss)).toBe(true);
      expect(r.gradNorm).toBeGreaterThan(0);
    }
    expect(thetaValues(join(out, 'theta.safetensors')).step).toBe(6);
    expect(checkpointStep(join(out, 'meta-train.safetensors'))).toBe(6);

    // Checkpoint selection (validation every 2 steps): scores at 2, 4, 6; best.safetensors is
    // the theta of the lowest one (its logged decay offsets match), and it is what was evaluated.
    expect(rows.filter((r) => 'validationLoss' in r).map((r) => r.step)).toEqual([2, 4, 6]);
    const validated = rows.filter((r) => 'validationLoss' in r);
    for (const r of validated) expect(Number.isFinite(r.validationLoss)).toBe(true);
    const bestRow = validated.reduce((a, r) => ((r.validationLoss as number) < (a.validationLoss as number) ? r : a));
    const best = loadLearnedOptimizer(new Uint8Array(readFileSync(join(out, 'best.safetensors'))));
    expect(Number(best.extra.step)).toBe(bestRow.step);
    expect(best.extra.validationLoss).toBe(bestRow.validationLoss);
    const decays = Array.from((best.theta as unknown as { momentum_decays: tf.Tensor }).momentum_decays.dataSync());
    expect(decays).toEqual([0, 1, 2].map((j) => bestRow[`theta/momentum_decays[${j}]`]));
    tf.dispose(treeLeaves(best.theta));
    expect(run.stderr).toMatch(new RegExp(`evaluating best\\.safetensors: outer step ${bestRow.step}, `));

    // Summary: the tuned Adam first (the reference), then the meta-trained optimizer, then the preset's extra baseline.
    const summary = JSON.parse(readFileSync(join(out, 'eval', 'summary.json'), 'utf8')) as { rows: { label: string; finalTrainMean: number; cells: string[] }[]; reference: string; tuning: { trials: unknown[]; best: number } };
    expect(summary.rows.map((r) => r.label)).toEqual([expect.stringMatching(/^adam\(learningRate=.*\) \[tuned\]$/), expect.stringMatching(/^learned:full\/best\.safetensors$/), 'adam(learningRate=0.01)']);
    expect(summary.reference).toBe(summary.rows[0]?.label);
    expect(summary.tuning.trials).toHaveLength(3);
    expect(summary.tuning.best).toBeGreaterThanOrEqual(1e-3);
    expect(summary.tuning.best).toBeLessThanOrEqual(1e-1);
    // The tuned Adam is the trial with the lowest mean final loss on the tuning tasks, and the
    // evaluated reference runs at that learning rate (label rounded to 4 significant digits).
    const trials = summary.tuning.trials as { learningRate: number; meanFinalTrainLoss: number }[];
    for (const t of trials) {
      expect(t.learningRate).toBeGreaterThanOrEqual(1e-3);
      expect(t.learningRate).toBeLessThanOrEqual(1e-1);
      expect(Number.isFinite(t.meanFinalTrainLoss)).toBe(true);
    }
    const bestTrial = trials.reduce((a, t) => (t.meanFinalTrainLoss < a.meanFinalTrainLoss ? t : a));
    expect(summary.tuning.best).toBe(bestTrial.learningRate);
    expect(new Set(trials.map((t) => t.learningRate)).size).toBe(3);
    const tunedRate = Number(/^adam\(learningRate=([^)]+)\) \[tuned\]$/.exec(summary.rows[0]?.label as string)?.[1]);
    expect(Math.abs(tunedRate - bestTrial.learningRate) / bestTrial.learningRate).toBeLessThan(1e-3);
    expect(run.stderr).toContain(`tuned adam: learningRate=${bestTrial.learningRate.toExponential(3)} (best of 3 log-uniform trials in [0.001, 0.1]`);
    expect(run.stdout).toMatch(/optimizer\s+final train loss\s+final valid loss\s+steps to [\d.e-]+\s+train - ref \(paired\)\s+valid - ref \(paired\)\s+ms\/step/);
    for (const r of summary.rows) expect(run.stdout).toContain(r.cells[1]);

    // Report: HTML with the table, every plot inline; SVGs carry the plotted data; PNGs at 2x.
    const html = readFileSync(join(out, 'report', 'index.html'), 'utf8');
    expect(html).toContain('<table>');
    expect(html).toContain(summary.rows[1]?.cells[1] as string);
    // meta-loss, validation, theta (scalar meta-parameters), eval-train, step-size; quadratics have no held-out split.
    expect(html.match(/<svg/g)?.length).toBe(5);
    expect(svgData(join(out, 'report', 'validation.svg')).data).toEqual(validated.map((r) => ({ step: r.step, validationLoss: r.validationLoss })));
    expect(html).toContain('"name": "adafacMlpLOpt"');
    const meta = svgData(join(out, 'report', 'meta-loss.svg'));
    expect(meta.data.map((d) => d.metaLoss)).toEqual(rows.map((r) => r.metaLoss));
    const curves = JSON.parse(readFileSync(join(out, 'eval', 'curves.json'), 'utf8')) as { optimizers: { label: string; runs: { curve: { step: number; trainLoss: number }[] }[] }[] };
    // Paired columns: recomputed here from the per-task final losses in curves.json.
    const finals = curves.optimizers.map((o) => o.runs.map((r) => r.curve[r.curve.length - 1]?.trainLoss as number));
    expect(curves.optimizers.map((o) => o.label)).toEqual(summary.rows.map((r) => r.label));
    for (const [i, f] of finals.entries()) {
      expect(f.length).toBeGreaterThanOrEqual(2);
      expect(f.every((x) => Number.isFinite(x) && x > 0)).toBe(true); // per-task losses finite
      expect(summary.rows[i]?.finalTrainMean).toBeCloseTo(f.reduce((a, b) => a + b, 0) / f.length, 12);
    }
    const pairedRows = summary.rows as unknown as { trainVsReference: { meanDiff: number; stdErr: number; lower: number; pairs: number } | null; validVsReference: unknown; cells: string[] }[];
    expect(pairedRows[0]?.trainVsReference).toBeNull();
    expect(pairedRows[0]?.cells[4]).toBe('-');
    for (const [i, row] of pairedRows.entries()) {
      if (i === 0) continue;
      const d = (finals[i] as number[]).map((f, j) => f - (finals[0] as number[])[j]!);
      const m = d.reduce((a, b) => a + b, 0) / d.length;
      const se = Math.sqrt(d.reduce((a, b) => a + (b - m) ** 2, 0) / (d.length - 1) / d.length);
      expect(row.trainVsReference?.meanDiff).toBeCloseTo(m, 12);
      expect(row.trainVsReference?.stdErr).toBeCloseTo(se, 12);
      expect(row.trainVsReference?.lower).toBe(d.filter((x) => x < 0).length);
      expect(row.trainVsReference?.pairs).toBe(d.length);
      expect(row.validVsReference).toBeNull(); // quadratics have no held-out split
      expect(row.cells[4]).toMatch(new RegExp(`\\(${d.filter((x) => x < 0).length}/${d.length} lower\\)$`));
    }
    const train = svgData(join(out, 'report', 'eval-train.svg'));
    for (const o of curves.optimizers) {
      const points = train.data.filter((d) => d.optimizer === o.label);
      expect(points.map((p) => p.step)).toEqual(o.runs[0]?.curve.map((c) => c.step));
      points.forEach((p, i) => {
        const values = o.runs.map((r) => r.curve[i]?.trainLoss as number);
        expect(p.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 10);
        expect(p.lo).toBe(Math.min(...values));
        expect(p.hi).toBe(Math.max(...values));
      });
    }
    // Each optimizer's mean curve is drawn as one line through all its points.
    const svg = readFileSync(join(out, 'report', 'eval-train.svg'), 'utf8');
    const lines = [...svg.matchAll(/<path[^>]*aria-roledescription="line mark"[^>]*d="([^"]+)"/g)].map((m) => (m[1] as string).split('L').length);
    expect(lines.length).toBe(curves.optimizers.length);
    for (const n of lines) expect(n).toBe(curves.optimizers[0]?.runs[0]?.curve.length);
    for (const id of ['meta-loss', 'validation', 'theta', 'eval-train', 'step-size']) {
      const svgText = readFileSync(join(out, 'report', `${id}.svg`), 'utf8');
      const w = Number(/<svg[^>]* width="(\d+)"/.exec(svgText)?.[1]);
      expect(pngSize(join(out, 'report', `${id}.png`)).width).toBe(2 * w);
    }

    // `lopt report` regenerates the same plots from the run directory alone.
    const again = await runCli(['report', out]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(join(out, 'report', 'index.html'));
    expect(svgData(join(out, 'report', 'meta-loss.svg')).data).toEqual(meta.data);
  });

  it('a resumed run continues exactly where the stopped one was (stop at 3, resume to 6)', { timeout: TIMEOUT }, async () => {
    const part = join(root, 'part');
    const first = await runCli(['meta-train', '--preset', 'tiny', '--steps', '3', '--no-eval', '--no-report', '--out', part]);
    expect(first.code, first.stderr).toBe(0);
    expect(metricsRows(part)).toHaveLength(3);
    const resumed = await runCli(['meta-train', '--resume', part, '--steps', '6', '--no-eval', '--no-report']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming from outer step 3 of 6/);
    expect((await full()).code).toBe(0);
    const rows = metricsRows(out);
    expect(metricsRows(part).map((r) => [r.step, r.metaLoss])).toEqual(rows.map((r) => [r.step, r.metaLoss]));
    expect(thetaValues(join(part, 'theta.safetensors'))).toEqual(thetaValues(join(out, 'theta.safetensors')));
    // Validation scores and the selected checkpoint survive the stop too.
    expect(metricsRows(part).map((r) => r.validationLoss)).toEqual(rows.map((r) => r.validationLoss));
    expect(thetaValues(join(part, 'best.safetensors'))).toEqual(thetaValues(join(out, 'best.safetensors')));
    expect((JSON.parse(readFileSync(join(part, 'config.json'), 'utf8')) as { config: { steps: number } }).config.steps).toBe(6);
  });

  it('Ctrl-C writes a checkpoint of the last finished step, exits 130, and --resume continues', { timeout: TIMEOUT }, async () => {
    const out = join(root, 'interrupted');
    let sent = false;
    const run = await runCli(['meta-train', '--preset', 'tiny', '--steps', '500', '--no-eval', '--no-report', '--out', out], {
      onSpawn: (child) => {
        const poll = setInterval(() => {
          const file = join(out, 'metrics.jsonl');
          if (!sent && existsSync(file) && readFileSync(file, 'utf8').split('\n').length > 3) {
            sent = true;
            child.kill('SIGINT');
          }
        }, 100);
        child.on('close', () => clearInterval(poll));
      },
    });
    expect(sent).toBe(true);
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toMatch(/Ctrl-C: finishing the current outer step/);
    expect(run.stderr).toMatch(new RegExp(`Continue with: lopt meta-train --resume ${out}`));
    const rows = metricsRows(out);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.length).toBeLessThan(500);
    // Nothing is lost: the checkpoint and theta are at the last logged step.
    expect(checkpointStep(join(out, 'meta-train.safetensors'))).toBe(rows.length);
    expect(thetaValues(join(out, 'theta.safetensors')).step).toBe(rows.length);
    const resumed = await runCli(['meta-train', '--resume', out, '--steps', String(rows.length + 1), '--no-eval', '--no-report']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(metricsRows(out).map((r) => r.step)).toEqual(Array.from({ length: rows.length + 1 }, (_, i) => i + 1));
  });

  it('refuses to overwrite a run directory that holds a checkpoint', { timeout: TIMEOUT }, async () => {
    const out = join(root, 'twice');
    const first = await runCli(['meta-train', '--preset', 'tiny', '--steps', '1', '--no-eval', '--no-report', '--out', out]);
    expect(first.code, first.stderr).toBe(0);
    const second = await runCli(['meta-train', '--preset', 'tiny', '--steps', '1', '--no-eval', '--no-report', '--out', out]);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/already holds a meta-training checkpoint\. Continue it with --resume/);
  });
});

describe.concurrent('plugins, list, backends, bench', () => {
  const root = tempDir('lopt-cli-misc-');

  it('--plugin registers a task family usable by list and eval', { timeout: TIMEOUT }, async () => {
    const [listed, evaluated] = await Promise.all([
      runCli(['list', 'task-family', '--plugin', PLUGIN]),
      runCli(['eval', '--plugin', PLUGIN, '--task', 'linearRegressionFamily:maxDim=8', '--optimizer', 'adam', '--optimizer', 'sgd:learningRate=0.05', '--steps', '40', '--seeds', '2', '--no-report', '--out', join(root, 'plugin-eval')]),
    ]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/linearRegressionFamily\s+linear regression with sampled dimension/);
    expect(listed.stdout).toMatch(/fixedDimQuadraticFamily/);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.stderr).toMatch(/registered task\/linearRegressionTask, task-family\/linearRegressionFamily/);
    const summary = JSON.parse(readFileSync(join(root, 'plugin-eval', 'eval', 'summary.json'), 'utf8')) as { rows: { label: string; finalTrainMean: number; finalValidMean: number }[] };
    expect(summary.rows.map((r) => r.label)).toEqual(['adam', 'sgd(learningRate=0.05)']);
    // The task learns: SGD at 0.05 fits the regression far below its initial loss (~|w*|^2 + b*^2 ~ dim).
    expect(summary.rows[1]?.finalTrainMean).toBeLessThan(0.5);
    expect(summary.rows[1]?.finalValidMean).toBeLessThan(0.5);
  });

  it('a config lists plugins (paths relative to the config file) and meta-trains on their task family', { timeout: TIMEOUT }, async () => {
    const dir = join(root, 'config-plugin');
    mkdirSync(dir, { recursive: true });
    const config = {
      name: 'plugin-run',
      learnedOptimizer: { name: 'learnableSgd' },
      taskFamily: { name: 'linearRegressionFamily', options: { maxDim: 6 } },
      truncatedStep: { numTasks: 2, truncation: { kind: 'constant', length: 8 } },
      estimators: [{ name: 'truncatedPES', options: { unrollLength: 4, std: 0.01 } }],
      steps: 2,
      checkpointEvery: 1,
      plugins: [relative(dir, PLUGIN)],
    };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    // Plugins named by a config are code: they run only with --allow-plugins.
    const run = await runCli(['--allow-plugins', 'meta-train', '--config', join(dir, 'config.json'), '--out', join(dir, 'run'), '--no-report']);
    expect(run.code, run.stderr).toBe(0);
    expect(metricsRows(join(dir, 'run')).map((r) => r.step)).toEqual([1, 2]);
  });

  it('the first line says which backend runs and why', { timeout: TIMEOUT }, async () => {
    const [flag, env] = await Promise.all([runCli(['--backend', 'cpu', 'list', 'estimator']), runCli(['list', 'estimator'], { env: { LOPT_BACKEND: 'cpu' } })]);
    expect(flag.code).toBe(0);
    expect(flag.stderr.split('\n')[0]).toBe('lopt list · backend: cpu (requested: plain JS CPU backend)');
    expect(env.stderr.split('\n')[0]).toBe('lopt list · backend: cpu (set by LOPT_BACKEND: plain JS CPU backend)');
    expect(flag.stdout).toMatch(/truncatedPES\s+Persistent evolution strategies/);
  });

  it('bench runs bench scripts and prints one table of the ratios in their JSON', { timeout: TIMEOUT }, async () => {
    const ws = join(root, 'ws');
    mkdirSync(join(ws, 'packages', 'fast', 'bench-results'), { recursive: true });
    mkdirSync(join(ws, 'packages', 'slow'), { recursive: true });
    writeFileSync(join(ws, 'pnpm-workspace.yaml'), 'packages:\n  - packages/*\n');
    writeFileSync(join(ws, 'packages', 'fast', 'package.json'), JSON.stringify({ name: '@x/fast', scripts: { bench: 'node -e "0"' } }));
    writeFileSync(
      join(ws, 'packages', 'fast', 'bench-results', 'adam.json'),
      JSON.stringify({ backend: 'wasm', results: [{ optimizer: 'adam', params: 65536, nsPerParam: 3.1, ratioToTfjs: 0.93 }, { optimizer: 'sgd', params: 65536, ratioToTfjs: 1.25 }] }),
    );
    const script = "require('fs').mkdirSync('bench-results',{recursive:true});require('fs').writeFileSync('bench-results/s.json',JSON.stringify({name:'step',speedupVsCpu:12.5}))";
    writeFileSync(join(ws, 'packages', 'slow', 'package.json'), JSON.stringify({ name: '@x/slow', scripts: { bench: `node -e "${script}"` } }));
    const [readOnly, ran, none] = await Promise.all([
      runCli(['bench', '--no-run', '--root', ws, '--filter', 'fast']),
      runCli(['bench', '--root', ws, '--filter', 'slow', '--json']),
      runCli(['bench', '--no-run', '--root', ws, '--filter', 'nothing']),
    ]);
    expect(readOnly.code, readOnly.stderr).toBe(0);
    expect(readOnly.stdout).toMatch(/@x\/fast\s+adam\.json\s+backend=wasm optimizer=adam params=65536\s+ratioToTfjs\s+0\.93/);
    expect(readOnly.stdout).toMatch(/backend=wasm optimizer=sgd params=65536\s+ratioToTfjs\s+1\.25/);
    expect(readOnly.stdout).not.toMatch(/nsPerParam/);
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout)).toEqual([{ package: '@x/slow', file: 's.json', context: 'name=step', metric: 'speedupVsCpu', value: 12.5 }]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/No package matching 'nothing'/);
  });
});
