import { join } from 'node:path';
import type { Command } from 'commander';
import type { CommonOptions } from './context.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Adds `lopt suite run` and `lopt suite list` to the program (their work loads on use). */
export function registerSuiteCommand(program: Command, stamp: () => string): void {
  const suite = program.command('suite').description('Benchmark suites: tuned baselines and candidate optimizers on fixed held-out tasks (@lopt/eval).');
  suite
    .command('run')
    .description('Run a suite: tune the baselines per task (cached), train the optimizers, print per-task and overall tables (IQM with CIs, wins, performance-profile score) and write a report. Rerun to continue from the cache.')
    .option('--optimizer <spec>', "optimizer spec (repeatable; as in `lopt eval`); a bare baseline name such as 'adam' means that baseline tuned per task", collect, [])
    .option('--suite <name|file>', 'built-in suite (small-v1, medium-v1, demo-v1) or a suite JSON file', 'small-v1')
    .option('--baselines <list>', 'comma-separated baselines (adam, adamw-cosine, sgdm, schedule-free-adamw, muon); adam, the reference, must be among them', 'adam,adamw-cosine,sgdm')
    .option('--jobs <n>', 'worker processes (default: one per core; 1 runs in this process)')
    .option('--cache <dir>', 'run cache directory (default: runs/suite-cache)')
    .option('-o, --out <dir>', 'where to write suite/ and report/ (default: runs/suite-<name>-<timestamp>)')
    .option('--no-report', 'skip writing the report')
    .action(async (opts: { optimizer: string[]; suite: string; baselines: string; jobs?: string; cache?: string; out?: string; report: boolean }, cmd: Command) => {
      const { runSuiteCommand } = await import('./suite-run.js');
      const out = opts.out ?? join('runs', `suite-${opts.suite.replace(/^suite:/, '').replace(/[^\w.-]/g, '_')}-${stamp()}`);
      await runSuiteCommand({ common: cmd.optsWithGlobals() as CommonOptions, optimizers: opts.optimizer, suite: opts.suite, baselines: opts.baselines, out, report: opts.report, ...(opts.jobs !== undefined ? { jobs: opts.jobs } : {}), ...(opts.cache !== undefined ? { cache: opts.cache } : {}) });
    });
  suite
    .command('list')
    .description('List the built-in suites and their tasks.')
    .action(async () => {
      const { suiteListText } = await import('./suite-table.js');
      process.stdout.write(suiteListText());
    });
}
