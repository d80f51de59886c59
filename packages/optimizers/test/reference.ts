// Test helpers: run an optimizer for a few steps on fixed gradients and compare with a
// float64 reference written in plain JS numbers.
import * as tf from '@tensorflow/tfjs-core';
import { advance, disposeTree, treeLeaves, type Optimizer, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';

/** Leaves of the test problem, as plain arrays (float64). */
export type Leaves = number[][];

/** Initial parameters: a vector and a 2x2 matrix (so shape handling is exercised). */
export const P0: Leaves = [
  [0.5, -1.5, 2.0],
  [0.25, -0.75, 1.25, -0.125],
];
/** Three fixed gradient trees (per step, per leaf). */
export const GRADS: Leaves[] = [
  [
    [0.3, -1.2, 0.8],
    [1.5, -0.2, 0.05, -2.0],
  ],
  [
    [-0.4, 0.9, 1.1],
    [0.7, 0.3, -0.6, -1.0],
  ],
  [
    [0.2, -0.5, -0.3],
    [-1.1, 0.45, 0.9, 0.35],
  ],
];

function tree(leaves: Leaves): TensorTree {
  return { a: tf.tensor1d(leaves[0] as number[]), w: tf.tensor2d(leaves[1] as number[], [2, 2]) };
}

/** Runs `opt` on P0 with GRADS and returns the parameters after each step (float32 values). */
export function runSteps(opt: Optimizer<unknown>, steps = GRADS.length): Leaves[] {
  let state = opt.init(tree(P0));
  const out: Leaves[] = [];
  for (let i = 0; i < steps; i++) {
    const g = tree(GRADS[i % GRADS.length] as Leaves);
    state = advance(opt, state, g);
    disposeTree(g);
    out.push(treeLeaves(state.params).map((t) => Array.from(t.dataSync())));
  }
  disposeTree(state.params);
  disposeTree(state.state as TensorTree);
  return out;
}

/** A float64 reference step: params and gradients of one leaf -> new params; state per leaf is the closure's. */
export type ReferenceStep = (p: number[], g: number[], leaf: number, t: number) => number[];

/** Runs a per-leaf reference for the steps in GRADS. `makeStep` builds fresh per-run state. */
export function runReference(step: ReferenceStep, steps = GRADS.length): Leaves[] {
  let p = P0.map((l) => [...l]);
  const out: Leaves[] = [];
  for (let t = 1; t <= steps; t++) {
    const g = GRADS[(t - 1) % GRADS.length] as Leaves;
    p = p.map((leaf, i) => step(leaf, g[i] as number[], i, t));
    out.push(p.map((l) => [...l]));
  }
  return out;
}

/** Compares each step's parameters (rtol 1e-5) and each step's parameter change (rtol 1e-4). */
export function expectTrajectory(actual: Leaves[], expected: Leaves[], label: string, rtol = 1e-5): void {
  let prevA = P0;
  let prevE = P0;
  actual.forEach((step, s) => {
    step.forEach((leaf, i) => {
      const e = (expected[s] as Leaves)[i] as number[];
      expectClose(leaf, e, { rtol, atol: 1e-7, label: `${label} step ${s + 1} leaf ${i}` });
      const da = leaf.map((x, j) => x - ((prevA[i] as number[])[j] as number));
      const de = e.map((x, j) => x - ((prevE[i] as number[])[j] as number));
      expectClose(da, de, { rtol: Math.max(rtol * 10, 1e-4), atol: 2e-7, label: `${label} step ${s + 1} delta leaf ${i}` });
    });
    prevA = step;
    prevE = expected[s] as Leaves;
  });
}

/** Zeros shaped like each leaf of P0. */
export function zerosState(): number[][] {
  return P0.map((l) => l.map(() => 0));
}
