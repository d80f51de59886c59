import { Command, InvalidArgumentError } from 'commander';
import type { CommonOptions } from './context.js';

/** Integer options of `lopt inspect`: flag, [min, max]. */
const INT_OPTIONS: Readonly<Record<string, readonly [string, number, number]>> = {
  steps: ['--steps', 2, 100_000],
  coordinates: ['--coordinates', 1, 100_000],
  seed: ['--seed', 0, 2 ** 31],
};

/** Commander parser of one of {@link INT_OPTIONS}. */
function integerOption(option: keyof typeof INT_OPTIONS & string): (value: string) => number {
  const [flag, min, max] = INT_OPTIONS[option] as readonly [string, number, number];
  return (value) => {
    const n = Number(value);
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    throw new InvalidArgumentError(`${flag} must be an integer in [${min}, ${max}].`);
  };
}

/** Adds `lopt inspect` to the program (its work loads on use). */
export function registerInspectCommand(program: Command, stamp: () => string): void {
  program
    .command('inspect')
    .description(
      'Fit the closest hand-designed behaviour to an optimizer (as in "Reverse engineering learned optimizers"): train a task, record a sample of coordinates, print the fitted momentum, learning-rate schedule and clipping threshold, and write the curves as JSON.',
    )
    .argument('<optimizer>', 'an optimizer spec as in `lopt eval` (pretrained:celo, a checkpoint or run directory, adam:learningRate=1e-3, ...)')
    .requiredOption('-t, --task <name>', 'task or task family (its first held-out sample), with options: name[:key=value,...]')
    .option('--steps <n>', 'training steps recorded', integerOption('steps'), 200)
    .option('--coordinates <n>', 'parameter coordinates recorded', integerOption('coordinates'), 256)
    .option('--seed <n>', 'seed of the task, initial parameters, coordinates and batches', integerOption('seed'), 1)
    .option('-o, --out <file>', 'JSON file for the fits and curves (default: runs/inspect-<optimizer>-<timestamp>.json)')
    .action(async (optimizer: string, opts: { task: string; steps: number; coordinates: number; seed: number; out?: string }, cmd: Command) => {
      const { runInspect, defaultInspectOut } = await import('./inspect.js');
      const out = opts.out ?? defaultInspectOut(optimizer, stamp());
      await runInspect(optimizer, { task: opts.task, steps: opts.steps, coordinates: opts.coordinates, seed: opts.seed, out }, cmd.optsWithGlobals() as CommonOptions);
    });
}
