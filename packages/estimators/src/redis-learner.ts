import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { LoptError, checkNumber, disposeTree, foldIn, keyToJSON, type Key, type TensorTree } from '@lopt/core';
import { checkEstimate, decodeEstimate, encodeTheta, type CollectedEstimates, type EstimateSource, type WorkerEstimate } from './estimate-source.js';
import { LIVE_WORKERS_SCRIPT, checkRunName, connectRedis, runKeys, type EstimateJob, type EstimateJobResult, type RunKeys } from './redis-common.js';

/** Options of {@link redisEstimateSource}. */
export interface RedisSourceOptions {
  /** Redis URL (`redis://[:password@]host:port[/db]`); the password is never printed. */
  readonly redis: string;
  /** Run name: learner and workers of one run share it. Default `default`. */
  readonly run?: string;
  /** Number of estimators of the run (`metaTrain`'s `estimators.length`); jobs cycle through them. */
  readonly estimators: number;
  /** Estimates averaged per outer step. Default `estimators`. */
  readonly metaBatch?: number;
  /** How many theta versions old an estimate may be. Default 1. */
  readonly staleness?: number;
  /** Jobs queued beyond the meta-batch, so fast workers never wait for the learner. Default 0. */
  readonly prefetch?: number;
  /** How often the learner re-checks its outstanding jobs (lost events, a restarted Redis). Default 500 ms. */
  readonly pollMs?: number;
  /** Lifetime of a published theta version in Redis. Default 600000 ms. */
  readonly thetaTtlMs?: number;
}

/** The learner's live counters of a Redis run. */
export interface RedisSourceStats {
  /** This learner's generation (a resumed learner gets a new one). */
  readonly generation: number;
  /** Estimates used. */
  readonly accepted: number;
  /** Estimates refused or dropped, by reason (`stale`, `non-finite`, `structure`, `garbage`, `failed`, `skipped`). */
  readonly rejected: Readonly<Record<string, number>>;
  /** Jobs re-queued because Redis lost them (restart). */
  readonly requeued: number;
  /** Theta versions published again because Redis lost them (restart, flush, eviction). */
  readonly republished: number;
  /** Workers whose heartbeat is live (counted at most once per second, at the end of a step). */
  readonly liveWorkers: number;
  /** Milliseconds spent publishing theta (encode + SET), summed over steps. */
  readonly broadcastMs: number;
}

interface Outstanding {
  readonly data: EstimateJob;
}

function parseSourceOptions(o: RedisSourceOptions) {
  const run = checkRunName(o.run ?? 'default');
  const estimators = checkNumber('estimators', o.estimators, { integer: true, min: 1 });
  return {
    run,
    estimators,
    metaBatch: checkNumber('metaBatch', o.metaBatch ?? estimators, { integer: true, min: 1 }),
    staleness: checkNumber('staleness', o.staleness ?? 1, { integer: true, min: 0 }),
    prefetch: checkNumber('prefetch', o.prefetch ?? 0, { integer: true, min: 0 }),
    pollMs: checkNumber('pollMs', o.pollMs ?? 500, { integer: true, min: 10 }),
    thetaTtlMs: checkNumber('thetaTtlMs', o.thetaTtlMs ?? 600000, { integer: true, min: 1000 }),
  };
}

/**
 * The learner's side of a distributed run over Redis (BullMQ): an {@link EstimateSource}
 * for `metaTrain`'s `source` option. Every outer step it publishes theta as version `step`
 * (of this learner's generation), queues estimate jobs for the workers (`runRedisWorker`,
 * `lopt worker --redis URL`), and takes the first `metaBatch` results that pass
 * {@link checkEstimate} (theta's structure and shapes, finite, at most `staleness` versions
 * old); the rest are dropped and counted. A job is counted at most once, by id, however often
 * a dying worker made BullMQ redo it. Workers own their estimator states, so the learner's
 * checkpoint is theta, the outer optimizer, the step and the counters; a resumed learner
 * starts a new generation and the running workers follow it.
 */
export function redisEstimateSource(options: RedisSourceOptions): EstimateSource & { readonly stats: RedisSourceStats } {
  return new RedisSource(parseSourceOptions(options), options.redis);
}

