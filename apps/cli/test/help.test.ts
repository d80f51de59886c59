import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKEND_CHOICES } from '@lopt/backend';
import { BACKENDS } from '../src/main.js';
import { PRESETS } from '../src/presets.js';
import { CLI_DIR, runCli } from './helpers.js';

// Every command's --help runs (exit 0) and documents the options the README relies on.
const EXPECTED: Record<string, readonly string[]> = {
  '': ['demo', 'meta-train', 'eval', 'bench', 'list', 'report', '--backend', '--plugin', '--debug'],
  demo: ['--quick', '--steps', '--preset', '--jobs', '--cache', '--out', '--no-report', ...Object.keys(PRESETS)],
  'meta-train': ['--config', '--preset', '--resume', '--out', '--steps', '--init-theta', '--no-eval', '--no-report', ...Object.keys(PRESETS), 'Ctrl-C'],
  eval: ['--task', '--optimizer', '--steps', '--seeds', '--tune-baseline', '--tune-trials', '--out', 'guard:lossGuarded(<spec>, adam)', 'adam:learningRate=1e-3'],
  bench: ['--filter', '--no-run', '--root', '--json'],
  list: ['[kind]', 'task-family', '--json'],
  report: ['<run-dir>', 'self-contained HTML', 'PNG'],
};

describe('--help', () => {
  it.concurrent.each(Object.entries(EXPECTED))('lopt %s --help', async (command, words) => {
    const run = await runCli(command ? [command, '--help'] : ['--help']);
    expect(run.code).toBe(0);
    for (const w of words) expect(run.stdout).toContain(w);
    // Help answers without starting a backend.
    expect(run.stderr).toBe('');
  });

  it('prints the package version', async () => {
    const run = await runCli(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe((JSON.parse(readFileSync(join(CLI_DIR, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('rejects an unknown command and an unknown option with exit code 2', async () => {
    const [cmd, opt] = await Promise.all([runCli(['train']), runCli(['eval', '--task', 'quadraticTask', '--optimiser', 'adam'])]);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toMatch(/unknown command 'train'/);
    expect(opt.code).toBe(2);
    expect(opt.stderr).toMatch(/unknown option '--optimiser'[\s\S]*Did you mean --optimizer\?/);
  });

  it('offers the same backend choices as @lopt/backend', () => {
    expect([...BACKENDS]).toEqual([...BACKEND_CHOICES]);
  });
});
