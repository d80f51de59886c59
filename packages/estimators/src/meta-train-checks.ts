import * as tf from '@tensorflow/tfjs-core';
import { LoptError, isTensor } from '@lopt/core';

/** The largest float32; a squared gradient entry above it overflows to Infinity. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** Runs `fn` in a tidy, reads its result to the host and disposes it. */
function read(fn: () => tf.Tensor): Float32Array | Int32Array | Uint8Array {
  const t = tf.tidy(fn);
  try {
    return t.dataSync() as Float32Array | Int32Array | Uint8Array;
  } finally {
    t.dispose();
  }
}

/** Every tensor of a state value (plain objects, arrays, tensors), with its path (`outer.state.nu.w`). */
export function tensorsWithPaths(value: unknown, prefix: string): { path: string; tensor: tf.Tensor }[] {
  const out: { path: string; tensor: tf.Tensor }[] = [];
  const walk = (v: unknown, path: string): void => {
    if (isTensor(v)) out.push({ path, tensor: v });
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}.${i}`));
    else if (typeof v === 'object' && v !== null) for (const k of Object.keys(v).sort()) walk((v as Record<string, unknown>)[k], `${path}.${k}`);
  };
  walk(value, prefix);
  return out;
}

/** The path of the first tensor of `value` holding NaN or ±Infinity (one device sync), or undefined. */
export function firstNonFinite(value: unknown, prefix: string): string | undefined {
  const entries = tensorsWithPaths(value, prefix).filter((e) => e.tensor.dtype === 'float32' && e.tensor.size > 0);
  if (entries.length === 0) return undefined;
  const flags = read(() => tf.stack(entries.map((e) => tf.any(tf.logicalNot(tf.isFinite(e.tensor))))));
  const i = flags.findIndex((f) => f !== 0);
  return i < 0 ? undefined : entries[i]?.path;
}

/**
 * The global L2 norm of `leaves` computed without float32 overflow (scaled by the largest
 * magnitude), as a float64 number: finite for every finite gradient, where a plain
 * `sqrt(sum(g^2))` in float32 is Infinity once the squares exceed {@link FLOAT32_MAX}.
 */
export function robustGlobalNorm(leaves: readonly tf.Tensor[]): number {
  const live = leaves.filter((t) => t.size > 0);
  if (live.length === 0) return 0;
  const maxAbs = read(() => tf.max(tf.stack(live.map((t) => tf.max(tf.abs(t))))))[0] as number;
  if (!(maxAbs > 0) || !Number.isFinite(maxAbs)) return maxAbs > 0 ? Infinity : 0;
  const scaledSq = read(() => tf.addN(live.map((t) => tf.sum(tf.square(tf.div(t, maxAbs))))))[0] as number;
  return maxAbs * Math.sqrt(scaledSq);
}

function describeShapes(entries: readonly { path: string; tensor: tf.Tensor }[]): Map<string, string> {
  return new Map(entries.map((e) => [e.path, `${e.tensor.dtype}[${e.tensor.shape.join(', ')}]`]));
}

/**
 * Checks that a restored state value has the structure, dtypes and shapes of `reference`
 * (a freshly initialized one), naming the first field that differs. `CHECKPOINT_MISMATCH`.
 */
export function checkSameLayout(restored: unknown, reference: unknown, field: string): void {
  const got = describeShapes(tensorsWithPaths(restored, field));
  const want = describeShapes(tensorsWithPaths(reference, field));
  for (const [path, shape] of want) {
    const g = got.get(path);
    if (g === undefined) throw new LoptError('CHECKPOINT_MISMATCH', `The meta-train checkpoint has no tensor at '${path}' (expected ${shape} for this config).`, { path });
    if (g !== shape) throw new LoptError('CHECKPOINT_MISMATCH', `The meta-train checkpoint's '${path}' is ${g}, but this config needs ${shape}.`, { path });
  }
  for (const path of got.keys()) {
    if (!want.has(path)) throw new LoptError('CHECKPOINT_MISMATCH', `The meta-train checkpoint has a tensor at '${path}' that this config does not have.`, { path });
  }
}

/** Checks a counter of the checkpoint's metadata: an integer in [0, max], naming the field. */
export function checkCounter(field: string, value: unknown, max: number, why: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new LoptError('CHECKPOINT_INVALID', `The meta-train checkpoint's field '${field}' must be an integer in [0, ${max}] (${why}), got ${JSON.stringify(value)}.`, { option: field });
  }
  return value;
}
