// Issue 14, "From fault injection and bad input": each case reproduces one finding.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { deserializeTree, key, serializeTree, treeLeaves } from '@lopt/core';
import { adafacMlpLOpt, saveLearnedOptimizer } from '@lopt/learned';
import { CLI_DIR, errorParagraph, runCli, tempDir, type CliRun } from './helpers.js';

const TIMEOUT = 300_000;
const FIXTURES = join(CLI_DIR, 'test', 'fixtures');
const EXPLODING = join(FIXTURES, 'exploding-plugin.js');

function expectBadInput(run: CliRun, problem: RegExp): void {
  const { text, hasStack } = errorParagraph(run);
  expect(run.code, run.stderr).toBe(2);
  expect(text).toMatch(problem);
  expect(hasStack).toBe(false);
}

function metricsRows(dir: string): Record<string, number>[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
}

/** A meta-train config on a family (of the exploding fixture plugin, or a built-in one). */
function config(family: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'faults',
    learnedOptimizer: { name: 'adafacMlpLOpt' },
    taskFamily: { name: family, options: family === 'fixedDimQuadraticFamily' ? { dim: 4 } : {} },
    truncatedStep: { numTasks: 2, truncation: { kind: 'constant', length: 8 } },
    estimators: [{ name: 'truncatedPES', options: { unrollLength: 4, std: 0.01 } }],
    steps: 4,
    checkpointEvery: 2,
    ...extra,
  };
}

/** Rewrites a checkpoint with edited tensors or metadata and a recomputed (valid) hash. */
function tamper(file: string, edit: (leaves: tf.Tensor[], extra: Record<string, unknown>) => tf.Tensor[]): void {
  const { tree, metadata } = deserializeTree(new Uint8Array(readFileSync(file)));
  const leaves = treeLeaves(tree);
  const extra = { ...metadata.extra };
  const edited = edit(leaves, extra);
  writeFileSync(file, serializeTree(edited, { kind: metadata.kind, name: metadata.name, config: metadata.config, extra }));
  tf.dispose([...leaves, ...edited]);
}

