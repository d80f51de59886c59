import * as tf from '@tensorflow/tfjs-core';
import { formatPath, treeLeaves, treePaths, type TensorTree } from '@lopt/core';

/** Tolerances of {@link expectClose}: passes when |a - b| <= atol + rtol * |b|. */
export interface CloseOptions {
  /** Relative tolerance. Default 1e-5. */
  readonly rtol?: number;
  /** Absolute tolerance. Default 1e-7. */
  readonly atol?: number;
}

function fail(message: string): never {
  throw new Error(message);
}

/** Throws the failure of a conformance suite about `subject`, e.g. `optimizer 'adam': ...`. */
export function failFor(kind: string, subject: { readonly name: string }, message: string): never {
  throw new Error(`${kind} '${subject.name}': ${message}`);
}

/**
 * Asserts that `actual` (a tensor, typed array or number list) equals `expected`
 * elementwise within tolerance; NaN matches only NaN. Throws an Error naming the first
 * differing index otherwise.
 */
export function expectClose(
  actual: tf.Tensor | ArrayLike<number> | number,
  expected: ArrayLike<number> | number,
  options: CloseOptions & { label?: string } = {},
): void {
  const rtol = options.rtol ?? 1e-5;
  const atol = options.atol ?? 1e-7;
  const a = typeof actual === 'number' ? [actual] : actual instanceof tf.Tensor ? Array.from(actual.dataSync()) : Array.from(actual);
  const e = typeof expected === 'number' ? [expected] : Array.from(expected);
  const label = options.label ? `${options.label}: ` : '';
  if (a.length !== e.length) fail(`${label}length ${a.length} differs from expected ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = e[i] as number;
    if (Number.isNaN(y) ? !Number.isNaN(x) : !(Math.abs(x - y) <= atol + rtol * Math.abs(y)) && x !== y) {
      fail(`${label}element ${i}: got ${x}, expected ${y} (rtol ${rtol}, atol ${atol})`);
    }
  }
}

/** {@link expectClose} over every leaf of two trees of the same structure; messages name the tree path. */
export function expectTreeClose(actual: TensorTree, expected: TensorTree, options: CloseOptions = {}): void {
  const pa = treePaths(actual);
  const pe = treePaths(expected);
  if (pa.join('|') !== pe.join('|')) fail(`tree paths differ: [${pa.join(', ')}] vs [${pe.join(', ')}]`);
  const la = treeLeaves(actual);
  const le = treeLeaves(expected);
  la.forEach((x, i) => {
    const y = le[i] as tf.Tensor;
    if (x.shape.join(',') !== y.shape.join(',')) fail(`${pa[i]}: shape [${x.shape}] vs [${y.shape}]`);
    expectClose(x, y.dataSync() as ArrayLike<number>, { ...options, label: pa[i] ?? formatPath([]) });
  });
}

/**
 * Runs `step` `iterations` times after `warmup` runs and returns the growth of
 * `tf.memory().numTensors` between the end of warm-up and the end (0 means no leak).
 */
export function leakCheck(step: (i: number) => void, iterations = 100, warmup = 3): number {
  for (let i = 0; i < warmup; i++) step(i);
  const before = tf.memory().numTensors;
  for (let i = 0; i < iterations; i++) step(warmup + i);
  return tf.memory().numTensors - before;
}
