import type { Command } from 'commander';
import type { CommonOptions } from './context.js';

/** Adds `lopt worker --redis <url> --config <file|preset>` to the program (its work loads on use). */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Run a Redis worker of a distributed meta-training: computes estimates for the learner `lopt meta-train --redis <url>` runs. Pass the same config (or preset) as the learner; stop with Ctrl-C.')
    .requiredOption('--redis <url>', "the learner's Redis (redis://[:password@]host:port[/db]; the password is never printed)")
    .option('-c, --config <file|preset>', "the learner's config file (JSON) or preset name: the worker rebuilds the same task family, learned optimizer and estimators from it")
    .option('-p, --preset <name>', 'same as --config <preset>')
    .option('--run <name>', "the learner's run name (default: the config name, as the learner's default)")
    .option('--id <id>', 'worker id in heartbeats and estimates (default: <hostname>-<pid>-<n>)')
    .addHelpText('after', '\nExample (one learner, workers on other machines):\n  lopt meta-train --preset tiny --redis redis://:PASSWORD@10.0.0.5:6379\n  lopt worker --preset tiny --redis redis://:PASSWORD@10.0.0.5:6379')
    .action(async (opts: { redis: string; config?: string; preset?: string; run?: string; id?: string }, cmd: Command) => {
      const { runWorker } = await import('./worker-run.js');
      await runWorker({ common: cmd.optsWithGlobals() as CommonOptions, ...opts });
    });
}
