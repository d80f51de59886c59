// `lopt experiment <name>`: runs one seed-claim experiment (or `all`) and prints its markdown report.
import type { Command } from 'commander';
import { initBackend } from '@lopt/backend';
import { CliError } from './errors.js';
import { formatReport, type ExperimentScale } from './experiments/common.js';
import { EXPERIMENTS } from './experiments/index.js';

/** Runs the named experiments at `scale`, writing each report to `write` as it finishes. */
export async function runExperiments(names: readonly string[], scale: ExperimentScale, write: (text: string) => void): Promise<void> {
  const known = EXPERIMENTS.map((e) => e.name);
  // Every name is checked before anything runs.
  const chosen = names.includes('all') ? EXPERIMENTS : names.map((n) => {
    const e = EXPERIMENTS.find((x) => x.name === n);
    if (!e) throw new CliError(`Unknown experiment '${n}'.`, `Experiments: ${known.join(', ')}, or all.`);
    return e;
  });
  for (const e of chosen) write(`${formatReport(await e.run(scale))}\n\n`);
}

/** Registers `lopt experiment`. */
export function registerExperimentCommand(program: Command): void {
  program
    .command('experiment')
    .description(`Rerun a seed paper's claim as an experiment and print its verdict table (docs/experiments.md): ${EXPERIMENTS.map((e) => e.name).join(', ')}, or all.`)
    .argument('<names...>', 'experiment names, or all')
    .option('--quick', 'the small size the claim tests run (seconds) instead of the full one (minutes)')
    .action(async (names: string[], opts: { quick?: boolean }, cmd: Command) => {
      const backend = (cmd.optsWithGlobals() as { backend?: 'auto' | 'tensorflow' | 'wasm' | 'cpu' }).backend;
      await initBackend(backend ? { backend } : {});
      await runExperiments(names, opts.quick ? 'quick' : 'full', (t) => process.stdout.write(t));
    });
}
