import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, uniform, type Key, type Task, type TensorTree } from '@lopt/core';
import { checkInt, scalarTidy, MAX_DIM } from './common.js';

/** A data-free task on one vector `[dim]`, initial points `~ U[-halfWidth, halfWidth)`, with loss `loss(x)`. */
function vectorTask(name: string, dim: number, halfWidth: number, loss: (x: tf.Tensor1D) => tf.Tensor): Task {
  return {
    name,
    init: (k: Key) => uniform(k, [dim], { low: -halfWidth, high: halfWidth }),
    loss: (params: TensorTree) => scalarTidy(() => loss(params as tf.Tensor1D)),
  };
}

/** Options of {@link rosenbrockTask}. */
export interface RosenbrockTaskOptions {
  /** Number of coordinates (>= 2). Default 2. */
  readonly dim?: number;
  /** The `a` of `(a - x_i)^2`. Default 1. */
  readonly a?: number;
  /** The `b` of `b (x_{i+1} - x_i^2)^2`. Default 100. */
  readonly b?: number;
}

/**
 * The (extended) Rosenbrock function `sum_i b (x_{i+1} - x_i^2)^2 + (a - x_i)^2`, minimum 0
 * at `x = (a, a^2, ...)` for `a = 1`; initial points `~ U[-2, 2)`. Data-free.
 */
export function rosenbrockTask(options: RosenbrockTaskOptions = {}): Task {
  const dim = checkInt('dim', options.dim ?? 2, 2, MAX_DIM);
  const a = checkNumber('a', options.a ?? 1);
  const b = checkNumber('b', options.b ?? 100, { min: 0 });
  return vectorTask(`rosenbrock-${dim}`, dim, 2, (x) => {
    const head = tf.slice(x, [0], [dim - 1]);
    const tail = tf.slice(x, [1], [dim - 1]);
    return tf.add(tf.mul(b, tf.sum(tf.square(tf.sub(tail, tf.square(head))))), tf.sum(tf.square(tf.sub(a, head))));
  });
}

/** Options of {@link rastriginTask}. */
export interface RastriginTaskOptions {
  /** Number of coordinates. Default 2. */
  readonly dim?: number;
  /** Amplitude of the cosine ripples. Default 10. */
  readonly amplitude?: number;
}

/**
 * The Rastrigin function `A n + sum(x^2 - A cos(2 pi x))`: many local minima, global
 * minimum 0 at the origin; initial points `~ U[-5.12, 5.12)`. Data-free.
 */
export function rastriginTask(options: RastriginTaskOptions = {}): Task {
  const dim = checkInt('dim', options.dim ?? 2, 1, MAX_DIM);
  const amplitude = checkNumber('amplitude', options.amplitude ?? 10, { min: 0 });
  return vectorTask(`rastrigin-${dim}`, dim, 5.12, (x) => {
    const ripple = tf.mul(amplitude, tf.cos(tf.mul(2 * Math.PI, x)));
    return tf.add(amplitude * dim, tf.sum(tf.sub(tf.square(x), ripple)));
  });
}
