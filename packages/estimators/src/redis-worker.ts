import { hostname } from 'node:os';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { LoptError, checkNumber, disposeReplaced, disposeTree, foldIn, key as makeKey, keyFromJSON, type GradientEstimator, type Key, type TensorTree } from '@lopt/core';
import { decodeTheta, encodeEstimate, type WorkerEstimate } from './estimate-source.js';
import { disposeExcept } from './state.js';
import { HEARTBEAT_SCRIPT, checkRunName, connectRedis, runKeys, type EstimateJob, type EstimateJobResult, type RunKeys } from './redis-common.js';

/** Options of {@link runRedisWorker}. */
export interface RedisWorkerOptions {
  /** Redis URL (`redis://[:password@]host:port`), the learner's. */
  readonly redis: string;
  /** Run name: learner and workers of one run share it. Default `default`. */
  readonly run?: string;
  /** The run's estimators, in the learner's order (job `index` picks one). */
  readonly estimators: readonly GradientEstimator[];
  /** Worker id (heartbeats, estimate messages). Default `<hostname>-<pid>-<n>`. */
  readonly id?: string;
  /** Seed of this worker's estimator states (estimator `i` starts from `foldIn(key(seed), i)`). Default from the id. */
  readonly seed?: number;
  /** Job lock: a worker silent this long (killed, hung) loses its job to another worker. Default 30000 ms. */
  readonly lockMs?: number;
  /** Heartbeat period (the key expires after 3 periods). Default 2000 ms. */
  readonly heartbeatMs?: number;
}

/** A running worker: its counters and how to stop it. */
export interface RedisWorkerHandle {
  /** The worker id. */
  readonly id: string;
  /** Jobs done, jobs skipped as stale (learner moved on), jobs that failed. */
  readonly stats: { readonly done: number; readonly skipped: number; readonly failed: number };
  /** Stops taking jobs (waits for the current one), stops the heartbeat and disconnects. */
  close(): Promise<void>;
}

/** Computes one job's estimate at `theta` (internal seam: the scaling benchmark replaces it with a sleep). */
export type ComputeEstimate = (theta: TensorTree, job: EstimateJob, workerId: string) => Promise<WorkerEstimate> | WorkerEstimate;

let workerCounter = 0;