const root = tempDir('lopt-cli-faults-');
const write = (name: string, value: unknown): string => {
  const path = join(root, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
};
const evalArgs = (out: string) => ['eval', '--task', 'quadraticTask:dim=4', '--steps', '3', '--seeds', '1', '--no-report', '--out', join(root, out)];

describe.concurrent('item 1: huge but finite meta-losses', () => {
  it('without clipping, meta-training stops with a message naming the overflowed state (exit 2), not "done"', { timeout: TIMEOUT }, async () => {
    const run = await runCli(['--plugin', EXPLODING, 'meta-train', '--config', write('explode.json', config('zzExplodingFamily')), '--out', join(root, 'explode'), '--no-report']);
    expectBadInput(run, /Meta-training stopped at outer step 1: 'outer\.state\..+' became NaN or Infinity .*squares overflow float32.*clipGradNorm/);
    expect(run.stderr).not.toMatch(/meta-training done/);
  });

  it('with clipGradNorm, every step is counted as overflow, warned about, and theta keeps changing', { timeout: TIMEOUT }, async () => {
    const out = join(root, 'explode-clipped');
    const run = await runCli(['--plugin', EXPLODING, 'meta-train', '--config', write('explode-clip.json', config('zzExplodingFamily', { metaTrain: { clipGradNorm: 10 } })), '--out', out, '--no-report']);
    expect(run.code, run.stderr).toBe(0);
    const rows = metricsRows(out);
    expect(rows.map((r) => r.overflowSteps)).toEqual([1, 2, 3, 4]);
    expect(rows.every((r) => r.clipped === 1 && typeof r.gradNorm === 'number' && (r.gradNorm as number) ** 2 > 3.4e38)).toBe(true);
    const theta = rows.map((r) => JSON.stringify(Object.entries(r).filter(([k]) => k.startsWith('theta/'))));
    for (let i = 1; i < theta.length; i++) expect(theta[i]).not.toBe(theta[i - 1]);
    expect(run.stderr).toMatch(/warning: outer step 1: the meta-gradient was so large that its squares overflow float32/);
    expect(run.stderr).toMatch(/warning: in 4 of 4 outer steps the meta-gradient was so large/);
  });

  it('the presets clip the meta-gradient by default', { timeout: TIMEOUT }, async () => {
    const out = join(root, 'preset');
    const run = await runCli(['meta-train', '--preset', 'tiny', '--steps', '1', '--out', out, '--no-eval', '--no-report']);
    expect(run.code, run.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { config: { metaTrain: { clipGradNorm?: number } } };
    expect(saved.config.metaTrain.clipGradNorm).toBe(1000);
  });
});

describe.concurrent('items 3, 7, 8: bad input exits 2 with a message naming it', () => {
  it('item 2: a 2 KB checkpoint claiming hiddenSize 20000 is refused at once, naming the field', { timeout: TIMEOUT }, async () => {
    const lopt = adafacMlpLOpt();
    const theta = lopt.init(key(0));
    const file = join(root, 'forged.safetensors');
    writeFileSync(file, saveLearnedOptimizer(lopt, theta));
    tf.dispose(treeLeaves(theta));
    const { tree, metadata } = deserializeTree(new Uint8Array(readFileSync(file)));
    writeFileSync(file, serializeTree(tree, { kind: metadata.kind, name: metadata.name, config: { ...metadata.config, hiddenSize: 20000 }, extra: metadata.extra }));
    tf.dispose(treeLeaves(tree));
    expect(readFileSync(file).length).toBeLessThan(4096);
    const run = await runCli([...evalArgs('forged'), '--optimizer', file]);
    expectBadInput(run, /Checkpoint .*forged\.safetensors: Checkpoint config of 'adafacMlpLOpt': 'hiddenSize' is 20000, but the largest tensor dimension in the file is 39/);
  });

  it('special files are not read: --config /dev/zero and --optimizer /dev/zero', { timeout: TIMEOUT }, async () => {
    const [cfg, opt] = await Promise.all([
      runCli(['meta-train', '--config', '/dev/zero', '--out', join(root, 'zero')]),
      runCli([...evalArgs('zero-opt'), '--optimizer', '/dev/zero']),
    ]);
    expectBadInput(cfg, /Cannot read the config file '\/dev\/zero': it is a device, not a regular file/);
    expectBadInput(opt, /Cannot read the checkpoint '\/dev\/zero': it is a device, not a regular file/);
  });

  it('deeply nested JSON in an option value and in a config', { timeout: TIMEOUT }, async () => {
    const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
    const nested = JSON.parse(`${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`) as unknown;
    const [opt, cfg] = await Promise.all([
      runCli([...evalArgs('deep-opt'), '--optimizer', `adam:learningRate=${deep}`]),
      runCli(['meta-train', '--config', write('deep.json', config('fixedDimQuadraticFamily', { metaTrain: { clipGradNorm: nested } })), '--out', join(root, 'deep')]),
    ]);
    expectBadInput(opt, /The option value \[\[\[.* nests deeper than 32 levels \(at '(\[0\])+'\)/);
    expectBadInput(cfg, /The config file '.*deep\.json' nests deeper than 32 levels \(at 'metaTrain\.clipGradNorm(\.a)+'\)/);
  });

  it('quadraticTask:dim=1e12, unknown task and guard options, and __proto__ keys', { timeout: TIMEOUT }, async () => {
    const [dim, task, guard, proto, protoJson] = await Promise.all([
      runCli(['eval', '--task', 'quadraticTask:dim=1e12', '--optimizer', 'adam', '--out', join(root, 'dim')]),
      runCli(['eval', '--task', 'quadraticTask:bogus=1', '--optimizer', 'adam', '--out', join(root, 'bogus')]),
      runCli(['eval', '--task', 'quadraticTask:dim=4', '--optimizer', 'guard:lossGuarded(adam, sgd, bogus=1)', '--steps', '3', '--seeds', '1', '--out', join(root, 'guard')]),
      runCli([...evalArgs('proto'), '--optimizer', 'adam:__proto__={"learningRate":5}']),
      runCli([...evalArgs('proto-json'), '--optimizer', 'adam:learningRate={"constructor":1}']),
    ]);
    expectBadInput(dim, /Task 'quadraticTask': Option 'dim' must be an integer >= 1 <= 1000000, got 1000000000000/);
    expectBadInput(task, /Task 'quadraticTask': quadraticTask: unknown option 'bogus'\. Known options: dim/);
    expectBadInput(guard, /lossGuarded: unknown option 'bogus'/);
    expectBadInput(proto, /The option name '__proto__' in the options of optimizer 'adam' is not allowed/);
    expectBadInput(protoJson, /has the key 'constructor', which is not allowed/);
  });

  it('a plugin whose factory returns garbage, and one whose registerAll never resolves', { timeout: TIMEOUT }, async () => {
    const [garbage, hanging] = await Promise.all([
      runCli(['--plugin', join(FIXTURES, 'garbage-plugin.js'), 'eval', '--task', 'zzGarbageTask', '--optimizer', 'adam', '--steps', '3', '--seeds', '1', '--out', join(root, 'garbage')]),
      runCli(['--plugin', join(FIXTURES, 'hanging-plugin.js'), '--plugin-timeout', '1', 'list', 'task']),
    ]);
    expectBadInput(garbage, /The factory registered as task 'zzGarbageTask' returned number, not a task \(one with functions init and loss\)/);
    expectBadInput(hanging, /Plugin '.*hanging-plugin\.js' did not finish loading within 1 s \(its import or registerAll\(\) never resolved\)/);
  });

  it('report on a directory whose curves.json is malformed', { timeout: TIMEOUT }, async () => {
    const dir = join(root, 'bad-curves');
    mkdirSync(join(dir, 'eval'), { recursive: true });
    writeFileSync(join(dir, 'eval', 'curves.json'), JSON.stringify({ target: { kind: 'task', name: 'x' }, steps: 3, seeds: 1, reference: null, tuning: null, optimizers: [{ label: 'adam', runs: 5 }], summary: [], header: [] }));
    const run = await runCli(['report', dir]);
    expectBadInput(run, /curves\.json is not an evaluation result written by lopt: field 'optimizers\[0\]\.runs' is invalid/);
  });

  it('config metaTrain options cannot override core fields, and unknown keys there are refused', { timeout: TIMEOUT }, async () => {
    const [steps, outer] = await Promise.all([
      runCli(['meta-train', '--config', write('mt-steps.json', config('fixedDimQuadraticFamily', { steps: 3, metaTrain: { steps: 7 } })), '--out', join(root, 'mt1')]),
      runCli(['meta-train', '--config', write('mt-outer.json', config('fixedDimQuadraticFamily', { metaTrain: { outerOptimizer: { name: 'sgd' } } })), '--out', join(root, 'mt2')]),
    ]);
    expectBadInput(steps, /unknown field 'metaTrain\.steps'; allowed fields there: clipGradNorm, nanLossValue/);
    expectBadInput(outer, /unknown field 'metaTrain\.outerOptimizer'; allowed fields there: clipGradNorm, nanLossValue/);
  });
});

describe.concurrent('items 4, 5, 9, 10: run directories, resume, plugins, warnings', () => {
  it('restarting before the first checkpoint starts the metrics over and removes stale temporary files', { timeout: TIMEOUT }, async () => {
    const out = join(root, 'restart');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'metrics.jsonl'), `${JSON.stringify({ step: 1, metaLoss: 1 })}\n${JSON.stringify({ step: 2, metaLoss: 1 })}\n`);
    writeFileSync(join(out, '.meta-train.safetensors.0123456789ab.tmp'), 'half a checkpoint');
    const run = await runCli(['meta-train', '--preset', 'tiny', '--out', out, '--no-eval', '--no-report']);
    expect(run.code, run.stderr).toBe(0);
    expect(metricsRows(out).map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(run.stderr).toMatch(/removed a temporary file a killed run left behind: .*\.meta-train\.safetensors\.0123456789ab\.tmp/);
    expect(run.stderr).toMatch(/restarting: removed metrics\.jsonl of an earlier attempt/);
  });

  it('resume refuses a checkpoint with NaN data, a step beyond the run or swapped tensors, naming the field', { timeout: TIMEOUT }, async () => {
    const dirs = ['resume-nan', 'resume-step', 'resume-swap'].map((d) => join(root, d));
    const runs = await Promise.all(dirs.map((out) => runCli(['meta-train', '--preset', 'tiny', '--steps', '2', '--out', out, '--no-eval', '--no-report'])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const [a, b, c] = dirs as [string, string, string];
    tamper(join(a, 'meta-train.safetensors'), (leaves) => leaves.map((t, i) => (i === 0 ? tf.fill(t.shape, NaN) : tf.clone(t))));
    tamper(join(b, 'meta-train.safetensors'), (leaves, extra) => {
      extra.step = 1e12;
      return leaves.map((t) => tf.clone(t));
    });
    tamper(join(c, 'meta-train.safetensors'), (leaves) => {
      const j = leaves.findIndex((t) => t.shape.join() !== (leaves[0] as tf.Tensor).shape.join());
      return leaves.map((t, i) => tf.clone(i === 0 ? (leaves[j] as tf.Tensor) : i === j ? (leaves[0] as tf.Tensor) : t));
    });
    const [nan, step, swap] = await Promise.all(dirs.map((out) => runCli(['meta-train', '--resume', out, '--steps', '4', '--no-eval', '--no-report'])));
    expectBadInput(nan as CliRun, /The meta-train checkpoint's 'outer\.[\w.]+' holds NaN or Infinity/);
    expectBadInput(step as CliRun, /The meta-train checkpoint's field 'step' must be an integer in \[0, 4\] \(the run has 4 outer steps\), got 1000000000000/);
    expectBadInput(swap as CliRun, /The meta-train checkpoint's '[\w.]+' is float32\[.*\], but this config needs float32\[/);
  });

  it('plugins named by a config run only with --allow-plugins, which lists their files', { timeout: TIMEOUT }, async () => {
    const cfg = write('plugins.json', config('zzExplodingFamily', { steps: 1, metaTrain: { clipGradNorm: 10 }, plugins: [EXPLODING] }));
    const [refused, allowed] = await Promise.all([
      runCli(['meta-train', '--config', cfg, '--out', join(root, 'plugins-refused'), '--no-report']),
      runCli(['--allow-plugins', 'meta-train', '--config', cfg, '--out', join(root, 'plugins-allowed'), '--no-report']),
    ]);
    expectBadInput(refused, /names plugins, which run code on this machine: .*exploding-plugin\.js.*--allow-plugins/);
    expect(existsSync(join(root, 'plugins-refused', 'config.json'))).toBe(false);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stderr).toMatch(/plugin files named by the config, which will run: .*exploding-plugin\.js/);
    // A run directory's config.json on --resume is gated the same way.
    const resumed = await runCli(['meta-train', '--resume', join(root, 'plugins-allowed'), '--steps', '2', '--no-report']);
    expectBadInput(resumed, /The config of run '.*plugins-allowed' \(config\.json\) names plugins/);
  });

  it('NaN meta-losses print a warning and the last meta-loss says it was replaced', { timeout: TIMEOUT }, async () => {
    const run = await runCli(['--plugin', EXPLODING, 'meta-train', '--config', write('nan.json', config('zzNanFamily')), '--out', join(root, 'nan'), '--no-report']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/warning: outer step 1: the meta-loss was NaN or infinite and counts as 20 \(nanLossValue\) \(1 step so far\)/);
    expect(run.stderr).toMatch(/warning: in 4 of 4 outer steps the meta-loss was NaN or infinite/);
    expect(run.stderr).toMatch(/last meta-loss 20 \(NaN\/Inf, replaced by nanLossValue\)/);
  });
});
