// Helpers shared by the learned package's benchmarks: command-line options, a step timer
// (wall clock and this process's CPU time) and ratios to Adam measured in the same run.
import type * as tf from '@tensorflow/tfjs-core';

/** `--sizes`, `--budget-ms` and any other `--name value` option of a benchmark's command line. */
export function benchArgs(argv: readonly string[] = process.argv.slice(2)): { arg: (name: string) => string | undefined; sizes: string[]; budgetMs: number } {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return { arg, sizes: (arg('sizes') ?? '64k,1m').split(','), budgetMs: Number(arg('budget-ms') ?? 4000) };
}

/**
 * Times `fn` (one step, returning a tensor to wait on) after one warm-up call: at least one
 * timed call, then as many as fit in `budgetMs` (at most 50). Milliseconds per call.
 */
export function timeIt(fn: () => tf.Tensor | void, budgetMs: number): { steps: number; wall: number; cpu: number } {
  const warm = fn();
  if (warm) warm.dataSync();
  let steps = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let last: tf.Tensor | void = undefined;
  while (steps < 1 || (performance.now() - t0 < budgetMs && steps < 50)) {
    last = fn();
    steps++;
  }
  if (last) last.dataSync();
  const cu = process.cpuUsage(c0);
  return { steps, wall: (performance.now() - t0) / steps, cpu: (cu.user + cu.system) / 1000 / steps };
}

/** Sets a row's wall and CPU ratios to the Adam row of the same run. */
export function setRatioToAdam(row: { wallMsPerStep: number; cpuMsPerStep: number; wallRatioToAdam?: number; cpuRatioToAdam?: number }, adamRow: { wallMsPerStep: number; cpuMsPerStep: number }): void {
  row.wallRatioToAdam = row.wallMsPerStep / adamRow.wallMsPerStep;
  row.cpuRatioToAdam = row.cpuMsPerStep / adamRow.cpuMsPerStep;
}

/** The timing fields every benchmark row has. */
export interface TimedRow {
  name: string;
  size: string;
  params: number;
  steps: number;
  wallMsPerStep: number;
  cpuMsPerStep: number;
  wallRatioToAdam?: number;
  cpuRatioToAdam?: number;
}
