import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber } from '@lopt/core';

/**
 * A recorded hyperparameter trajectory: the values the wrapped optimizer used at the
 * recorded steps (0 = the first update).
 */
export interface HyperparamTrajectory {
  /**
   * The recorded steps, increasing. Trajectories live in the optimizer state as a
   * `[capacity, k]` float32 tensor: step `s` is recorded while `s` is a multiple of the
   * current stride; when the buffer is full every other row is dropped and the stride
   * doubles. So a run of any length keeps between `capacity / 2` and `capacity` evenly
   * spaced rows in bounded memory, and the state has a fixed shape (it checkpoints and
   * resumes bit-exactly).
   */
  readonly steps: number[];
  /** One series per name (a hyperparameter, or a step-size block), aligned with `steps`. */
  readonly values: Record<string, number[]>;
  /** The series names, in column order. */
  readonly names: string[];
}

/** Default number of trajectory rows kept in the state. */
export const DEFAULT_TRAJECTORY_LENGTH = 1024;

/** Validates a trajectory capacity: 0 (off) or an even integer >= 2. */
export function checkTrajectoryLength(value: unknown): number {
  const n = checkNumber('trajectoryLength', value ?? DEFAULT_TRAJECTORY_LENGTH, { integer: true, min: 0, max: 1 << 20 });
  if (n !== 0 && (n < 2 || n % 2 !== 0)) {
    throw new LoptError('INVALID_OPTION', `Option 'trajectoryLength' must be 0 (off) or an even integer >= 2, got ${n}.`, {
      option: 'trajectoryLength',
    });
  }
  return n;
}

/** The stride after `n` recorded steps: the smallest power of two with ceil(n / stride) <= capacity. */
export function trajectoryStride(n: number, capacity: number): number {
  let stride = 1;
  while (Math.ceil(n / stride) > capacity) stride *= 2;
  return stride;
}

/** An empty buffer for `k` series. */
export function emptyTrajectory(capacity: number, k: number): tf.Tensor2D {
  return tf.zeros([capacity, k], 'float32');
}

/**
 * Records `row` (shape `[k]`) as step `step` (0-based; steps are recorded in order) and
 * returns the new buffer; the given buffer is not disposed.
 */
export function recordTrajectory(buffer: tf.Tensor2D, step: number, row: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const [capacity, k] = buffer.shape;
    const before = trajectoryStride(step, capacity);
    const after = trajectoryStride(step + 1, capacity);
    let buf: tf.Tensor2D = buffer;
    if (after > before) {
      // Keep rows 0, 2, 4, ... (the steps that are multiples of the new stride).
      const kept = tf.gather(buf, tf.range(0, capacity, 2, 'int32'));
      buf = tf.concat([kept, tf.zeros([capacity - kept.shape[0], k])], 0) as tf.Tensor2D;
    }
    if (step % after !== 0) return buf === buffer ? tf.clone(buffer) : buf;
    const r = step / after;
    const parts: tf.Tensor2D[] = [];
    if (r > 0) parts.push(tf.slice(buf, [0, 0], [r, k]));
    parts.push(tf.reshape(row, [1, k]));
    if (r + 1 < capacity) parts.push(tf.slice(buf, [r + 1, 0], [capacity - r - 1, k]));
    return tf.concat(parts, 0) as tf.Tensor2D;
  });
}

/** Reads a buffer after `count` recorded steps. */
export function readTrajectoryBuffer(buffer: tf.Tensor2D, count: number, names: readonly string[], stepOffset = 0): HyperparamTrajectory {
  const [capacity, k] = buffer.shape;
  if (k !== names.length) {
    throw new LoptError('TREE_MISMATCH', `Trajectory has ${k} columns but ${names.length} names.`, { path: 'trajectory' });
  }
  const stride = trajectoryStride(count, capacity);
  const rows = count === 0 ? 0 : Math.floor((count - 1) / stride) + 1;
  const data = buffer.dataSync();
  const steps: number[] = [];
  const values: Record<string, number[]> = {};
  for (const n of names) values[n] = [];
  for (let r = 0; r < rows; r++) {
    steps.push(r * stride + stepOffset);
    names.forEach((n, j) => (values[n] as number[]).push(data[r * k + j] as number));
  }
  return { steps, values, names: [...names] };
}
