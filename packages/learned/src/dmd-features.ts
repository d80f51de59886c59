import * as tf from '@tensorflow/tfjs-core';

/** Number of DMD features {@link dmdFeatures} returns per parameter. */
export const DMD_FEATURES = 4;

/** Largest magnitude a DMD eigenvalue feature takes (larger ones are clipped: the window is exploding). */
export const DMD_CLIP = 2;

/** Relative ridge of the order-2 fit: `ridge * (S11 + S22) / 2` is added to the normal equations' diagonal. */
const RIDGE = 1e-4;
/** Absolute floor of every denominator (keeps all-zero windows finite; windows are scaled to max 1 first). */
const EPS = 1e-12;
/** Floor of the scale a window is divided by. */
const TINY = 1e-30;
/** Keeps `acos`'s argument off +-1, where its gradient is infinite. */
const ACOS_MARGIN = 1e-6;

/** Sums over the time axis (axis 0) of the elementwise product of two `[T, N]` windows: `[N]`. */
function dotT(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.sum(tf.mul(a, b), 0);
}

/** Rank-1 DMD eigenvalue `sum x[t+1] x[t] / sum x[t]^2` per column (`perColumn`) or of the whole window. */
function rank1(x: tf.Tensor, w: number, n: number, perColumn: boolean): tf.Tensor {
  const cross = dotT(tf.slice(x, [1, 0], [w - 1, n]), tf.slice(x, [0, 0], [w - 1, n]));
  const energy = dotT(tf.slice(x, [0, 0], [w - 1, n]), tf.slice(x, [0, 0], [w - 1, n]));
  return perColumn ? tf.div(cross, tf.add(energy, EPS)) : tf.div(tf.sum(cross), tf.add(tf.sum(energy), EPS));
}

/**
 * Order-2 DMD of each column of a `[W, N]` window: the least-squares recurrence
 * `x[t+1] = a x[t] + b x[t-1]` (ridge-regularized normal equations, a closed-form 2x2 solve),
 * whose companion matrix `[[a, b], [1, 0]]` has eigenvalues `z^2 - a z - b = 0`. Returns the
 * spectral radius (the dominant root's modulus) and its angle in `[0, pi]` divided by pi
 * (0: real positive, monotone; 1: real negative, sign flipping; between: oscillation).
 */
function order2(x: tf.Tensor2D): { radius: tf.Tensor; angle: tf.Tensor } {
  const w = x.shape[0];
  const n = x.shape[1];
  const next = tf.slice(x, [2, 0], [w - 2, n]);
  const cur = tf.slice(x, [1, 0], [w - 2, n]);
  const prev = tf.slice(x, [0, 0], [w - 2, n]);
  const s11 = dotT(cur, cur);
  const s12 = dotT(cur, prev);
  const s22 = dotT(prev, prev);
  const ridge = tf.add(tf.mul(RIDGE / 2, tf.add(s11, s22)), EPS);
  const a11 = tf.add(s11, ridge);
  const a22 = tf.add(s22, ridge);
  const r1 = dotT(next, cur);
  const r2 = dotT(next, prev);
  const det = tf.sub(tf.mul(a11, a22), tf.square(s12));
  const a = tf.div(tf.sub(tf.mul(a22, r1), tf.mul(s12, r2)), det);
  const b = tf.div(tf.sub(tf.mul(a11, r2), tf.mul(s12, r1)), det);
  const disc = tf.add(tf.square(a), tf.mul(4, b));
  // 1 where the roots are real (disc >= 0), else 0: tf.step has a (zero) gradient, comparisons have none.
  const real = tf.sub(1, tf.step(tf.neg(disc)));
  // Both branches stay finite (and so do their gradients), so blending them adds no NaN.
  const realRadius = tf.mul(0.5, tf.add(tf.abs(a), tf.sqrt(tf.add(tf.relu(disc), EPS))));
  const modulus = tf.sqrt(tf.add(tf.relu(tf.neg(b)), EPS));
  const cos = tf.clipByValue(tf.div(a, tf.mul(2, modulus)), -1 + ACOS_MARGIN, 1 - ACOS_MARGIN);
  const realAngle = tf.step(tf.neg(a));
  const blend = (x: tf.Tensor, y: tf.Tensor) => tf.add(tf.mul(real, x), tf.mul(tf.sub(1, real), y));
  const radius = blend(realRadius, modulus);
  const angle = blend(realAngle, tf.div(tf.acos(cos), Math.PI));
  return { radius: tf.clipByValue(radius, 0, DMD_CLIP), angle };
}

/**
 * DMD features of a window of history, one column per parameter. `x` is `[W, N]`, oldest
 * snapshot first (W >= 4). Returns `[4, N]`:
 * 1. the rank-1 DMD eigenvalue of each parameter's series, `sum x[t+1] x[t] / sum x[t]^2`
 *    (the least-squares one-step linear map of a scalar series), clipped to +-2;
 * 2. the spectral radius of the order-2 DMD (the 2x2 companion fit; see `order2`), clipped to [0, 2];
 * 3. the angle of that dominant eigenvalue divided by pi, in [0, 1];
 * 4. the rank-1 DMD eigenvalue of the whole tensor (snapshots are the tensor's vectors), the
 *    same for every column, clipped to +-2.
 * Every feature is finite for any finite window, including all zeros and constants, and is a
 * differentiable tfjs expression (up to clipping and the real/complex switch).
 */
export function dmdFeatures(x: tf.Tensor2D): tf.Tensor2D {
  const w = x.shape[0];
  const n = x.shape[1];
  // Eigenvalues do not depend on the scale of a series; dividing by the largest magnitude first
  // keeps the products below float32's range for any finite window.
  const cols = tf.div(x, tf.add(tf.max(tf.abs(x), 0, true), TINY));
  const whole = tf.div(x, tf.add(tf.max(tf.abs(x)), TINY));
  const lambda = tf.clipByValue(rank1(cols, w, n, true), -DMD_CLIP, DMD_CLIP);
  const tensorLambda = tf.clipByValue(rank1(whole, w, n, false), -DMD_CLIP, DMD_CLIP);
  const { radius, angle } = order2(cols as tf.Tensor2D);
  return tf.stack([lambda, radius, angle, tf.mul(tensorLambda, tf.onesLike(lambda))], 0) as tf.Tensor2D;
}

/** Shifts a `[W, ...shape]` window by one step: drops the oldest snapshot and appends `g` as the newest. */
export function pushWindow(window: tf.Tensor, g: tf.Tensor): tf.Tensor {
  const w = window.shape[0] as number;
  const rest = tf.slice(window, [1], [w - 1]);
  return tf.concat([rest, tf.expandDims(g, 0)], 0);
}

/**
 * {@link dmdFeatures} as constants of the meta-gradient (its gradient is zero). The features
 * are eigenvalues, so they do not depend on the scale of the history, and their gradients
 * grow as 1 / |history|: on the all-zero windows every run starts from, and on vanishing
 * gradients near a minimum, they are infinite or huge. dmdLOpt therefore treats them as inputs
 * (as it does the step features); meta-gradients flow through the gradient, parameter and
 * momentum features and the MLP.
 */
export const dmdFeaturesNoGrad = tf.customGrad(((x: tf.Tensor2D) => ({
  value: dmdFeatures(x),
  gradFunc: (_dy: tf.Tensor) => tf.zerosLike(x),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor2D) => tf.Tensor2D;