function hashSeed(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** The estimator computation of a worker: one state per estimator, advanced by every job of it; `dispose` frees the states. */
export function estimatorCompute(estimators: readonly GradientEstimator[], workerKey: Key): { compute: ComputeEstimate; dispose: () => void } {
  const states = new Map<number, unknown>();
  const compute: ComputeEstimate = (theta, job, workerId) => {
    const est = estimators[job.index];
    if (est === undefined) throw new LoptError('INVALID_OPTION', `This worker has ${estimators.length} estimator(s); the job asks for estimator ${job.index}. Build the same estimators as the learner.`, { option: 'estimators' });
    const state = states.has(job.index) ? states.get(job.index) : est.init(theta, foldIn(workerKey, job.index));
    const r = est.estimate(theta, state, keyFromJSON(job.key));
    disposeReplaced(state, r.state);
    states.set(job.index, r.state);
    return { index: job.index, version: job.version, worker: workerId, grad: r.grad, meanLoss: r.meanLoss, metrics: r.metrics };
  };
  return { compute, dispose: () => disposeExcept([...states.values()]) };
}

/** Theta of the versions this worker last used (fetched once per version). */
function thetaCache(conn: Redis, keys: RunKeys) {
  const cache = new Map<string, TensorTree>();
  return {
    async get(g: number, v: number): Promise<TensorTree> {
      const id = `${g}:${v}`;
      const hit = cache.get(id);
      if (hit !== undefined) return hit;
      const bytes = await conn.getBuffer(keys.theta(g, v));
      if (bytes === null) throw new Error(`theta version ${v} (generation ${g}) is not in Redis (expired, or Redis restarted); the learner republishes it`);
      const { theta } = decodeTheta(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      cache.set(id, theta);
      for (const k of [...cache.keys()].slice(0, -2)) {
        disposeTree(cache.get(k) as TensorTree);
        cache.delete(k);
      }
      return theta;
    },
    clear: () => {
      for (const t of cache.values()) disposeTree(t);
      cache.clear();
    },
  };
}

/** True when the learner has moved past this job (another generation, or beyond its staleness bound). */
async function isStale(conn: Redis, keys: RunKeys, job: EstimateJob): Promise<boolean> {
  const current = await conn.get(keys.current);
  if (current === null) return false;
  const [g, v, s] = current.split(':').map(Number) as [number, number, number];
  return job.generation !== g || job.version < v - s;
}

/**
 * Runs a worker of a distributed meta-training run (learned_optimization's gradient worker):
 * takes estimate jobs from the run's BullMQ queue, fetches the job's theta version from
 * Redis, computes the estimate from this worker's own estimator state and returns it,
 * encoded, as the job's result. Skips jobs the learner no longer needs, sends heartbeats,
 * and keeps going across learner restarts and Redis restarts. Stop it with `close()`.
 */
export async function runRedisWorker(o: RedisWorkerOptions, compute?: ComputeEstimate): Promise<RedisWorkerHandle> {
  const run = checkRunName(o.run ?? 'default');
  if (compute === undefined && (!Array.isArray(o.estimators) || o.estimators.length === 0 || o.estimators.some((e) => typeof e?.estimate !== 'function'))) {
    throw new LoptError('INVALID_OPTION', "Option 'estimators' must be a non-empty array of GradientEstimators.", { option: 'estimators' });
  }
  const lockMs = checkNumber('lockMs', o.lockMs ?? 30000, { integer: true, min: 100 });
  const heartbeatMs = checkNumber('heartbeatMs', o.heartbeatMs ?? 2000, { integer: true, min: 10 });
  const id = o.id ?? `${hostname()}-${process.pid}-${workerCounter++}`;
  if (!/^[\w.-]{1,128}$/.test(id)) throw new LoptError('INVALID_OPTION', `Option 'id' must be 1-128 letters, digits, '-', '_' or '.', got ${JSON.stringify(id)}.`, { option: 'id' });
  const seed = checkNumber('seed', o.seed ?? hashSeed(id), { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
  const conn = await connectRedis(o.redis);
  const keys = runKeys(run);
  const thetas = thetaCache(conn, keys);
  const own = compute === undefined ? estimatorCompute(o.estimators, makeKey(seed)) : undefined;
  const doCompute = compute ?? (own?.compute as ComputeEstimate);
  const stats = { done: 0, skipped: 0, failed: 0 };
  const processor = async (job: Job<EstimateJob>): Promise<EstimateJobResult> => {
    if (await isStale(conn, keys, job.data)) {
      stats.skipped++;
      return { skipped: 'stale' };
    }
    const theta = await thetas.get(job.data.generation, job.data.version);
    const e = await doCompute(theta, job.data, id);
    try {
      stats.done++;
      return { estimate: Buffer.from(encodeEstimate(e)).toString('base64') };
    } finally {
      disposeTree(e.grad);
    }
  };
  const worker = new Worker<EstimateJob, EstimateJobResult>(keys.queue, processor, { connection: conn, prefix: keys.prefix, lockDuration: lockMs, stalledInterval: lockMs, maxStalledCount: 2, concurrency: 1 });
  worker.on('failed', () => stats.failed++);
  worker.on('error', () => undefined); // connection errors: ioredis reconnects
  // One key per worker with its counters (for people), and the run's live set (for the learner).
  const beat = () =>
    conn
      .multi()
      .set(keys.worker(id), JSON.stringify({ host: hostname(), pid: process.pid, ...stats }), 'PX', 3 * heartbeatMs)
      .eval(HEARTBEAT_SCRIPT, 1, keys.live, id, 3 * heartbeatMs)
      .exec()
      .catch(() => undefined);
  await beat();
  const timer = setInterval(beat, heartbeatMs);
  return {
    id,
    stats,
    close: async () => {
      clearInterval(timer);
      await worker.close();
      await conn.multi().del(keys.worker(id)).zrem(keys.live, id).exec().catch(() => undefined);
      thetas.clear();
      own?.dispose();
      conn.disconnect();
    },
  };
}
