// Starting worker processes: the options and the fork shared by every process pool in lopt
// (@lopt/estimators' workerPool, @lopt/eval's processPool). Node only.
import { fork, type ChildProcess } from 'node:child_process';
import { checkNumber } from './validate.js';

/** How a pool starts its worker processes and how often it replaces one that died. */
export interface WorkerProcessOptions {
  /** Arguments of the worker module. */
  readonly args?: readonly string[];
  /** Node options of the workers (e.g. `['--import', 'tsx']` for a TypeScript module). Default the parent's. */
  readonly execArgv?: readonly string[];
  /** Environment of the workers. Default the parent's. */
  readonly env?: NodeJS.ProcessEnv;
  /** Times a worker that died mid-work is replaced before the pool gives up. Default 3. */
  readonly maxRestarts?: number;
  /** Called with each worker process when it starts (monitoring, tests). */
  readonly onSpawn?: (child: ChildProcess) => void;
}

/** `options.maxRestarts`, checked (a whole number from 0; default 3). */
export function checkMaxRestarts(options: WorkerProcessOptions): number {
  return checkNumber('maxRestarts', options.maxRestarts ?? 3, { integer: true, min: 0 });
}

/**
 * Forks `module` as a worker: an IPC channel (`serialization`: JSON, or `'advanced'` for typed
 * arrays), stdout and stderr shared with the parent, stdin closed. Calls `onSpawn` with it.
 */
export function forkWorker(module: string, options: WorkerProcessOptions, serialization: 'json' | 'advanced' = 'json'): ChildProcess {
  const child = fork(module, [...(options.args ?? [])], {
    execArgv: [...(options.execArgv ?? process.execArgv)],
    env: options.env ?? process.env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization,
  });
  options.onSpawn?.(child);
  return child;
}
