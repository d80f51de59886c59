import * as tf from '@tensorflow/tfjs-core';
import { LoptError, disposeReplaced, isTensor, mapTensors } from '@lopt/core';

/** JSON that stands for a packed value: tensors become `{ "$t": index }`. */
export type PackedJson = null | boolean | number | string | PackedJson[] | { [key: string]: PackedJson };

/**
 * Splits a state value (plain objects, arrays, tensors and JSON scalars, like the worker
 * states of the estimators) into its tensors, in a fixed traversal order, and a JSON
 * skeleton that references them. With {@link unpackState} this is how worker states go
 * into a checkpoint. Non-finite numbers are kept (`{ "$n": "NaN" }`); `undefined` object
 * fields are dropped; anything else (class instances, functions) is rejected with
 * `LoptError('INVALID_OPTION')` naming its path.
 */
export function packState(value: unknown): { tensors: tf.Tensor[]; skeleton: PackedJson } {
  const tensors: tf.Tensor[] = [];
  const walk = (v: unknown, path: string): PackedJson => {
    if (isTensor(v)) {
      tensors.push(v);
      return { $t: tensors.length - 1 };
    }
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
    if (typeof v === 'number') return Number.isFinite(v) ? v : { $n: String(v) };
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}.${i}`));
    if (typeof v === 'object') {
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto === Object.prototype || proto === null) {
        const out: { [key: string]: PackedJson } = {};
        for (const k of Object.keys(v as object).sort()) {
          const x = (v as Record<string, unknown>)[k];
          if (x === undefined) continue;
          out[k.startsWith('$') ? `$${k}` : k] = walk(x, `${path}.${k}`);
        }
        return out;
      }
    }
    throw new LoptError(
      'INVALID_OPTION',
      `State value at '${path}' is a ${typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v}; worker states may hold only tensors, plain objects, arrays and JSON values.`,
      { path },
    );
  };
  const skeleton = walk(value, '<root>');
  return { tensors, skeleton };
}

/** Rebuilds a value packed by {@link packState} from its skeleton and tensors. */
export function unpackState(skeleton: PackedJson, tensors: readonly tf.Tensor[]): unknown {
  const walk = (v: PackedJson): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map(walk);
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === '$t') {
      const t = tensors[v.$t as number];
      if (t === undefined) throw new LoptError('CHECKPOINT_INVALID', `State skeleton references tensor ${String(v.$t)}, which is missing.`);
      return t;
    }
    if (keys.length === 1 && keys[0] === '$n') return Number(v.$n);
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k.startsWith('$$') ? k.slice(1) : k] = walk(v[k] as PackedJson);
    return out;
  };
  return walk(skeleton);
}

/** Clones every tensor of a state (cheap: clones share memory), so the copy can be consumed freely. */
export function cloneState<T>(value: T): T {
  return mapTensors(value, (t) => tf.clone(t));
}

/** Disposes every tensor of `value` that none of `keep` holds (compared by identity); core's `disposeReplaced`. */
export function disposeExcept(value: unknown, ...keep: unknown[]): void {
  disposeReplaced(value, keep);
}
