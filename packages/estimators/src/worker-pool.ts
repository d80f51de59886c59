import type { ChildProcess } from 'node:child_process';
import { LoptError, checkNumber, disposeTree, foldIn, keyToJSON, type Key, type TensorTree } from '@lopt/core';
import { checkMaxRestarts, forkWorker, type WorkerProcessOptions } from '@lopt/core/node';
import { checkEstimate, decodeEstimate, encodeTheta, type CollectedEstimates, type EstimateSource, type WorkerEstimate } from './estimate-source.js';
import type { PoolReply, PoolRequest } from './pool-worker.js';
import { disposeExcept } from './state.js';
import { decodeWorkerStates, encodeWorkerStates } from './worker-state-wire.js';

/**
 * Options of {@link workerPool}. The process options (`args`, `execArgv`, `env`, `onSpawn`,
 * `maxRestarts`: times a dead worker is replaced, its in-flight estimates recomputed, before
 * the run fails) are core's {@link WorkerProcessOptions}.
 */
export interface WorkerPoolOptions extends WorkerProcessOptions {
  /** Worker processes (each with its own tfjs backend). */
  readonly workers: number;
  /** The worker module: it starts a backend and calls `serveEstimates` with the learner's estimators. */
  readonly script: string;
  /** Number of estimators (slots) of the run: `metaTrain`'s `estimators.length`. Slot `i` runs on worker `i % workers`. */
  readonly estimators: number;
  /**
   * `sync` (default): every outer step waits for one estimate of every slot at the current
   * theta, so the run equals the in-process `metaTrain` bit for bit. `async`: each slot
   * computes continuously on the newest theta it was sent; a step takes the first
   * `metaBatch` estimates at most `staleness` versions old and drops older ones.
   */
  readonly mode?: 'sync' | 'async';
  /** Async mode: how many versions old an estimate may be. Default 1. */
  readonly staleness?: number;
  /** Async mode: estimates per outer step. Default `estimators`. */
  readonly metaBatch?: number;
}

interface Pending {
  readonly request: PoolRequest;
  readonly resolve: (r: PoolReply) => void;
  readonly reject: (e: unknown) => void;
}

interface Proc {
  child: ChildProcess;
  ready: Promise<void>;
  /** The theta version this process holds (-1: none). */
  version: number;
  readonly pending: Map<number, Pending>;
  readonly slots: number[];
}

/** Parsed options with defaults. */
interface PoolConfig {
  readonly workers: number;
  readonly slots: number;
  readonly mode: 'sync' | 'async';
  readonly staleness: number;
  readonly metaBatch: number;
  readonly maxRestarts: number;
}

function parseOptions(o: WorkerPoolOptions): PoolConfig {
  if (typeof o?.script !== 'string' || o.script === '') throw new LoptError('INVALID_OPTION', "Option 'script' must be the path of a worker module.", { option: 'script' });
  const slots = checkNumber('estimators', o.estimators, { integer: true, min: 1 });
  const workers = checkNumber('workers', o.workers, { integer: true, min: 1, max: slots });
  const mode = o.mode ?? 'sync';
  if (mode !== 'sync' && mode !== 'async') throw new LoptError('INVALID_OPTION', `Option 'mode' must be 'sync' or 'async', got ${JSON.stringify(mode)}.`, { option: 'mode' });
  const staleness = checkNumber('staleness', o.staleness ?? 1, { integer: true, min: 0 });
  const metaBatch = checkNumber('metaBatch', o.metaBatch ?? slots, { integer: true, min: 1 });
  const maxRestarts = checkMaxRestarts(o);
  return { workers, slots, mode, staleness, metaBatch, maxRestarts };
}

/** A worker pool's live counters. */
export interface WorkerPoolStats {
  /** Estimates refused (structure, non-finite, stale), by reason. */
  readonly rejected: Readonly<Record<string, number>>;
  /** Worker processes replaced after dying. */
  readonly restarts: number;
  /** Estimates recomputed because their worker died. */
  readonly retried: number;
}

/**
 * An {@link EstimateSource} over `workers` local processes (learned_optimization's
 * learner/worker split on one machine): the learner (`metaTrain` with `source`) keeps theta,
 * the outer optimizer and checkpoints; slot `i` (estimator `i`) keeps its worker state in
 * process `i % workers`. Synchronous mode equals the in-process run bit for bit (same keys,
 * same states, float32 gradients sent exactly); asynchronous mode has a staleness bound. A
 * worker that dies is replaced and its in-flight estimates are recomputed once.
 */
export function workerPool(options: WorkerPoolOptions): EstimateSource & { readonly stats: WorkerPoolStats; readonly processes: readonly ChildProcess[] } {
  const c = parseOptions(options);
  return new Pool(options, c);
}

