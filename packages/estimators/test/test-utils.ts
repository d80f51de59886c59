import * as tf from '@tensorflow/tfjs-core';
import { advance, disposeReplaced, disposeTree, foldIn, key as makeKey, split, treeFlatten, treeLeaves, treeUnflatten, type GradientEstimator, type Key, type Optimizer, type TaskFamily, type TensorTree } from '@lopt/core';
import { gaussHermite } from './problems/quadratic-sgd.js';

/**
 * `E[f(eps)]` for `eps ~ N(0, std^2 I_dim)` by a tensor-product Gauss-Hermite rule with
 * `nodes` points per dimension (float64). Test helper.
 */
export function gaussianExpectation(dim: number, std: number, nodes: number, f: (eps: Float64Array) => number): number {
  const { nodes: z, weights: w } = gaussHermite(nodes);
  const idx = new Array<number>(dim).fill(0);
  const eps = new Float64Array(dim);
  let total = 0;
  for (;;) {
    let weight = 1;
    for (let d = 0; d < dim; d++) {
      eps[d] = std * (z[idx[d] as number] as number);
      weight *= w[idx[d] as number] as number;
    }
    total += weight * f(eps);
    let d = 0;
    while (d < dim && (idx[d] = (idx[d] as number) + 1) === nodes) idx[d++] = 0;
    if (d === dim) break;
  }
  return total;
}

/** Mean and standard error of samples (float64). */
export function meanAndSE(xs: readonly number[]): { mean: number; se: number; sd: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, sd: Math.sqrt(v), se: Math.sqrt(v / n) };
}

/**
 * Runs `calls` estimates from a fresh worker state (key `foldIn(base, sample)`) and
 * returns the average of the scalar gradient over the calls. Disposes everything.
 */
export function episodeAverage(est: GradientEstimator, theta: TensorTree, base: Key, sample: number, calls: number): number {
  const k = foldIn(base, sample);
  let ws = est.init(theta, foldIn(k, 0));
  let sum = 0;
  for (let c = 0; c < calls; c++) {
    const r = est.estimate(theta, ws, foldIn(k, c + 1));
    sum += treeLeaves(r.grad).reduce((a, g) => a + (g.dataSync()[0] as number), 0);
    disposeTree(r.grad);
    disposeReplaced(ws, r.state);
    ws = r.state;
  }
  disposeReplaced(ws, undefined);
  return sum / calls;
}

/** A fixed test key. */
export const TEST_KEY = makeKey(20260521);

/** Per-task mean normalized training loss of `steps` inner steps with `opt` on `tasks` held-out tasks (task `i` from `foldIn(k, i)`). */
export function heldOutLosses(opt: (numSteps: number) => Optimizer<unknown>, family: TaskFamily, k: Key, tasks: number, steps: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < tasks; i++) {
    const [kc, ki, kd] = split(foldIn(k, i), 3) as [Key, Key, Key];
    const task = family.task(family.sample(kc));
    const o = opt(steps);
    let state = o.init(task.init(ki), { numSteps: steps, key: ki });
    let total = 0;
    for (let t = 0; t < steps; t++) {
      const batch = task.datasets?.train.sample(foldIn(kd, t));
      const { leaves, structure } = treeFlatten(state.params);
      const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch as TensorTree))(leaves);
      const l = value.dataSync()[0] as number;
      total += (task.normalizer ? task.normalizer(l) : l) / steps;
      state = advance(o, state, treeUnflatten(structure, grads), { loss: value, key: foldIn(kd, 100000 + t) });
      value.dispose();
      disposeTree(grads);
      if (batch !== undefined) disposeTree(batch as TensorTree);
    }
    out.push(total);
    disposeTree(state.params);
    for (const t of treeLeaves((state.state ?? []) as TensorTree)) t.dispose();
  }
  return out;
}

/** Mean normalized training loss of `steps` inner steps with `opt` on held-out tasks. */
export function heldOutLoss(opt: (numSteps: number) => Optimizer<unknown>, family: TaskFamily, k: Key, tasks: number, steps: number): number {
  const per = heldOutLosses(opt, family, k, tasks, steps);
  return per.reduce((a, b) => a + b, 0) / per.length;
}

/**
 * The paired check "candidate is lower than baseline by more than `margin`": per-task
 * differences `d_i = candidate_i - baseline_i`, true when `mean(d) + 2 se(d) < -margin`
 * (the upper end of a ~95% interval clears the margin).
 */
export function pairedImprovement(candidate: readonly number[], baseline: readonly number[], margin: number): { mean: number; se: number; upper: number; holds: boolean } {
  const d = candidate.map((c, i) => c - (baseline[i] as number));
  const { mean, se } = meanAndSE(d);
  const upper = mean + 2 * se;
  return { mean, se, upper, holds: upper < -margin };
}
