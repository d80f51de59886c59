import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, type Dataset, type Datasets, type Key, foldIn } from '@lopt/core';

/**
 * Largest dimension of the vector tasks and families (quadratics, Rosenbrock, Rastrigin):
 * one million float32 values (4 MB) per parameter vector. A larger `dim` (say `1e12`) is
 * refused up front instead of failing deep inside an allocation.
 */
export const MAX_DIM = 1_000_000;

/** Validates an integer option in `[min, max]` (default: unbounded above) and returns it. */
export function checkInt(option: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  return checkNumber(option, value, { integer: true, min, max });
}

/** Validates an array of positive integers (layer widths and similar). */
export function checkIntList(option: string, value: unknown, min: number, max: number, maxLength = 16): number[] {
  if (!Array.isArray(value) || value.length > maxLength) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be an array of at most ${maxLength} integers in [${min}, ${max}], got ${JSON.stringify(value)}.`, { option });
  }
  return value.map((v, i) => checkInt(`${option}[${i}]`, v, min, max));
}

/** Validates an array of finite numbers of a given length. */
export function checkNumberList(option: string, value: unknown, length: number): number[] {
  if (!Array.isArray(value) || value.length !== length) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be an array of ${length} finite numbers.`, { option });
  }
  return value.map((v, i) => checkNumber(`${option}[${i}]`, v));
}

/** Validates that `value` is a plain object (a config or an options bag) and returns it. */
export function checkRecord(option: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be an object, got ${JSON.stringify(value)}.`, { option });
  }
  return value as Record<string, unknown>;
}

/** The names of the four data splits, in the order their keys are derived. */
export const SPLITS = ['train', 'innerValid', 'outerValid', 'test'] as const;
/** One of {@link SPLITS}. */
export type SplitName = (typeof SPLITS)[number];

/**
 * Datasets for an infinite generated data stream: split `s` samples from `foldIn(key, s)`,
 * so the splits are independent streams and the same key gives the same batch.
 */
export function generatedDatasets<B>(sampleSplit: (key: Key, split: SplitName) => B): Datasets<B> {
  const make = (index: number): Dataset<B> => ({
    sample: (k: Key) => sampleSplit(foldIn(k, index), SPLITS[index] as SplitName),
  });
  return { train: make(0), innerValid: make(1), outerValid: make(2), test: make(3) };
}

/**
 * The classification normalizer of learned_optimization: clips a loss to `[0, 1.5 ln C]`
 * and maps NaN and infinities to the top, so meta-losses of different tasks are comparable.
 */
export function classificationNormalizer(numClasses: number): (loss: number) => number {
  checkInt('numClasses', numClasses, 2);
  const top = 1.5 * Math.log(numClasses);
  return (loss: number) => (Number.isFinite(loss) ? Math.min(Math.max(loss, 0), top) : top);
}

/** Mean softmax cross-entropy of `logits` `[N, C]` against integer `labels` `[N]`. */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, numClasses: number): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(tf.cast(labels, 'int32'), numClasses);
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), -1))) as tf.Scalar;
  });
}

/** Mean sigmoid cross-entropy of logits `z` against 0/1 targets `y` (numerically stable form). */
export function sigmoidCrossEntropy(z: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    // max(z, 0) - z y + log(1 + exp(-|z|))
    const loss = tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
    return tf.mean(loss) as tf.Scalar;
  });
}

/**
 * Identity in the forward pass, zero gradient (JAX's `lax.stop_gradient`), built with
 * `tf.customGrad` so it composes with `tf.grad`.
 */
export const stopGradient: (x: tf.Tensor) => tf.Tensor = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.zerosLike(dy as tf.Tensor) };
}) as unknown as (x: tf.Tensor) => tf.Tensor;

/** Reads a scalar loss tensor as a number (for normalizers and tests). */
export function scalarValue(t: tf.Tensor): number {
  return t.dataSync()[0] as number;
}

/** Log-uniform sample in `[low, high]` from a unit uniform `u`. */
export function logUniform(u: number, low: number, high: number): number {
  return Math.exp(Math.log(low) + u * (Math.log(high) - Math.log(low)));
}

/** Log-uniform integer in `[low, high]` from a unit uniform `u` (as learned_optimization's `log_int`, inclusive top). */
export function logUniformInt(u: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, Math.floor(Math.exp(Math.log(low) + u * (Math.log(high + 1) - Math.log(low))))));
}

/** Picks an element of `values` with a unit uniform `u`. */
export function choose<T>(u: number, values: readonly T[]): T {
  return values[Math.min(values.length - 1, Math.floor(u * values.length))] as T;
}

/** Runs a loss computation in `tf.tidy` and types the result as a scalar. */
export function scalarTidy(fn: () => tf.Tensor): tf.Scalar {
  return tf.tidy(fn) as tf.Scalar;
}