class Pool implements EstimateSource {
  readonly name = 'worker-pool';
  readonly ownsWorkerStates: boolean;
  private readonly procs: Proc[] = [];
  private nextTicket = 0;
  private closing = false;
  private workerKey: [number, number] = [0, 0];
  private restarts = 0;
  private retried = 0;
  private readonly rejected: Record<string, number> = {};
  private failure: unknown;
  // Async mode: the newest theta, finished estimates not yet taken, and slots with a request out.
  private latest: { version: number; bytes: Uint8Array; key: Key } | undefined;
  private buffer: WorkerEstimate[] = [];
  private readonly busy = new Set<number>();
  private readonly dispatches = new Map<number, number>();
  private wake: (() => void) | undefined;

  constructor(
    private readonly o: WorkerPoolOptions,
    private readonly c: PoolConfig,
  ) {
    this.ownsWorkerStates = c.mode === 'sync';
  }

  get stats(): WorkerPoolStats {
    return { rejected: { ...this.rejected }, restarts: this.restarts, retried: this.retried };
  }

  get processes(): readonly ChildProcess[] {
    return this.procs.map((p) => p.child);
  }

  async start(args: { theta: TensorTree; step: number; workerKey: Key; workerStates?: unknown[] }): Promise<void> {
    this.workerKey = keyToJSON(args.workerKey);
    const slots = Array.from({ length: this.c.workers }, (_, w) => Array.from({ length: this.c.slots }, (_, i) => i).filter((i) => i % this.c.workers === w));
    for (const s of slots) this.procs.push(this.spawn(s));
    const states = args.workerStates;
    await Promise.all(
      this.procs.map(async (p) => {
        const bytes = states === undefined ? undefined : encodeWorkerStates(p.slots.map((i) => states[i]));
        await this.send(p, { type: 'start', ticket: this.nextTicket++, workerKey: this.workerKey, slots: p.slots, ...(bytes ? { states: bytes } : {}) });
      }),
    );
    if (states !== undefined) disposeExcept(states);
  }

  private spawn(slots: number[]): Proc {
    const child = forkWorker(this.o.script, this.o, 'advanced');
    let onReady: () => void = () => undefined;
    const proc: Proc = { child, version: -1, pending: new Map(), slots, ready: new Promise<void>((r) => (onReady = r)) };
    child.on('message', (m: PoolReply) => {
      if (m.type === 'ready') return onReady();
      const ticket = m.ticket;
      const p = ticket === undefined ? undefined : proc.pending.get(ticket);
      if (ticket !== undefined) proc.pending.delete(ticket);
      if (m.type === 'error') {
        const e = new LoptError(m.code ?? 'INTERNAL', `A pool worker failed: ${m.message}`);
        if (p) p.reject(e);
        else this.fail(e);
        return;
      }
      p?.resolve(m);
    });
    child.on('error', () => undefined);
    child.on('exit', (code, sig) => this.onExit(proc, code, sig));
    return proc;
  }

  private onExit(proc: Proc, code: number | null, sig: NodeJS.Signals | null): void {
    if (this.closing) return;
    if (++this.restarts > this.c.maxRestarts) {
      const e = new LoptError('INTERNAL', `A pool worker died (${sig ?? `exit code ${code}`}) ${this.restarts} times; giving up (maxRestarts ${this.c.maxRestarts}).`);
      for (const p of proc.pending.values()) p.reject(e);
      return this.fail(e);
    }
    // Replace it; its slots start from fresh states and its in-flight estimates are redone once.
    const next = this.spawn(proc.slots);
    this.procs[this.procs.indexOf(proc)] = next;
    void this.send(next, { type: 'start', ticket: this.nextTicket++, workerKey: this.workerKey, slots: next.slots }).catch((e: unknown) => this.fail(e));
    for (const [, p] of proc.pending) {
      if (p.request.type !== 'estimate') {
        p.reject(new LoptError('INTERNAL', 'A pool worker died while sending its states.'));
        continue;
      }
      this.retried++;
      const theta = this.thetaFor(p.request.version);
      this.send(next, { ...p.request, ...(theta ? { theta } : {}) }).then(p.resolve, p.reject);
    }
  }

  /** Theta bytes of a version still known to the pool. */
  private readonly thetas = new Map<number, Uint8Array>();
  private thetaFor(version: number): Uint8Array | undefined {
    return this.thetas.get(version);
  }

  private fail(e: unknown): void {
    this.failure ??= e;
    this.wake?.();
  }

  private async send(p: Proc, request: PoolRequest): Promise<PoolReply> {
    await p.ready;
    if (this.failure !== undefined) throw this.failure;
    return new Promise<PoolReply>((resolve, reject) => {
      p.pending.set(request.ticket, { request, resolve, reject });
      p.child.send(request, (e) => {
        if (e) p.child.kill();
      });
    });
  }

