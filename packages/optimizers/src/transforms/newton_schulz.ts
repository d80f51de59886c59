import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, isTensor, treeMap, type GradientTransformation } from '@lopt/core';
import type { EmptyState } from '../transformation.js';

/** Options of {@link newtonSchulz} and {@link scaleByNewtonSchulz}. */
export interface NewtonSchulzOptions {
  /** Coefficients `(a, b, c)` of the quintic iteration. Default `[3.4445, -4.7750, 2.0315]` (Muon's). */
  readonly coeffs?: readonly [number, number, number];
  /** Number of iterations. Default 5. */
  readonly iterations?: number;
  /** Added to the Frobenius norm before the first normalization. Default 1e-8. */
  readonly eps?: number;
}

/** {@link NewtonSchulzOptions} with defaults filled in and checked. */
export interface NewtonSchulzConfig {
  /** Coefficients `(a, b, c)`. */
  readonly coeffs: readonly [number, number, number];
  /** Number of iterations. */
  readonly iterations: number;
  /** Norm epsilon. */
  readonly eps: number;
}

/** Muon's quintic coefficients `(3.4445, -4.7750, 2.0315)`. */
export const NEWTON_SCHULZ_COEFFS: readonly [number, number, number] = Object.freeze([3.4445, -4.775, 2.0315]) as readonly [number, number, number];

/** Validates Newton–Schulz options (`LoptError` `INVALID_OPTION` naming the option) and fills in the defaults. */
export function newtonSchulzConfig(options: NewtonSchulzOptions = {}): NewtonSchulzConfig {
  if (typeof options !== 'object' || options === null) {
    throw new LoptError('INVALID_OPTION', 'Newton–Schulz options must be an object.', { option: 'options' });
  }
  const coeffs = options.coeffs ?? NEWTON_SCHULZ_COEFFS;
  if (!Array.isArray(coeffs) || coeffs.length !== 3) {
    throw new LoptError('INVALID_OPTION', "Option 'coeffs' must be an array of three numbers [a, b, c].", { option: 'coeffs' });
  }
  coeffs.forEach((c, i) => checkNumber(`coeffs[${i}]`, c));
  return {
    coeffs: [coeffs[0], coeffs[1], coeffs[2]] as const,
    iterations: checkNumber('iterations', options.iterations ?? 5, { integer: true, min: 0, max: 100 }),
    eps: checkNumber('eps', options.eps ?? 1e-8, { min: 0 }),
  };
}

/** The iteration on a batch of wide slices `[..., m, n]` with `m <= n`. */
function iterateWide(x: tf.Tensor, cfg: NewtonSchulzConfig): tf.Tensor {
  const [a, b, c] = cfg.coeffs;
  const norm = tf.sqrt(tf.sum(tf.square(x), [-2, -1], true));
  let y = tf.div(x, tf.add(norm, cfg.eps));
  for (let i = 0; i < cfg.iterations; i++) {
    const p = tf.matMul(y, y, false, true);
    const q = tf.add(tf.mul(p, b), tf.mul(tf.matMul(p, p), c));
    y = tf.add(tf.mul(y, a), tf.matMul(q, y));
  }
  return y;
}

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

/**
 * Newton–Schulz orthogonalization of every matrix slice of `x` (the last two axes; leading
 * axes are a batch), as in Muon and Celo2: each slice `X` is divided by its Frobenius norm
 * plus `eps`, then `iterations` times `P = X X^T; X <- a X + (b P + c P P) X`. A slice with
 * more rows than columns is transposed first (so the Gram matrix is the smaller one) and
 * back at the end. With the default coefficients the singular values land in roughly
 * [0.68, 1.13] rather than exactly 1: the result approximates `U V^T` of the SVD. Pure
 * tfjs matmuls; `x` must be a float32 tensor of rank >= 2 (else `SHAPE_MISMATCH`).
 *
 * @example
 * ```ts
 * const o = newtonSchulz(tf.randomNormal([64, 32]));   // ~ U V^T, shape [64, 32]
 * ```
 */
export function newtonSchulz(x: tf.Tensor, options: NewtonSchulzOptions = {}): tf.Tensor {
  if (!isTensor(x) || x.rank < 2 || x.dtype !== 'float32') {
    const what = isTensor(x) ? `a ${x.dtype} tensor of rank ${x.rank}` : typeof x;
    throw new LoptError('SHAPE_MISMATCH', `newtonSchulz needs a float32 tensor of rank >= 2 (matrix slices in the last two axes), got ${what}.`, { option: 'x' });
  }
  const cfg = newtonSchulzConfig(options);
  return newtonSchulzChecked(x, cfg);
}

/** {@link newtonSchulz} with an already validated config (no checks; for hot loops). */
export function newtonSchulzChecked(x: tf.Tensor, cfg: NewtonSchulzConfig): tf.Tensor {
  return tf.tidy(() => {
    const rows = x.shape[x.rank - 2] as number;
    const cols = x.shape[x.rank - 1] as number;
    if (rows <= cols) return iterateWide(x, cfg);
    const perm = swapLastTwo(x.rank);
    return tf.transpose(iterateWide(tf.transpose(x, perm), cfg), perm);
  });
}

/**
 * A gradient transformation that replaces every update of rank >= 2 by its Newton–Schulz
 * orthogonalization ({@link newtonSchulz}, batched over leading axes) and passes updates of
 * rank 0 and 1 through unchanged. Stateless. The core of Muon and of Celo2's learned step.
 *
 * @example
 * ```ts
 * const muonLike = optimizerFrom(chain(trace({ decay: 0.95 }), scaleByNewtonSchulz(), scaleByLearningRate(0.02)), 'muonLike');
 * ```
 */
export function scaleByNewtonSchulz(options: NewtonSchulzOptions = {}): GradientTransformation<EmptyState> {
  const cfg = newtonSchulzConfig(options);
  return {
    init: () => ({}),
    update: (updates, state) => ({ updates: treeMap((u) => (u.rank >= 2 ? newtonSchulzChecked(u, cfg) : u), updates), state }),
  };
}
