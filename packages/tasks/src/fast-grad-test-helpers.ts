// Test-only helpers (not exported from the package barrel) shared by the tests of the
// hand-derived gradients: a loss on one forced path, its value and gradients as host arrays,
// element-wise comparison, the second-order gradient through it, and central differences.
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { disposeTree, key, treeFlatten, treeLeaves, treeUnflatten, type Task, type TensorTree } from '@lopt/core';
import { leakCheck } from '@lopt/testkit';
import type { GradPath } from './fast-grad.js';

/** A loss of some leaves on one gradient path (`P`: the paths the loss knows). */
export type PathLoss<P extends string = GradPath> = (leaves: tf.Tensor[], path: P) => tf.Scalar;

/** Value and gradients (one per leaf) of `loss` on `path`, as host arrays. */
export function valueAndGradsOn<P extends string>(loss: PathLoss<P>, leaves: tf.Tensor[], path: P): { value: number; grads: Float32Array[] } {
  const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => loss(ls, path))(leaves);
  const out = { value: value.dataSync()[0] as number, grads: grads.map((g) => Float32Array.from(g.dataSync())) };
  tf.dispose([value, ...grads]);
  return out;
}

/** Asserts every `got[i][j]` is within `abs + rel * max|want[i]|` of `want[i][j]` (and the gradients are not all ~0). */
export function expectGradsClose(got: ArrayLike<number>[], want: ArrayLike<number>[], rel = 1e-5, abs = 1e-6): void {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    const g = got[i] as ArrayLike<number>;
    expect(g.length).toBe(w.length);
    const scale = Array.from(w).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(scale).toBeGreaterThan(1e-4);
    for (let j = 0; j < w.length; j++) expect(Math.abs((g[j] as number) - (w[j] as number))).toBeLessThan(abs + rel * scale);
  });
}

/**
 * d/dθ of |∇θ loss|² (differentiates through the inner gradient: two tapes) with the inner
 * loss on `path`, each leaf's values joined, or the error tfjs raised (some ops, e.g.
 * `tf.logSoftmax`, cannot be differentiated twice in tfjs 4.22).
 */
export function secondOrderOn(loss: PathLoss, leaves: tf.Tensor[], path: GradPath): string {
  const inner = (...ls: tf.Tensor[]): tf.Scalar => loss(ls, path);
  const outer = (...ls: tf.Tensor[]): tf.Scalar => tf.addN(tf.grads(inner)(ls).map((g) => tf.sum(tf.square(g)))) as tf.Scalar;
  try {
    const gs = tf.grads(outer)(leaves);
    const out = gs.map((g) => Array.from(g.dataSync()).join(',')).join(';');
    tf.dispose(gs);
    return out;
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

/** Central difference `(f(x + h e_j) - f(x - h e_j)) / 2h` of a float64 function of `host` at coordinate `j` (restores `host[j]`). */
export function centralDifference(f: () => number, host: Float64Array, j: number, h = 1e-6): number {
  const keep = host[j] as number;
  host[j] = keep + h;
  const up = f();
  host[j] = keep - h;
  const down = f();
  host[j] = keep;
  return (up - down) / (2 * h);
}

/** float64 copy of `values` rounded through float32 (what a float32 tensor of them holds). */
export function f32(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(Float32Array.from(Array.from(values)));
}

/**
 * The gradients of `task.loss` on one train batch under one tape (the task's fast path) against
 * `reference` (the same loss forced onto the autodiff path), then `steps` gradient steps without
 * a tensor leak.
 */
export function checkTaskFastGrad(task: Task, reference: (params: TensorTree, batch: TensorTree) => tf.Scalar, steps = 100): void {
  const params = task.init(key(11));
  const { structure } = treeFlatten(params);
  const leaves = treeLeaves(params);
  const batch = task.datasets!.train.sample(key(12)) as TensorTree;
  const viaTask = (): tf.Tensor[] => tf.grads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch))(leaves);
  const ref = tf.grads((...ls: tf.Tensor[]) => tf.tidy(() => reference(treeUnflatten(structure, ls), batch)))(leaves);
  const got = viaTask();
  expectGradsClose(got.map((g) => g.dataSync()), ref.map((g) => g.dataSync()), 1e-5, 1e-7);
  tf.dispose([...got, ...ref]);
  expect(leakCheck(() => tf.dispose(viaTask()), steps)).toBe(0);
  disposeTree([params, batch]);
}

/**
 * The gradients of `task.loss` on `batch` as autodiff computes them: taken inside an outer
 * gradient tape, where every task's `'auto'` path is the autodiff one.
 */
export function autodiffGradsViaNestedTape(task: Task, params: TensorTree, batch: TensorTree): Float32Array[] {
  const { structure } = treeFlatten(params);
  const leaves = treeLeaves(params);
  let out: Float32Array[] = [];
  const outer = (y: tf.Tensor): tf.Scalar => {
    const gs = tf.grads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch))(leaves);
    out = gs.map((g) => Float32Array.from(g.dataSync()));
    tf.dispose(gs);
    return tf.sum(tf.square(y));
  };
  tf.dispose(tf.grad(outer)(tf.scalar(1)));
  return out;
}