  private estimateRequest(p: Proc, slot: number, version: number, key: Key): Promise<PoolReply> {
    const bytes = this.thetas.get(version);
    const theta = p.version !== version ? bytes : undefined;
    p.version = version;
    return this.send(p, { type: 'estimate', ticket: this.nextTicket++, slot, version, key: keyToJSON(key), ...(theta ? { theta } : {}) });
  }

  private procOf(slot: number): Proc {
    return this.procs[slot % this.c.workers] as Proc;
  }

  private remember(version: number, theta: TensorTree): void {
    this.thetas.set(version, encodeTheta(theta, version));
    for (const v of this.thetas.keys()) if (v < version - this.c.staleness) this.thetas.delete(v);
  }

  async collect(args: { theta: TensorTree; step: number; stepKey: Key }): Promise<CollectedEstimates> {
    if (this.failure !== undefined) throw this.failure;
    this.remember(args.step, args.theta);
    return this.c.mode === 'sync' ? this.collectSync(args) : this.collectAsync(args);
  }

  private async collectSync(args: { theta: TensorTree; step: number; stepKey: Key }): Promise<CollectedEstimates> {
    const replies = await Promise.all(Array.from({ length: this.c.slots }, (_, i) => this.estimateRequest(this.procOf(i), i, args.step, foldIn(args.stepKey, i))));
    const estimates = replies.map((r) => decodeEstimate((r as Extract<PoolReply, { type: 'estimate' }>).bytes));
    // Non-finite estimates pass on to metaTrain's documented NaN handling, as in-process.
    const bad = estimates.findIndex((e) => {
      const why = checkEstimate(args.theta, e, { version: args.step, staleness: 0, estimators: this.c.slots });
      return why !== undefined && why !== 'non-finite';
    });
    if (bad >= 0) {
      for (const e of estimates) disposeTree(e.grad);
      throw new LoptError('TREE_MISMATCH', `Pool worker estimate ${bad} does not match theta (structure, shapes or version); the learner and the workers must build the same estimators.`);
    }
    return { estimates, metrics: { estimates: estimates.length, restarts: this.restarts, retried: this.retried } };
  }

  private dispatch(slot: number): void {
    const latest = this.latest;
    if (latest === undefined || this.closing || this.busy.has(slot)) return;
    this.busy.add(slot);
    const n = this.dispatches.get(slot) ?? 0;
    this.dispatches.set(slot, n + 1);
    this.estimateRequest(this.procOf(slot), slot, latest.version, foldIn(foldIn(latest.key, slot), n)).then(
      (r) => {
        this.busy.delete(slot);
        if (this.closing) return;
        this.buffer.push(decodeEstimate((r as Extract<PoolReply, { type: 'estimate' }>).bytes));
        this.dispatch(slot);
        this.wake?.();
      },
      (e: unknown) => this.fail(e),
    );
  }

  private async collectAsync(args: { theta: TensorTree; step: number; stepKey: Key }): Promise<CollectedEstimates> {
    this.latest = { version: args.step, bytes: this.thetas.get(args.step) as Uint8Array, key: args.stepKey };
    for (let i = 0; i < this.c.slots; i++) this.dispatch(i);
    const estimates: WorkerEstimate[] = [];
    while (estimates.length < this.c.metaBatch) {
      if (this.failure !== undefined) {
        for (const e of estimates) disposeTree(e.grad);
        throw this.failure;
      }
      const e = this.buffer.shift();
      if (e === undefined) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      const why = checkEstimate(args.theta, e, { version: args.step, staleness: this.c.staleness, estimators: this.c.slots });
      if (why === undefined) estimates.push(e);
      else {
        this.rejected[why] = (this.rejected[why] ?? 0) + 1;
        disposeTree(e.grad);
      }
    }
    const metrics: Record<string, number> = { estimates: estimates.length, restarts: this.restarts, retried: this.retried, staleness: Math.max(...estimates.map((e) => args.step - e.version)) };
    for (const [k, v] of Object.entries(this.rejected)) metrics[`rejected/${k}`] = v;
    return { estimates, metrics };
  }

  async workerStates(): Promise<unknown[]> {
    const out: unknown[] = new Array(this.c.slots);
    await Promise.all(
      this.procs.map(async (p) => {
        const r = await this.send(p, { type: 'states', ticket: this.nextTicket++, slots: p.slots });
        const states = decodeWorkerStates((r as Extract<PoolReply, { type: 'states' }>).bytes);
        p.slots.forEach((slot, i) => (out[slot] = states[i]));
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const e of this.buffer) disposeTree(e.grad);
    this.buffer = [];
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
            p.child.once('exit', () => resolve());
            p.child.kill();
          }),
      ),
    );
  }
}
