import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { key } from '@lopt/core';
import { adafacMlpLOpt, learnableSgd, saveLearnedOptimizer } from '@lopt/learned';
import { errorParagraph, expectBadInput, runCli, tempDir } from './helpers.js';

let dir: string;
let goodCkpt: string;
let corruptCkpt: string;
let otherArchCkpt: string;

beforeAll(() => {
  dir = tempDir('lopt-cli-errors-');
  const lopt = adafacMlpLOpt();
  const theta = lopt.init(key(0));
  const bytes = saveLearnedOptimizer(lopt, theta);
  goodCkpt = join(dir, 'good.safetensors');
  writeFileSync(goodCkpt, bytes);
  const corrupted = bytes.slice();
  corrupted[corrupted.length - 3] = (corrupted[corrupted.length - 3] as number) ^ 0xff;
  corruptCkpt = join(dir, 'corrupt.safetensors');
  writeFileSync(corruptCkpt, corrupted);
  const sgd = learnableSgd();
  otherArchCkpt = join(dir, 'sgd.safetensors');
  writeFileSync(otherArchCkpt, saveLearnedOptimizer(sgd, sgd.init(key(0))));
  writeFileSync(join(dir, 'malformed.json'), '{ "steps": 3, ');
  writeFileSync(join(dir, 'a-file'), 'not a directory');
  mkdirSync(join(dir, 'not-a-run'));
});

const evalArgs = ['eval', '--task', 'quadraticTask:dim=4', '--steps', '3', '--seeds', '1', '--no-report'];

