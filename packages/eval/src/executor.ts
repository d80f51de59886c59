import type { RunRecord } from './record.js';
import { baselineResolver, executeRun, type OptimizerResolver, type RunRequest } from './run.js';

/** Runs batches of independent runs (serially here; `@lopt/eval/node` has a process pool). */
export interface RunExecutor {
  /** Runs every request, calling `onResult(index, record)` as each finishes (in any order). */
  run(requests: readonly RunRequest[], onResult: (index: number, record: RunRecord) => void, signal?: AbortSignal): Promise<void>;
}

/** Yields to the event loop so progress output, signals and timers get a turn between runs. */
const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** An executor that trains the runs one after another in this process. */
export function serialExecutor(resolve: OptimizerResolver = baselineResolver): RunExecutor {
  return {
    async run(requests, onResult, signal) {
      for (const [i, request] of requests.entries()) {
        if (signal?.aborted) throw signal.reason ?? new Error('aborted');
        onResult(i, await executeRun(request, resolve));
        await tick();
      }
    },
  };
}
