import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { LoptError, checkNumber, isLoptError, type LoptErrorCode } from '@lopt/core';
import { checkMaxRestarts, forkWorker, type WorkerProcessOptions } from '@lopt/core/node';
import type { RunExecutor } from './executor.js';
import { decodeRecord, encodeRecord } from './record.js';
import { executeRun, type OptimizerResolver, type RunRequest } from './run.js';

/** Messages between the pool and its workers (JSON over the IPC channel). */
export type PoolMessage =
  | { readonly type: 'run'; readonly index: number; readonly request: RunRequest }
  | { readonly type: 'result'; readonly index: number; readonly text: string }
  | { readonly type: 'error'; readonly index: number; readonly message: string; readonly code?: LoptErrorCode };

/** Options of {@link processPool}; the process options (`args`, `execArgv`, `env`, `maxRestarts`, `onSpawn`) are core's {@link WorkerProcessOptions}. */
export interface ProcessPoolOptions extends WorkerProcessOptions {
  /** The worker module: it starts a backend and calls {@link serveRuns}. */
  readonly worker: string;
  /** Worker processes. Default one per core (`os.availableParallelism()`). */
  readonly jobs?: number;
}

interface PoolState {
  readonly queue: number[];
  readonly inflight: Map<ChildProcess, number>;
  readonly workers: Set<ChildProcess>;
  remaining: number;
  restarts: number;
  settled: boolean;
}

/**
 * A {@link RunExecutor} over worker processes: each worker (its own tfjs backend) takes one
 * run at a time from a shared queue. Runs are deterministic given their request and
 * backend, so results equal a serial run's. A worker that dies mid-run is replaced and its
 * run is queued again; every result already delivered (and cached by the caller) stays.
 */
export function processPool(options: ProcessPoolOptions): RunExecutor {
  const jobs = checkNumber('jobs', options.jobs ?? availableParallelism(), { integer: true, min: 1 });
  const maxRestarts = checkMaxRestarts(options);
  if (typeof options.worker !== 'string' || !options.worker) throw new LoptError('INVALID_OPTION', "Option 'worker' must be the path of a worker module.", { option: 'worker' });
  return {
    run: (requests, onResult, signal) =>
      new Promise<void>((resolve, reject) => {
        if (requests.length === 0) return resolve();
        const s: PoolState = { queue: requests.map((_, i) => i), inflight: new Map(), workers: new Set(), remaining: requests.length, restarts: 0, settled: false };
        const finish = (error?: unknown): void => {
          if (s.settled) return;
          s.settled = true;
          for (const w of s.workers) w.kill();
          if (error === undefined) resolve();
          else reject(error);
        };
        const dispatch = (child: ChildProcess): void => {
          const index = s.queue.shift();
          if (index === undefined) return;
          s.inflight.set(child, index);
          child.send({ type: 'run', index, request: requests[index] as RunRequest } satisfies PoolMessage, (e) => {
            if (e) child.kill();
          });
        };
        const onMessage = (child: ChildProcess, m: PoolMessage): void => {
          if (s.settled) return;
          if (m.type === 'error') return finish(m.code ? new LoptError(m.code, m.message) : new Error(m.message));
          if (m.type !== 'result') return;
          s.inflight.delete(child);
          onResult(m.index, decodeRecord(m.text, String(m.index)));
          if (--s.remaining === 0) return finish();
          dispatch(child);
        };
        const spawn = (): void => {
          const child = forkWorker(options.worker, options);
          s.workers.add(child);
          child.on('message', (m) => onMessage(child, m as PoolMessage));
          // A send to a worker that is dying fails here; its 'exit' below requeues the run.
          child.on('error', () => undefined);
          child.on('exit', (code, sig) => {
            s.workers.delete(child);
            const lost = s.inflight.get(child);
            if (s.settled || lost === undefined) return;
            s.inflight.delete(child);
            s.queue.unshift(lost);
            if (++s.restarts > maxRestarts) return finish(new LoptError('INTERNAL', `A worker died (${sig ?? `exit code ${code}`}) ${s.restarts} times; giving up.`));
            spawn();
          });
          dispatch(child);
        };
        for (let i = 0; i < Math.min(jobs, requests.length); i++) spawn();
        signal?.addEventListener('abort', () => finish(signal.reason ?? new Error('aborted')), { once: true });
      }),
  };
}

/**
 * The worker side of {@link processPool}: trains every run the parent sends (building its
 * optimizer with `resolve`) and sends back its record. Call it in the worker module after
 * starting a backend.
 */
export function serveRuns(resolve: OptimizerResolver): void {
  if (!process.send) throw new LoptError('INVALID_OPTION', 'serveRuns must run in a worker process started by processPool (no IPC channel).', { option: 'process' });
  // A parent that dies (killed suite run) closes the channel: stop instead of lingering.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: PoolMessage) => {
    if (m.type !== 'run') return;
    executeRun(m.request, resolve).then(
      (record) => process.send?.({ type: 'result', index: m.index, text: encodeRecord(String(m.index), record) } satisfies PoolMessage),
      (e: unknown) => process.send?.({ type: 'error', index: m.index, message: e instanceof Error ? e.message : String(e), ...(isLoptError(e) ? { code: e.code } : {}) } satisfies PoolMessage),
    );
  });
}
