// Test-only helpers for the self-tuning optimizers: a separable quadratic whose gradient
// is computed both in tensors and in float64 plain JS.
import * as tf from '@tensorflow/tfjs-core';
import { LoptError, advance, disposeTree, treeLeaves, type OptState, type Optimizer, type TensorTree } from '@lopt/core';

/** Curvatures, targets and start of f(w) = 1/2 sum c (w - t)^2 over 7 coordinates (a: [3], w: [2, 2]). */
export const CURV = [1.0, 0.5, 2.0, 0.8, 1.5, 0.3, 1.2];
export const TARGET = [0.3, -0.2, 0.5, 1.0, -0.7, 0.1, 0.4];
export const START = [0.5, -1.5, 2.0, 0.25, -0.75, 1.25, -0.125];

/** The flat vector as the test tree `{ a: [3], w: [2, 2] }`. */
export function toTree(v: readonly number[]): TensorTree {
  return { a: tf.tensor1d(v.slice(0, 3)), w: tf.tensor2d(v.slice(3, 7), [2, 2]) };
}

/** The test tree as a flat float64 array. */
export function fromTree(t: TensorTree): number[] {
  return treeLeaves(t).flatMap((l) => Array.from(l.dataSync()));
}

/** Gradient of the quadratic in float64. */
export function quadGrad(w: readonly number[]): number[] {
  return w.map((x, i) => (CURV[i] as number) * (x - (TARGET[i] as number)));
}

/** Loss of the quadratic in float64. */
export function quadLoss(w: readonly number[]): number {
  return w.reduce((s, x, i) => s + 0.5 * (CURV[i] as number) * (x - (TARGET[i] as number)) ** 2, 0);
}

/** Dot product in float64. */
export function dot(a: readonly number[], b: readonly number[]): number {
  return a.reduce((s, x, i) => s + x * (b[i] as number), 0);
}

/**
 * Runs `opt` on the quadratic for `steps` steps (gradients computed from the current
 * params in float32 tensors), calling `observe` after each step; disposes everything.
 */
export function runQuadratic<S>(opt: Optimizer<S>, steps: number, observe: (state: OptState<S>, step: number) => void = () => {}): number[] {
  let state = opt.init(toTree(START));
  const c = toTree(CURV);
  const t = toTree(TARGET);
  for (let i = 0; i < steps; i++) {
    const grads = tf.tidy(() => {
      const p = treeLeaves(state.params);
      const cl = treeLeaves(c);
      const tl = treeLeaves(t);
      return { a: tf.mul(cl[0] as tf.Tensor, tf.sub(p[0] as tf.Tensor, tl[0] as tf.Tensor)), w: tf.mul(cl[1] as tf.Tensor, tf.sub(p[1] as tf.Tensor, tl[1] as tf.Tensor)) };
    });
    state = advance(opt, state, grads);
    disposeTree(grads);
    observe(state, i);
  }
  const out = fromTree(state.params);
  disposeTree(state.params);
  disposeTree(state.state as TensorTree);
  disposeTree(c);
  disposeTree(t);
  return out;
}

/** A float64 Adam step (optax form, epsilon outside the root) with its state. */
export function adamStep(
  w: readonly number[],
  g: readonly number[],
  m: readonly number[],
  v: readonly number[],
  t: number,
  h: { lr: number; b1: number; b2: number; eps: number; epsRoot?: number },
): { w: number[]; m: number[]; v: number[]; dir: number[] } {
  const m2 = m.map((x, i) => h.b1 * x + (1 - h.b1) * (g[i] as number));
  const v2 = v.map((x, i) => h.b2 * x + (1 - h.b2) * (g[i] as number) ** 2);
  const dir = m2.map((x, i) => x / (1 - h.b1 ** t) / (Math.sqrt((v2[i] as number) / (1 - h.b2 ** t) + (h.epsRoot ?? 0)) + h.eps));
  return { w: w.map((x, i) => x - h.lr * (dir[i] as number)), m: m2, v: v2, dir };
}

/** What `f` throws, as `code:option` (or `code:path`) for a LoptError; 'no error' when it returns. */
export function errorCode(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof LoptError ? `${e.code}:${e.option ?? e.path ?? ''}` : String(e);
  }
  return 'no error';
}

/**
 * Takes one step of `opt` from `{ w: [1] }` with gradient 1, then expects the second update,
 * with the single gradient value `bad`, to throw an error matching `message`; disposes everything.
 */
export function expectSecondStepThrows<S>(opt: Optimizer<S>, bad: number, message: RegExp): void {
  let state = opt.init({ w: tf.tensor1d([1]) });
  const g1 = { w: tf.tensor1d([1]) };
  state = advance(opt, state, g1);
  const g2 = { w: tf.tensor1d([bad]) };
  let thrown: unknown;
  try {
    opt.update(state, g2);
  } catch (e) {
    thrown = e;
  }
  disposeTree([g1, g2, state.params, state.state as TensorTree]);
  if (!(thrown instanceof Error) || !message.test(thrown.message)) throw new Error(`expected an error matching ${message}, got ${String(thrown)}`);
}