describe.concurrent('bad input exits with code 2 and one paragraph', () => {
  it('unknown optimizer name (suggests the closest)', async () => {
    const run = await runCli([...evalArgs, '--out', join(dir, 'o1'), '--optimizer', 'adamm']);
    expectBadInput(run, /No optimizer named 'adamm' is registered\. Did you mean 'adam'\?/, /lopt list/);
  });

  it('--debug shows the stack trace of the same error', async () => {
    const run = await runCli([...evalArgs, '--out', join(dir, 'o2'), '--optimizer', 'adamm', '--debug']);
    expect(run.code).toBe(2);
    expect(errorParagraph(run).hasStack).toBe(true);
  });

  it('unknown task', async () => {
    const run = await runCli(['eval', '--task', 'quadratik', '--optimizer', 'adam', '--out', join(dir, 'o3')]);
    expectBadInput(run, /No task or task family named 'quadratik' is registered/, /Tasks: .*quadraticTask.*Task families: .*fixedDimQuadraticFamily/);
  });

  it('out-of-range optimizer option', async () => {
    const run = await runCli([...evalArgs, '--out', join(dir, 'o4'), '--optimizer', 'adam:learningRate=-1']);
    expectBadInput(run, /Optimizer spec 'adam:learningRate=-1': .*'learningRate'.*got -1/, /Change the named option/);
  });

  it('malformed JSON config', async () => {
    const run = await runCli(['meta-train', '--config', join(dir, 'malformed.json'), '--out', join(dir, 'o5')]);
    expectBadInput(run, /is not valid JSON/, /Fix the JSON syntax/);
  });

  it('out-of-range config field and unknown component in a config', async () => {
    const tiny = { learnedOptimizer: { name: 'adafacMlpLOpt' }, taskFamily: { name: 'fixedDimQuadraticFamily', options: { dim: 4 } }, estimators: [{ name: 'truncatedPES', options: { unrollLength: 2, std: 0.01 } }] };
    writeFileSync(join(dir, 'range.json'), JSON.stringify({ ...tiny, steps: -1 }));
    writeFileSync(join(dir, 'name.json'), JSON.stringify({ ...tiny, steps: 2, taskFamily: { name: 'fixedDimQuadraticFamly' } }));
    writeFileSync(join(dir, 'option.json'), JSON.stringify({ ...tiny, steps: 2, learnedOptimizer: { name: 'adafacMlpLOpt', options: { hiddenSize: 0 } } }));
    const [range, name, option] = await Promise.all([
      runCli(['meta-train', '--config', join(dir, 'range.json'), '--out', join(dir, 'o6')]),
      runCli(['meta-train', '--config', join(dir, 'name.json'), '--out', join(dir, 'o7')]),
      runCli(['meta-train', '--config', join(dir, 'option.json'), '--out', join(dir, 'o8')]),
    ]);
    expectBadInput(range, /field 'steps' must be >= 1, got -1/, /Fix the named fields/);
    expectBadInput(name, /config field 'taskFamily': No task-family named 'fixedDimQuadraticFamly'.*Did you mean 'fixedDimQuadraticFamily'/, /lopt list/);
    expectBadInput(option, /config field 'learnedOptimizer': .*'hiddenSize'/, /Change the named option/);
  });

  it('missing checkpoint', async () => {
    const run = await runCli([...evalArgs, '--out', join(dir, 'o9'), '--optimizer', join(dir, 'nope', 'theta.safetensors')]);
    expectBadInput(run, /The checkpoint '.*nope\/theta\.safetensors' does not exist/, /theta\.safetensors or best\.safetensors of a meta-training run/);
  });

  it('corrupted checkpoint', async () => {
    const run = await runCli([...evalArgs, '--out', join(dir, 'o10'), '--optimizer', corruptCkpt]);
    expectBadInput(run, /corrupt\.safetensors.*sha256.*corrupted/, /not a valid lopt checkpoint/);
  });

  it('a valid checkpoint evaluates, bare and behind a guard (control for the two cases above)', async () => {
    const out = join(dir, 'o11');
    const run = await runCli([...evalArgs, '--out', out, '--optimizer', goodCkpt, '--optimizer', `guard:lossGuarded(${goodCkpt}, adam:learningRate=0.1)`]);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(out, 'eval', 'summary.json'), 'utf8')) as { rows: { label: string; finalTrainMean: number }[] };
    expect(summary.rows.map((r) => r.label)).toEqual([expect.stringMatching(/^learned:.*\/good\.safetensors$/), expect.stringMatching(/^lossGuarded\(learned:.*\/good\.safetensors, adam\(learningRate=0\.1\)\)$/)]);
    for (const r of summary.rows) expect(Number.isFinite(r.finalTrainMean)).toBe(true);
  });

  it('checkpoint of another architecture', async () => {
    const run = await runCli(['meta-train', '--preset', 'tiny', '--init-theta', otherArchCkpt, '--out', join(dir, 'o12')]);
    expectBadInput(run, /--init-theta .*sgd\.safetensors: Checkpoint was written by 'learnableSgd' but 'adafacMlpLOpt' was expected/, /checkpoint of the expected architecture/);
  });

  it('non-writable output directory', async () => {
    const run = await runCli([...evalArgs, '--optimizer', 'adam', '--out', join(dir, 'a-file', 'sub')]);
    expectBadInput(run, /Cannot write to the output directory '.*a-file\/sub'/, /Choose a writable directory with --out/);
  });

  it('bad backend in LOPT_BACKEND, bad numbers, missing arguments, bad kind, not a run directory', async () => {
    const [backend, steps, noOpt, kind, report, resume] = await Promise.all([
      runCli(['list', 'task'], { env: { LOPT_BACKEND: 'gpu' } }),
      runCli(['eval', '--task', 'quadraticTask', '--optimizer', 'adam', '--steps', 'ten']),
      runCli(['eval', '--task', 'quadraticTask']),
      runCli(['list', 'widgets']),
      runCli(['report', join(dir, 'not-a-run')]),
      runCli(['meta-train', '--resume', join(dir, 'missing-run')]),
    ]);
    expectBadInput(backend, /Option 'LOPT_BACKEND' must be one of 'auto', 'tensorflow', 'wasm', 'cpu', got 'gpu'/, /Change the named option/);
    expect(steps.code).toBe(2);
    expect(steps.stderr).toMatch(/--steps must be an integer/);
    expectBadInput(noOpt, /eval needs at least one --optimizer/, /Example: lopt eval/);
    expectBadInput(kind, /Unknown component kind 'widgets'/, /optimizer, learned-optimizer, task, task-family, estimator/);
    expectBadInput(report, /is not a run directory/, /lopt meta-train/);
    expectBadInput(resume, /The run directory '.*missing-run' does not exist/, /--resume/);
  });
});

describe('the checkpoints written above', () => {
  it('are real learned-optimizer checkpoints (the corrupted one differs in one byte)', () => {
    const a = readFileSync(goodCkpt);
    const b = readFileSync(corruptCkpt);
    expect(a.length).toBe(b.length);
    expect(a.filter((x, i) => x !== b[i]).length).toBe(1);
  });
});
