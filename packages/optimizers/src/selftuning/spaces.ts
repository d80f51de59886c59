import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkOneOf } from '@lopt/core';

/**
 * The space a self-tuned hyperparameter is optimized in. The hyper-optimizer sees the
 * unconstrained value `x`; the wrapped optimizer receives `value = map(x)`:
 * - `raw`: `value = x` (Chandra et al.'s SGD and Adam learning rates; the value may leave
 *   its valid range);
 * - `log`: `value = exp(x)`, so the value stays positive and hyper-steps are relative
 *   (`d/dx = value * d/dvalue`);
 * - `unit`: `value = (tanh(x) + 1) / 2`, so the value stays in (0, 1) (Chandra et al.'s
 *   Adam betas).
 */
export type HyperSpace = 'raw' | 'log' | 'unit';

/** The spaces {@link HyperSpace} can name. */
export const HYPER_SPACES = ['raw', 'log', 'unit'] as const;

/** Checks a space name. */
export function checkSpace(option: string, value: unknown): HyperSpace {
  return checkOneOf(option, value, HYPER_SPACES) as HyperSpace;
}

/** `map(x)` of a space, as a differentiable tensor op. */
export function toConstrained(space: HyperSpace, x: tf.Scalar): tf.Scalar {
  switch (space) {
    case 'raw':
      return x;
    case 'log':
      return tf.exp(x);
    case 'unit':
      return tf.div(tf.add(tf.tanh(x), 1), 2);
  }
}

/**
 * The unconstrained `x` with `map(x) = value` (float64 on the host). Throws
 * `LoptError('INVALID_OPTION')` naming the hyperparameter when the value is outside the
 * open range of the space (a learning rate of 0 has no logarithm; a momentum of 0 or 1 is
 * on the boundary of the unit interval, where tanh never arrives).
 */
export function toUnconstrained(space: HyperSpace, value: number, option: string): number {
  if (!Number.isFinite(value)) {
    throw new LoptError('INVALID_OPTION', `Hyperparameter '${option}' must be finite to be tuned, got ${value}.`, { option });
  }
  switch (space) {
    case 'raw':
      return value;
    case 'log':
      if (!(value > 0)) {
        throw new LoptError('INVALID_OPTION', `Hyperparameter '${option}' is tuned in log space, so it must be > 0, got ${value}.`, { option });
      }
      return Math.log(value);
    case 'unit':
      if (!(value > 0 && value < 1)) {
        throw new LoptError(
          'INVALID_OPTION',
          `Hyperparameter '${option}' is tuned in the unit space (tanh x + 1)/2, so it must be in (0, 1), got ${value}.`,
          { option },
        );
      }
      return Math.atanh(2 * value - 1);
  }
}
