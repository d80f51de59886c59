import type { Command } from 'commander';

// The scale-out flags of `lopt meta-train`, declared here without loading tfjs (main.ts stays
// light); scale-options.ts validates them and builds the estimate source.

/** The raw scale-out flags of `lopt meta-train` (strings, as commander hands them over). */
export interface RawScaleFlags {
  readonly workers?: string;
  readonly async?: boolean;
  readonly staleness?: string;
  readonly metaBatch?: string;
  readonly redis?: string;
  readonly run?: string;
}

/** Adds `--workers`, `--async`, `--staleness`, `--meta-batch`, `--redis` and `--run` to `lopt meta-train`. */
export function addScaleOptions(command: Command): Command {
  return command
    .option('--workers <n>', 'compute the estimates on N local worker processes (at most the number of estimators; synchronous by default: the same result as in-process)')
    .option('--async', 'with --workers: asynchronous pool (each step takes the first --meta-batch estimates at most --staleness versions old)')
    .option('--staleness <s>', 'with --async or --redis: how many theta versions old an estimate may be (default 1)')
    .option('--meta-batch <m>', 'with --async or --redis: estimates averaged per outer step (default: the number of estimators)')
    .option('--redis <url>', 'run the learner over Redis (redis://[:password@]host:port[/db]); workers run `lopt worker --redis <url>` with the same config')
    .option('--run <name>', 'with --redis: the run name learner and workers share (default: the config name)');
}
