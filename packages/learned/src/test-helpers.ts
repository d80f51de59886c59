// Test-only helpers (not exported from the package entry).
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { advance, disposeTree, key, normal, split, type Key, type Optimizer, type TensorTree } from '@lopt/core';

/** A small model: a matrix (factored, non-square), a bias vector and a scalar. */
export function smallParams(k: Key, scale = 1): TensorTree {
  const [a, b, c] = split(k, 3) as [Key, Key, Key];
  return { layer: { w: normal(a, [4, 6], { std: scale }), b: normal(b, [6], { std: scale }) }, s: normal(c, [], { std: scale }) };
}

/** Gradients of `0.5 * sum(c * p^2)` for fixed per-leaf curvatures, plus a seeded noise term. */
export function quadraticLoss(params: TensorTree): tf.Scalar {
  const t = params as { layer: { w: tf.Tensor; b: tf.Tensor }; s: tf.Tensor };
  return tf.tidy(() =>
    tf.addN([tf.mul(0.5, tf.sum(tf.square(t.layer.w))), tf.mul(1.5, tf.sum(tf.square(t.layer.b))), tf.mul(0.25, tf.square(t.s))]) as tf.Scalar,
  );
}

/** Values of a tree as plain arrays (for comparisons). */
export function snapshot(tree: TensorTree): number[][] {
  const out: number[][] = [];
  const walk = (x: unknown): void => {
    if (x instanceof tf.Tensor) out.push(Array.from(x.dataSync()));
    else if (Array.isArray(x)) x.forEach(walk);
    else if (x && typeof x === 'object') for (const k of Object.keys(x).sort()) walk((x as Record<string, unknown>)[k]);
  };
  walk(tree);
  return out;
}

/** The diagonal quadratic the schedule and control tests run on: `0.5 * sum(c * x^2)` from `x0`. */
export const DIAGONAL_QUADRATIC: { readonly x0: readonly number[]; readonly c: readonly number[] } = { x0: [1.5, -0.7, 0.3, 2.0], c: [1, 4, 0.5, 2] };

/**
 * `lopt.init(key(0))` after checking that its weight vector is `size` zeros and its bias zero:
 * the meta-parameters at which scheduleAdam and controlAdam start (plain Adam, or nearly).
 */
export function zeroInitialTheta<T extends { w: tf.Tensor; b: tf.Tensor }>(lopt: { init: (k: Key) => T }, size: number): T {
  const theta = lopt.init(key(0));
  expect(Array.from(theta.w.dataSync())).toEqual(new Array(size).fill(0));
  expect(Array.from(theta.b.dataSync())).toEqual([0]);
  return theta;
}

/**
 * Runs `opt` for `steps` steps on `0.5 * sum(c * x^2)` from `x0` (gradient and loss each step,
 * `numSteps` given to `init`); returns the final params and `read(state)` as numbers, state disposed.
 */
export function runDiagonalQuadratic<T>(opt: Optimizer, problem: { x0: readonly number[]; c: readonly number[] }, steps: number, numSteps: number, read: (state: unknown) => T): { x: number[]; read: T } {
  let s = opt.init(tf.tensor1d(problem.x0 as number[]), { numSteps });
  const c = tf.tensor1d(problem.c as number[]);
  for (let t = 0; t < steps; t++) {
    const { g, loss } = tf.tidy(() => ({ g: tf.mul(c, s.params as tf.Tensor), loss: tf.mul(0.5, tf.sum(tf.mul(c, tf.square(s.params as tf.Tensor)))) as tf.Scalar }));
    s = advance(opt, s, g, { loss });
    g.dispose();
    loss.dispose();
  }
  const out = { x: Array.from((s.params as tf.Tensor).dataSync()), read: read(s.state) };
  disposeTree([s.params, s.state as TensorTree]);
  c.dispose();
  return out;
}

/** How many tensors `body` leaves behind after `warm` ran once (`tf.memory().numTensors` before and after; 0 means no leak). */
export function tensorCountGrowth(warm: () => void, body: () => void): number {
  warm();
  const before = tf.memory().numTensors;
  body();
  return tf.memory().numTensors - before;
}

export const testKey = key;

/**
 * One float64 step of Celo-Adam's Adam (decays 0.9 and 0.999, 1e-8 outside the root, 1e-10
 * inside) at step `n` (1-based) with learning rate `lr` on every coordinate of `x`, given the
 * gradient `g`; updates `x` and the moments `m`, `v` in place.
 */
export function adamReferenceStep(x: number[], m: number[], v: number[], g: readonly number[], lr: number, n: number): void {
  for (let i = 0; i < x.length; i++) {
    const gi = g[i] as number;
    m[i] = 0.9 * (m[i] as number) + 0.1 * gi;
    v[i] = 0.999 * (v[i] as number) + 0.001 * gi * gi;
    const mh = (m[i] as number) / (1 - 0.9 ** n);
    const vh = (v[i] as number) / (1 - 0.999 ** n);
    x[i] = (x[i] as number) - (mh * lr) / (1e-8 + Math.sqrt(vh + 1e-10));
  }
}

/**
 * {@link tensorCountGrowth} between a 3-step and a 150-step `run` of a learned-schedule Adam at
 * `theta` (numSteps 200, stepMult 3e-3); frees `theta`.
 */
export function runTensorGrowth<T>(theta: T, run: (theta: T, steps: number, numSteps: number, stepMult: number) => unknown): number {
  const growth = tensorCountGrowth(() => run(theta, 3, 200, 3e-3), () => run(theta, 150, 200, 3e-3));
  disposeTree(theta as unknown as TensorTree);
  return growth;
}
