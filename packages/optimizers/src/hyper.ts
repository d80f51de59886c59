import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, isTensor, type NumberConstraints } from '@lopt/core';

// Option checks shared by every package live in core; re-exported for this package's modules.
export { checkBoolean, checkKnownKeys as checkKnownOptions } from '@lopt/core';

/**
 * A schedule: a pure function from the step (0 for the first update) to a value, usually a
 * learning rate. See `constant`, `cosineDecay`, `warmupCosineDecay` and the other schedules.
 */
export type Schedule = (step: number) => number;

/**
 * A continuous hyperparameter as transformations receive it: a plain number (validated when
 * the transformation is built), or a float32 scalar tensor. Tensors are what
 * `injectHyperparams` passes in, so that hyperparameters can live in the optimizer state,
 * be changed between steps, and be differentiated through (`tf.grad` with respect to a
 * learning rate). A tensor hyperparameter is checked for shape and dtype only: its value is
 * the caller's responsibility.
 */
export type Hyper = number | tf.Scalar;

/** A learning rate: a constant, a {@link Schedule} of the step, or a scalar tensor (see {@link Hyper}). */
export type LearningRate = Hyper | Schedule;

/** Validates a {@link Hyper}: numbers with `checkNumber`, tensors for rank 0 and float32. */
export function checkHyper(option: string, value: unknown, constraints: NumberConstraints = {}): Hyper {
  if (isTensor(value)) {
    if (value.rank !== 0 || value.dtype !== 'float32') {
      throw new LoptError(
        'INVALID_OPTION',
        `Option '${option}' must be a number or a float32 scalar tensor, got a ${value.dtype} tensor of shape [${value.shape.join(', ')}].`,
        { option },
      );
    }
    if (value.isDisposed) {
      throw new LoptError('INVALID_OPTION', `Option '${option}' is a disposed tensor.`, { option });
    }
    return value as tf.Scalar;
  }
  return checkNumber(option, value, constraints);
}

/** Validates a {@link LearningRate}: a non-negative number, a schedule function or a scalar tensor. */
export function checkLearningRate(option: string, value: unknown): LearningRate {
  if (typeof value === 'function') return value as Schedule;
  return checkHyper(option, value, { min: 0 });
}

/**
 * Evaluates a schedule at `step` and checks the result is a finite number (a schedule that
 * returns NaN must not pass silently).
 */
export function evalSchedule(option: string, schedule: Schedule, step: number): number {
  const v = schedule(step);
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new LoptError('NON_FINITE', `Schedule '${option}' returned ${String(v)} at step ${step}.`, { option });
  }
  return v;
}

/**
 * Reads a step counter (an int32 scalar tensor kept in a transformation's state) to the host.
 * Counters live in the state tree so that checkpoints carry them; reading one costs a scalar
 * download, negligible on the CPU and WASM backends.
 */
export function readCount(count: tf.Tensor, path = 'count'): number {
  if (!isTensor(count) || count.rank !== 0) {
    throw new LoptError('TREE_MISMATCH', `State '${path}' must be a scalar counter tensor.`, { path });
  }
  const v = (count.dataSync() as ArrayLike<number>)[0] as number;
  return v;
}

/** A new int32 counter with value `n` (saturating at the int32 maximum, like optax's `safe_increment`). */
export function counter(n: number): tf.Scalar {
  return tf.scalar(Math.min(n, 2147483647), 'int32');
}

/** `1 - h` for a number or scalar tensor. */
export function oneMinus(h: Hyper): Hyper {
  return typeof h === 'number' ? 1 - h : (tf.sub(1, h) as tf.Scalar);
}

/** `h ** t` for a number or scalar tensor and an integer exponent. */
export function powHyper(h: Hyper, t: number): Hyper {
  return typeof h === 'number' ? h ** t : (tf.pow(h, tf.scalar(t)) as tf.Scalar);
}

/** `a * b` for numbers or scalar tensors (numbers stay numbers). */
export function mulHyper(a: Hyper, b: Hyper): Hyper {
  return typeof a === 'number' && typeof b === 'number' ? a * b : (tf.mul(a, b) as tf.Scalar);
}

/** `a / b` for numbers or scalar tensors (numbers stay numbers). */
export function divHyper(a: Hyper, b: Hyper): Hyper {
  return typeof a === 'number' && typeof b === 'number' ? a / b : (tf.div(a, b) as tf.Scalar);
}

/** `-h` for a number or scalar tensor. */
export function negHyper(h: Hyper): Hyper {
  return typeof h === 'number' ? -h : tf.neg(h);
}

/** True when `h` is the number 0 (a tensor is never treated as a known zero). */
export function isZero(h: Hyper): boolean {
  return typeof h === 'number' && h === 0;
}

/** Reads a learning rate for `step`: evaluates schedules, passes numbers and tensors through. */
export function learningRateAt(option: string, lr: LearningRate, step: number): Hyper {
  return typeof lr === 'function' ? evalSchedule(option, lr, step) : lr;
}
