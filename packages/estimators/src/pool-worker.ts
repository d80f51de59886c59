import { LoptError, disposeReplaced, disposeTree, foldIn, isLoptError, keyFromJSON, type GradientEstimator, type LoptErrorCode, type TensorTree } from '@lopt/core';
import { decodeTheta, encodeEstimate } from './estimate-source.js';
import { decodeWorkerStates, encodeWorkerStates } from './worker-state-wire.js';

/** Messages from a {@link workerPool} to its worker processes (Node's advanced IPC serialization). */
export type PoolRequest =
  | { readonly type: 'start'; readonly ticket: number; readonly workerKey: [number, number]; readonly states?: Uint8Array; readonly slots: readonly number[] }
  | { readonly type: 'estimate'; readonly ticket: number; readonly slot: number; readonly version: number; readonly theta?: Uint8Array; readonly key: [number, number] }
  | { readonly type: 'states'; readonly ticket: number; readonly slots: readonly number[] };

/** Messages from a worker process back to its {@link workerPool}. */
export type PoolReply =
  | { readonly type: 'ready' }
  | { readonly type: 'started'; readonly ticket: number }
  | { readonly type: 'estimate'; readonly ticket: number; readonly bytes: Uint8Array }
  | { readonly type: 'states'; readonly ticket: number; readonly bytes: Uint8Array }
  | { readonly type: 'error'; readonly ticket?: number; readonly message: string; readonly code?: LoptErrorCode };

interface ServeState {
  workerKey?: [number, number];
  theta?: { version: number; tree: TensorTree };
  states: Map<number, unknown>;
}

function handleEstimate(estimators: readonly GradientEstimator[], s: ServeState, m: Extract<PoolRequest, { type: 'estimate' }>): PoolReply {
  const est = estimators[m.slot];
  if (est === undefined) throw new LoptError('INVALID_OPTION', `This worker has ${estimators.length} estimator(s); the pool asked for estimator ${m.slot}. Build the same estimators in the learner and the workers.`, { option: 'estimators' });
  if (m.theta !== undefined) {
    const next = decodeTheta(m.theta);
    if (s.theta) disposeTree(s.theta.tree);
    s.theta = { version: next.version, tree: next.theta };
  }
  if (s.theta === undefined || s.theta.version !== m.version) throw new LoptError('INTERNAL', `The pool asked for theta version ${m.version}, but this worker holds ${s.theta?.version ?? 'none'}.`);
  if (s.workerKey === undefined) throw new LoptError('INTERNAL', "The pool sent 'estimate' before 'start'.");
  const theta = s.theta.tree;
  const state = s.states.has(m.slot) ? s.states.get(m.slot) : est.init(theta, foldIn(keyFromJSON(s.workerKey), m.slot));
  const r = est.estimate(theta, state, keyFromJSON(m.key));
  disposeReplaced(state, r.state);
  s.states.set(m.slot, r.state);
  const bytes = encodeEstimate({ index: m.slot, version: m.version, worker: String(process.pid), grad: r.grad, meanLoss: r.meanLoss, metrics: r.metrics });
  disposeTree(r.grad);
  return { type: 'estimate', ticket: m.ticket, bytes };
}

function handle(estimators: readonly GradientEstimator[], s: ServeState, m: PoolRequest): PoolReply {
  if (m.type === 'start') {
    s.workerKey = m.workerKey;
    if (m.states !== undefined) {
      const states = decodeWorkerStates(m.states);
      m.slots.forEach((slot, i) => s.states.set(slot, states[i]));
    }
    return { type: 'started', ticket: m.ticket };
  }
  if (m.type === 'states') {
    const missing = m.slots.find((slot) => !s.states.has(slot));
    if (missing !== undefined) throw new LoptError('INTERNAL', `This worker has no state for estimator ${missing} yet.`);
    return { type: 'states', ticket: m.ticket, bytes: encodeWorkerStates(m.slots.map((slot) => s.states.get(slot))) };
  }
  return handleEstimate(estimators, s, m);
}

/**
 * The worker side of {@link workerPool}: call it in the worker module after starting a
 * backend (`initBackend` from `@lopt/backend`), with the same estimators, in the same order,
 * as the learner's `metaTrain` options. Each estimate runs on the theta version the learner
 * sent, from this process's own estimator state of that slot; the states go back to the
 * learner for checkpoints. The process exits when the learner goes away.
 *
 * @example
 * ```ts
 * // pool-worker.ts
 * await initBackend();
 * serveEstimates(buildMyEstimators());
 * ```
 */
export function serveEstimates(estimators: readonly GradientEstimator[]): void {
  if (!process.send) throw new LoptError('INVALID_OPTION', 'serveEstimates must run in a worker process started by workerPool (no IPC channel).', { option: 'process' });
  if (!Array.isArray(estimators) || estimators.length === 0 || estimators.some((e) => typeof e?.estimate !== 'function')) {
    throw new LoptError('INVALID_OPTION', "Option 'estimators' must be a non-empty array of GradientEstimators.", { option: 'estimators' });
  }
  const s: ServeState = { states: new Map() };
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: PoolRequest) => {
    let reply: PoolReply;
    try {
      reply = handle(estimators, s, m);
    } catch (e) {
      reply = { type: 'error', ticket: m.ticket, message: e instanceof Error ? e.message : String(e), ...(isLoptError(e) ? { code: e.code } : {}) };
    }
    process.send?.(reply);
  });
  process.send({ type: 'ready' } satisfies PoolReply);
}
