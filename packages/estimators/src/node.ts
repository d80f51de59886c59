/**
 * `@lopt/estimators/node`: Node-only helpers of the meta-trainer (file checkpoints).
 * @packageDocumentation
 */
import { join } from 'node:path';
import { LoptError, checkNumber } from '@lopt/core';
import { readRegularFile, writeFileAtomic } from '@lopt/core/node';
import { metaTrain as metaTrainWithStore, type MetaTrainOptions, type MetaTrainResult } from './meta-train.js';
import type { CheckpointStore, MetaTrainCheckpointOptions } from './meta-train-checkpoint.js';
import { workerPool, type WorkerPoolOptions } from './worker-pool.js';

export { workerPool } from './worker-pool.js';
export type { WorkerPoolOptions, WorkerPoolStats } from './worker-pool.js';
export { serveEstimates } from './pool-worker.js';
export { redisEstimateSource } from './redis-learner.js';
export type { RedisSourceOptions, RedisSourceStats } from './redis-learner.js';
export { runRedisWorker } from './redis-worker.js';
export type { RedisWorkerOptions, RedisWorkerHandle } from './redis-worker.js';
export { redactUrl } from './redis-common.js';
export type { PoolRequest, PoolReply } from './pool-worker.js';

/** The file name {@link fileCheckpointStore} uses by default. */
export const META_TRAIN_CHECKPOINT_FILE = 'meta-train.safetensors';

/**
 * A {@link CheckpointStore} backed by one file in `dir` (created when needed), written
 * atomically (temporary file, fsync, rename), so a killed run leaves either the previous
 * checkpoint or the new one, never a partial file.
 */
export function fileCheckpointStore(dir: string, options: { fileName?: string } = {}): CheckpointStore & { readonly path: string } {
  if (typeof dir !== 'string' || dir === '') {
    throw new LoptError('INVALID_OPTION', "Option 'dir' must be a non-empty path.", { option: 'dir' });
  }
  const path = join(dir, options.fileName ?? META_TRAIN_CHECKPOINT_FILE);
  return {
    path,
    async load() {
      try {
        return await readRegularFile(path);
      } catch (e) {
        // No checkpoint yet; any other failure (permission, read-only, not a file) is named.
        if (((e as { cause?: { code?: string } }).cause?.code ?? '') === 'ENOENT') return undefined;
        throw e;
      }
    },
    save: (bytes: Uint8Array) => writeFileAtomic(path, bytes),
  };
}

/** Checkpointing to a folder: `{ dir, every }` (or a store, as in the main entry), with the main entry's flush policy (`onStop`, `beforeSave`). */
export type NodeMetaTrainCheckpointOptions = Omit<MetaTrainCheckpointOptions, 'store'> & ({ readonly dir: string } | { readonly store: CheckpointStore });

/** The local worker pool of the Node {@link metaTrain}: {@link WorkerPoolOptions} without `estimators` (the run's). */
export type NodeMetaTrainWorkers = Omit<WorkerPoolOptions, 'estimators'>;

/**
 * Options of the Node {@link metaTrain}: as the main entry's, with `checkpoint: { dir, every }`
 * allowed and `workers` to compute the estimates on a local {@link workerPool}.
 */
export type NodeMetaTrainOptions = Omit<MetaTrainOptions, 'checkpoint'> & { readonly checkpoint?: NodeMetaTrainCheckpointOptions; readonly workers?: NodeMetaTrainWorkers };

/**
 * `metaTrain` with file checkpoints: `checkpoint: { dir, every }` saves to
 * `<dir>/meta-train.safetensors` every `every` steps and resumes from it when it exists.
 * With `workers`, the estimates run on a local {@link workerPool} (started here, stopped at
 * the end); in its default synchronous mode the result equals the in-process run bit for bit.
 */
export async function metaTrain(options: NodeMetaTrainOptions): Promise<MetaTrainResult> {
  const { workers, checkpoint: cp, ...rest } = options;
  let checkpoint: MetaTrainOptions['checkpoint'];
  if (cp !== undefined) {
    const every = checkNumber('checkpoint.every', cp.every, { integer: true, min: 1 });
    const { dir: _dir, store: _store, ...policy } = cp as { dir?: string; store?: CheckpointStore } & Omit<MetaTrainCheckpointOptions, 'store'>;
    checkpoint = { ...policy, store: 'dir' in cp ? fileCheckpointStore(cp.dir) : cp.store, every };
  }
  if (workers === undefined) return metaTrainWithStore({ ...rest, ...(checkpoint ? { checkpoint } : {}) });
  if (rest.source !== undefined) throw new LoptError('INVALID_OPTION', "Options 'workers' and 'source' exclude each other.", { option: 'workers' });
  const pool = workerPool({ ...workers, estimators: Array.isArray(rest.estimators) ? rest.estimators.length : 0 });
  try {
    return await metaTrainWithStore({ ...rest, ...(checkpoint ? { checkpoint } : {}), source: pool });
  } finally {
    await pool.close();
  }
}