class RedisSource implements EstimateSource {
  readonly name = 'redis';
  readonly ownsWorkerStates = false;
  private conn: Redis | undefined;
  private queue: Queue | undefined;
  private events: QueueEvents | undefined;
  private readonly keys: RunKeys;
  private generation = 0;
  private readonly outstanding = new Map<string, Outstanding>();
  /** Jobs already settled (used, refused or dropped): a redone job's second result is ignored. */
  private readonly settled = new Set<string>();
  private buffer: WorkerEstimate[] = [];
  private readonly thetas = new Map<number, Uint8Array>();
  private readonly rejected: Record<string, number> = {};
  private accepted = 0;
  private requeued = 0;
  private republished = 0;
  /** Set when Redis may have lost theta (a reconnect, a failed job): checked before the next wait. */
  private thetaInDoubt = false;
  private liveWorkers = 0;
  private liveCountedAt = -Infinity;
  private broadcastMs = 0;
  private jobSeq = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly c: ReturnType<typeof parseSourceOptions>,
    private readonly url: string,
  ) {
    this.keys = runKeys(c.run);
  }

  get stats(): RedisSourceStats {
    return { generation: this.generation, accepted: this.accepted, rejected: { ...this.rejected }, requeued: this.requeued, republished: this.republished, liveWorkers: this.liveWorkers, broadcastMs: this.broadcastMs };
  }

  async start(): Promise<void> {
    this.conn = await connectRedis(this.url);
    this.generation = await this.conn.incr(this.keys.generation);
    // A reconnect may mean a restarted Redis that lost theta: check it before the next wait.
    this.conn.on('ready', () => this.doubtTheta());
    this.queue = new Queue(this.keys.queue, { connection: this.conn, prefix: this.keys.prefix });
    this.queue.on('error', () => undefined);
    // Jobs a previous learner left waiting are void (another generation): drop them.
    await this.queue.drain();
    this.events = new QueueEvents(this.keys.queue, { connection: this.conn.duplicate(), prefix: this.keys.prefix });
    this.events.on('error', () => undefined);
    this.events.on('completed', ({ jobId, returnvalue }) => this.onResult(jobId, returnvalue));
    this.events.on('failed', ({ jobId }) => this.onFailed(jobId));
    await this.events.waitUntilReady();
  }

  private count(reason: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
  }

  private onResult(jobId: string, returnvalue: unknown): void {
    const job = this.outstanding.get(jobId);
    if (job === undefined) {
      // Another generation's job, one dropped as stale, or a result already counted.
      if (!this.settled.has(jobId) && jobId.startsWith(`${this.generation}-`)) this.count('stale');
      return;
    }
    this.outstanding.delete(jobId);
    this.settled.add(jobId);
    try {
      const r = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as EstimateJobResult;
      if ('skipped' in r) return this.count('skipped');
      const e = decodeEstimate(new Uint8Array(Buffer.from(r.estimate, 'base64')));
      if (e.version !== job.data.version || e.index !== job.data.index) {
        disposeTree(e.grad);
        return this.count('structure');
      }
      this.buffer.push(e);
    } catch {
      this.count('garbage');
    } finally {
      this.wake?.();
    }
  }

  private onFailed(jobId: string): void {
    if (!this.outstanding.delete(jobId)) return;
    this.settled.add(jobId);
    this.count('failed');
    // The usual cause is a worker that found no theta for its job's version.
    this.doubtTheta();
  }

  private doubtTheta(): void {
    this.thetaInDoubt = true;
    this.wake?.();
  }

  private setTheta(version: number, bytes: Uint8Array) {
    return (this.conn as Redis).set(this.keys.theta(this.generation, version), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'PX', this.c.thetaTtlMs);
  }

  /**
   * Publishes again every theta version still within the staleness bound that Redis no
   * longer has (a restarted or flushed Redis), and the current-version marker, so workers
   * waiting for a version get it; one EXISTS per kept version when nothing was lost.
   */
  private async ensureTheta(step: number): Promise<void> {
    this.thetaInDoubt = false;
    const conn = this.conn as Redis;
    for (const [version, bytes] of this.thetas) {
      if ((await conn.exists(this.keys.theta(this.generation, version))) === 1) continue;
      await this.setTheta(version, bytes);
      this.republished++;
    }
    await conn.set(this.keys.current, `${this.generation}:${step}:${this.c.staleness}`);
  }

  private async publish(step: number, theta: TensorTree): Promise<void> {
    const t0 = performance.now();
    const bytes = encodeTheta(theta, step);
    this.thetas.set(step, bytes);
    for (const v of this.thetas.keys()) if (v < step - this.c.staleness) this.thetas.delete(v);
    await this.setTheta(step, bytes);
    await (this.conn as Redis).set(this.keys.current, `${this.generation}:${step}:${this.c.staleness}`);
    this.broadcastMs += performance.now() - t0;
  }

  private async addJobs(step: number, stepKey: Key, n: number): Promise<void> {
    if (n <= 0) return;
    const jobs = Array.from({ length: n }, () => {
      const j = this.jobSeq++;
      const data: EstimateJob = { generation: this.generation, version: step, index: j % this.c.estimators, key: keyToJSON(foldIn(stepKey, j)) };
      const jobId = `${this.generation}-${step}-${j}`;
      this.outstanding.set(jobId, { data });
      return { name: 'estimate', data, opts: { jobId, removeOnComplete: { age: 60 }, removeOnFail: { age: 60 } } };
    });
    await (this.queue as Queue).addBulk(jobs);
  }

  /** Drops outstanding jobs past the staleness bound (removed when still waiting). */
  private async dropStale(step: number): Promise<void> {
    for (const [jobId, j] of this.outstanding) {
      if (step - j.data.version <= this.c.staleness) continue;
      this.outstanding.delete(jobId);
      this.settled.add(jobId);
      this.count('stale');
      await (this.queue as Queue).remove(jobId).catch(() => 0);
    }
  }

  /** Re-checks outstanding jobs: results whose event was lost, and jobs a restarted Redis forgot. */
  private async reconcile(step: number): Promise<void> {
    const queue = this.queue as Queue;
    await this.ensureTheta(step);
    for (const [jobId, j] of [...this.outstanding]) {
      const job = await queue.getJob(jobId);
      if (job === undefined || job === null) {
        if (!this.thetas.has(j.data.version)) continue;
        await queue.add('estimate', j.data, { jobId, removeOnComplete: { age: 60 }, removeOnFail: { age: 60 } });
        this.requeued++;
      } else if (job.finishedOn !== undefined && job.failedReason === undefined) this.onResult(jobId, job.returnvalue);
      else if (job.failedReason !== undefined && job.finishedOn !== undefined) this.onFailed(jobId);
    }
  }

  async collect(args: { theta: TensorTree; step: number; stepKey: Key }): Promise<CollectedEstimates> {
    if (this.queue === undefined) throw new LoptError('INTERNAL', 'redisEstimateSource: collect before start.');
    await this.publish(args.step, args.theta);
    await this.dropStale(args.step);
    const estimates: WorkerEstimate[] = [];
    const opts = { version: args.step, staleness: this.c.staleness, estimators: this.c.estimators };
    while (estimates.length < this.c.metaBatch) {
      const e = this.buffer.shift();
      if (e !== undefined) {
        const why = checkEstimate(args.theta, e, opts);
        if (why === undefined) estimates.push(e);
        else {
          this.count(why);
          disposeTree(e.grad);
        }
        continue;
      }
      if (this.thetaInDoubt) await this.ensureTheta(args.step);
      const fresh = [...this.outstanding.values()].filter((j) => args.step - j.data.version <= this.c.staleness).length;
      await this.addJobs(args.step, args.stepKey, this.c.metaBatch - estimates.length + this.c.prefetch - fresh);
      const woke = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), this.c.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      this.wake = undefined;
      if (!woke) await this.reconcile(args.step);
    }
    this.accepted += estimates.length;
    this.liveWorkers = await this.countWorkers();
    const metrics: Record<string, number> = { estimates: estimates.length, generation: this.generation, liveWorkers: this.liveWorkers, requeued: this.requeued, republished: this.republished, staleness: Math.max(...estimates.map((e) => args.step - e.version)) };
    for (const [k, v] of Object.entries(this.rejected)) metrics[`rejected/${k}`] = v;
    return { estimates, metrics };
  }

  /** Live workers from the run's heartbeat set: one script call, at most once per second. */
  private async countWorkers(): Promise<number> {
    const now = performance.now();
    if (now - this.liveCountedAt < 1000) return this.liveWorkers;
    this.liveCountedAt = now;
    return Number(await (this.conn as Redis).eval(LIVE_WORKERS_SCRIPT, 1, this.keys.live));
  }

  async close(): Promise<void> {
    for (const e of this.buffer) disposeTree(e.grad);
    this.buffer = [];
    await this.queue?.drain().catch(() => undefined);
    await this.events?.close();
    await this.queue?.close();
    this.conn?.disconnect();
  }
}
