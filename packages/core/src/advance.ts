import * as tf from '@tensorflow/tfjs-core';
import type { OptState, Optimizer, UpdateContext } from './contracts.js';
import { requireBackend } from './backend-check.js';
import { LoptError } from './errors.js';
import { isTensor, type TensorTree } from './tree.js';

/** Every tensor reachable from a value (trees, plain objects, arrays; other values skipped). */
export function collectTensors(value: unknown, out: tf.Tensor[] = []): tf.Tensor[] {
  if (isTensor(value)) {
    out.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out);
  } else if (typeof value === 'object' && value !== null) {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto === Object.prototype || proto === null) {
      for (const v of Object.values(value as Record<string, unknown>)) collectTensors(v, out);
    }
  }
  return out;
}

/**
 * Replaces, anywhere inside `value`, the tensors listed in `ids` by clones (which share
 * memory with the original, so this is cheap). Used so that a new state never aliases
 * tensors the caller still owns and will dispose.
 */
function cloneAliases<T>(value: T, ids: Set<number>): T {
  if (ids.size === 0) return value;
  return mapTensors(value, (t) => (ids.has(t.id) ? tf.clone(t) : t));
}

/**
 * A copy of `value` with every tensor replaced by `fn(tensor)`, walking arrays and plain
 * objects (class instances and other values are kept as they are): the tree walk for states
 * that hold numbers and strings next to tensors.
 *
 * @example
 * ```ts
 * const copy = mapTensors({ m: tf.zeros([2]), count: 3 }, (t) => tf.clone(t));
 * ```
 */
export function mapTensors<T>(value: T, fn: (t: tf.Tensor) => tf.Tensor): T {
  const walk = (v: unknown): unknown => {
    if (isTensor(v)) return fn(v);
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object' && v !== null) {
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) return v;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = walk(x);
      return out;
    }
    return v;
  };
  return walk(value) as T;
}

/** Disposes the tensors of `old` that `next` does not hold (compared by identity). */
export function disposeReplaced(old: unknown, next: unknown): void {
  const keep = new Set(collectTensors(next).map((t) => t.id));
  const seen = new Set<number>();
  for (const t of collectTensors(old)) {
    if (keep.has(t.id) || seen.has(t.id)) continue;
    seen.add(t.id);
    if (!t.isDisposed) t.dispose();
  }
}

/**
 * One memory-safe optimizer step: runs `opt.update` inside `tf.tidy`, then disposes the
 * tensors of the old state that the new state does not reuse. The old state is consumed
 * (do not use it afterwards); `grads` and `ctx` stay owned by the caller, and the new state
 * never aliases them (aliased tensors are cloned, which shares memory).
 *
 * Every training loop should step through `advance`; then `tf.memory().numTensors` stays
 * flat over any number of steps once the caller disposes its gradients.
 *
 * @example
 * ```ts
 * let state = opt.init(params);
 * for (let i = 0; i < 100; i++) {
 *   const { value, grads } = tf.variableGrads(...) // or tf.valueAndGrads
 *   state = advance(opt, state, grads, { loss: value });
 *   disposeTree(grads); value.dispose();
 * }
 * ```
 */
export function advance<S>(opt: Optimizer<S>, state: OptState<S>, grads: TensorTree, ctx?: UpdateContext): OptState<S> {
  requireBackend('advance');
  const next = tf.tidy(() => {
    const out = opt.update(state, grads, ctx);
    if (typeof out !== 'object' || out === null || !('params' in out)) {
      throw new LoptError('INTERNAL', `Optimizer '${opt.name}' returned no state from update().`);
    }
    const inputIds = new Set(collectTensors([grads, ctx?.loss]).map((t) => t.id));
    return cloneAliases(out, inputIds) as unknown as tf.TensorContainer;
  }) as unknown as OptState<S>;
  disposeReplaced(state, next);
  return next;
}
