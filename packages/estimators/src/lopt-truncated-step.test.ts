import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  LoptError,
  disposeReplaced,
  disposeTree,
  foldIn,
  randintArray,
  treeLeaves,
  type Key,
  type Task,
  type TaskFamily,
  type TensorTree,
} from '@lopt/core';
import { expectClose, leakCheck } from '@lopt/testkit';
import { lOptTruncatedStep, type LOptTruncatedState } from './lopt-truncated-step.js';
import { learnableSgd, perParameterMlpLOpt } from '../test/problems/learned-optimizers.js';
import { quadraticTaskFamily } from '../test/problems/quadratic-family.js';
import { learnableSgdQuadratic } from '../test/problems/quadratic-sgd.js';
import { disposeExcept } from './state.js';
import { tbptt } from './tbptt.js';
import { batchTheta } from './truncated-step.js';
import { constantTruncation, logUniformTruncation } from './truncation.js';
import { TEST_KEY } from '../test/test-utils.js';

const A = [0.1, 0.3, 1, 2];
const LR = 0.1;

/** Data-free diagonal quadratic `0.5 sum a x^2` from x0 = 1; configs carry an id to see resets. */
function fixedQuadraticFamily(normalizer?: (l: number) => number): TaskFamily<{ id: number }> {
  return {
    name: 'fixed-quadratic',
    sample: (k: Key) => ({ id: randintArray(k, 1, 0, 1_000_000)[0] as number }),
    task: (): Task => ({
      name: 'fixed-quadratic',
      init: () => ({ x: tf.ones([A.length]) }),
      loss: (p: TensorTree) => tf.tidy(() => tf.mul(0.5, tf.sum(tf.mul(tf.tensor1d(A), tf.square((p as { x: tf.Tensor }).x)))) as tf.Scalar),
      ...(normalizer ? { normalizer } : {}),
    }),
  };
}

/** Float64 losses of SGD on the fixed quadratic (t = 0..T). */
function sgdLosses(T: number, lr: number): number[] {
  const x = A.map(() => 1);
  const out: number[] = [];
  for (let t = 0; t <= T; t++) {
    out.push(0.5 * A.reduce((s, a, j) => s + a * (x[j] as number) ** 2, 0));
    A.forEach((a, j) => (x[j] = (x[j] as number) * (1 - lr * a)));
  }
  return out;
}

function thetaOf(lr: number): TensorTree {
  return { logLearningRate: tf.scalar(Math.log(lr)) };
}

describe('lOptTruncatedStep', () => {
  it('trains, marks the episode end, resets on the next (masked) step, and normalizes losses', () => {
    const norm = (l: number) => Math.log(l + 1);
    const step = lOptTruncatedStep({
      taskFamily: fixedQuadraticFamily(norm),
      learnedOptimizer: learnableSgd(),
      truncation: constantTruncation(4),
      numTasks: 2,
    });
    const theta = thetaOf(LR);
    const thetas = batchTheta(theta, 2);
    const s0 = step.init(thetas, TEST_KEY);
    const r = step.unroll(thetas, s0, TEST_KEY, 7);
    const ref = sgdLosses(4, LR);
    const got = r.out.losses.arraySync() as number[][];
    const expected = [ref[0], ref[1], ref[2], ref[3], 0, ref[0], ref[1]].map((l, t) => (t === 4 ? 0 : norm(l as number)));
    for (let t = 0; t < 7; t++) expectClose(got[t] as number[], [expected[t], expected[t]] as number[], { rtol: 1e-5, atol: 1e-7 });
    expect(r.out.mask.map((row) => row[0])).toEqual([true, true, true, true, false, true, true]);
    expect(r.out.isDone.map((row) => row[0])).toEqual([false, false, false, true, false, false, false]);
    expect(r.out.iteration.map((row) => row[0])).toEqual([1, 2, 3, 4, 0, 1, 2]);
    // A reset draws a new task configuration from the step's key.
    expect(r.state.tasks[0]?.cfg).not.toEqual(s0.tasks[0]?.cfg);
    expect(r.state.tasks[0]?.cfg).not.toEqual(r.state.tasks[1]?.cfg);
    // Purity: the input state is intact and can be unrolled again to the same result.
    const again = step.unroll(thetas, s0, TEST_KEY, 7);
    expect(again.out.losses.arraySync()).toEqual(got);
    disposeTree([theta, thetas, r.out.losses, again.out.losses]);
    disposeExcept([s0, r.state, again.state]);
  });

  it('follows exactly the semantics of the vectorized learnableSgdQuadratic problem (resets included)', () => {
    // The statistical tests of the estimators run on learnableSgdQuadratic; this shows it is
    // the same inner training as lOptTruncatedStep(fixed quadratic, learnableSgd).
    const T = 6;
    const step = lOptTruncatedStep({ taskFamily: fixedQuadraticFamily(), learnedOptimizer: learnableSgd(), truncation: constantTruncation(T), numTasks: 3 });
    const vec = learnableSgdQuadratic({ numTasks: 3, horizon: T, curvatures: A }).truncatedStep;
    const thetas = { logLearningRate: tf.tensor1d([Math.log(0.1), Math.log(0.3), Math.log(0.5)]) };
    const a0 = step.init(thetas, TEST_KEY);
    const b0 = vec.init(thetas, TEST_KEY);
    const a = step.unroll(thetas, a0, TEST_KEY, 17);
    const b = vec.unroll(thetas, b0, TEST_KEY, 17);
    expect(a.out.mask).toEqual(b.out.mask);
    expect(a.out.isDone).toEqual(b.out.isDone);
    expect(a.out.iteration).toEqual(b.out.iteration);
    expectClose(a.out.losses, Array.from(b.out.losses.dataSync()), { rtol: 1e-5, atol: 1e-7 });
    disposeTree([thetas, a.out.losses, b.out.losses]);
    disposeExcept([a0, a.state, b0, b.state]);
  });

  it('meta-loss options: pre-update, post-update on the same data, a named split', () => {
    const make = (metaLoss: 'preUpdate' | 'sameData' | 'outerValid') =>
      lOptTruncatedStep({ taskFamily: fixedQuadraticFamily(), learnedOptimizer: learnableSgd(), truncation: constantTruncation(10), numTasks: 1, metaLoss });
    const theta = thetaOf(LR);
    const thetas = batchTheta(theta, 1);
    const ref = sgdLosses(3, LR);
    for (const [kind, expected] of [['preUpdate', ref.slice(0, 3)], ['sameData', ref.slice(1, 4)], ['outerValid', ref.slice(1, 4)]] as const) {
      const step = make(kind);
      const s0 = step.init(thetas, TEST_KEY);
      const r = step.unroll(thetas, s0, TEST_KEY, 3);
      expectClose(r.out.losses, expected as number[], { rtol: 1e-5 });
      r.out.losses.dispose();
      disposeExcept([s0, r.state]);
    }
    // A noisy family: a fresh outer-valid batch differs from the training batch, and a task
    // without the requested split is an error naming the option.
    const noisy = lOptTruncatedStep({ taskFamily: quadraticTaskFamily({ dim: 4, noise: 1 }), learnedOptimizer: learnableSgd(), truncation: constantTruncation(10), numTasks: 1, metaLoss: 'sameData' });
    const fresh = lOptTruncatedStep({ taskFamily: quadraticTaskFamily({ dim: 4, noise: 1 }), learnedOptimizer: learnableSgd(), truncation: constantTruncation(10), numTasks: 1, metaLoss: 'outerValid' });
    const a0 = noisy.init(thetas, TEST_KEY);
    const a = noisy.unroll(thetas, a0, TEST_KEY, 2);
    const b = fresh.unroll(thetas, a0, TEST_KEY, 2);
    expect(Array.from(a.out.losses.dataSync())).not.toEqual(Array.from(b.out.losses.dataSync()));
    const bad = lOptTruncatedStep({ taskFamily: quadraticTaskFamily({ dim: 4 }), learnedOptimizer: learnableSgd(), truncation: constantTruncation(10), numTasks: 1, metaLoss: 'innerValid' });
    expect(() => bad.unroll(thetas, a0, TEST_KEY, 1)).toThrow(/innerValid/);
    disposeTree([theta, thetas, a.out.losses, b.out.losses]);
    disposeExcept([a0, a.state, b.state]);
  });

  it('antithetic copies share tasks and data; different thetas give different losses', () => {
    const step = lOptTruncatedStep({ taskFamily: quadraticTaskFamily({ dim: 3 }), learnedOptimizer: learnableSgd(), truncation: constantTruncation(3), numTasks: 3 });
    const plus = batchTheta(thetaOf(0.2), 3);
    const minus = batchTheta(thetaOf(0.1), 3);
    const s0 = step.init(plus, TEST_KEY);
    const p = step.unroll(plus, s0, TEST_KEY, 9);
    const m = step.unroll(minus, s0, TEST_KEY, 9);
    expect(p.state.tasks.map((t) => t.cfg)).toEqual(m.state.tasks.map((t) => t.cfg));
    expect(p.out.mask).toEqual(m.out.mask);
    // Right after a reset both copies have identical parameters (same init key): equal losses.
    const pl = p.out.losses.arraySync() as number[][];
    const ml = m.out.losses.arraySync() as number[][];
    expect(pl[4]).toEqual(ml[4]);
    expect(pl[5]).not.toEqual(ml[5]);
    disposeTree([plus, minus, p.out.losses, m.out.losses]);
    disposeExcept([s0, p.state, m.state]);
  });

  it('random initial offsets desynchronize resets; log-uniform lengths are resampled per episode', () => {
    const step = lOptTruncatedStep({
      taskFamily: fixedQuadraticFamily(),
      learnedOptimizer: learnableSgd(),
      truncation: logUniformTruncation(3, 12),
      numTasks: 6,
      randomInitialIterationOffset: 3,
    });
    const thetas = batchTheta(thetaOf(LR), 6);
    const s0 = step.init(thetas, TEST_KEY);
    const starts = s0.tasks.map((t) => t.innerStep);
    expect(starts.every((s) => s >= 0 && s < 3)).toBe(true);
    expect(new Set(starts).size).toBeGreaterThan(1);
    const r = step.unroll(thetas, s0, TEST_KEY, 60);
    const lengths = new Set<number>();
    for (let i = 0; i < 6; i++) {
      let run = 0;
      r.out.iteration.forEach((row) => {
        const it = row[i] as number;
        if (it === 0 && run > 0) lengths.add(run);
        run = it;
      });
    }
    for (const l of lengths) expect(l >= 3 && l < 12).toBe(true);
    expect(lengths.size).toBeGreaterThan(2);
    disposeTree([thetas, r.out.losses]);
    disposeExcept([s0, r.state]);
  });

  it('TBPTT through the full episode equals the exact gradient (nested gradients through the task), and stopInnerGradients drops the second-order terms', () => {
    const T = 8;
    const step = lOptTruncatedStep({ taskFamily: fixedQuadraticFamily(), learnedOptimizer: learnableSgd(), truncation: constantTruncation(T), numTasks: 1 });
    const reference = learnableSgdQuadratic({ numTasks: 1, horizon: T, curvatures: A });
    const u = Math.log(0.3);
    const { dL } = reference.reference(new Array(T).fill(u));
    let exact = 0;
    dL.forEach((row) => row.forEach((v) => (exact += v / T)));
    // First-order (gradient as a constant): dx_{t+1} = dx_t - eta a x_t (no -eta a dx_t term).
    let firstOrder = 0;
    A.forEach((a) => {
      let x = 1;
      let dx = 0;
      for (let t = 0; t < T; t++) {
        firstOrder += (a * x * dx) / T;
        const eta = Math.exp(u);
        dx = dx - eta * a * x;
        x = x * (1 - eta * a);
      }
    });
    const theta = thetaOf(0.3);
    for (const [stop, expected] of [[false, exact], [true, firstOrder]] as const) {
      const est = tbptt({ truncatedStep: step, unrollLength: T, stopInnerGradients: stop });
      const ws = est.init(theta, TEST_KEY);
      const r = est.estimate(theta, ws, TEST_KEY);
      const g = treeLeaves(r.grad)[0]?.dataSync()[0] as number;
      console.log(`TBPTT through lOptTruncatedStep (stopInnerGradients=${stop}): ${g}, float64 ${expected}`);
      expectClose(g, expected, { rtol: 1e-4 });
      disposeTree(r.grad);
      disposeExcept([ws, r.state]);
    }
    expect(Math.abs(exact - firstOrder)).toBeGreaterThan(0.05 * Math.abs(exact));
    disposeTree(theta);
  });

  it('TBPTT differentiates through the loss normalizer (linearized on the host)', () => {
    const T = 5;
    const norm = (l: number) => Math.log(l + 0.5);
    const step = lOptTruncatedStep({ taskFamily: fixedQuadraticFamily(norm), learnedOptimizer: learnableSgd(), truncation: constantTruncation(T), numTasks: 1 });
    const reference = learnableSgdQuadratic({ numTasks: 1, horizon: T, curvatures: A });
    const u = Math.log(0.3);
    const { losses, dL } = reference.reference(new Array(T).fill(u));
    let exact = 0;
    dL.forEach((row, t) => row.forEach((v) => (exact += v / ((losses[t] as number) + 0.5) / T)));
    const theta = thetaOf(0.3);
    const est = tbptt({ truncatedStep: step, unrollLength: T });
    const ws = est.init(theta, TEST_KEY);
    const r = est.estimate(theta, ws, TEST_KEY);
    expectClose(treeLeaves(r.grad)[0] as tf.Tensor, [exact], { rtol: 1e-4 });
    const meanNorm = Array.from(losses).reduce((s, l) => s + norm(l), 0) / T;
    expectClose(r.meanLoss, meanNorm, { rtol: 1e-5 });
    disposeTree([theta, r.grad]);
    disposeExcept([ws, r.state]);
  });

  it('does not leak tensors over many unrolls with resets (learned MLP optimizer, data)', () => {
    const lopt = perParameterMlpLOpt();
    const step = lOptTruncatedStep({ taskFamily: quadraticTaskFamily({ dim: 5 }), learnedOptimizer: lopt, truncation: constantTruncation(4), numTasks: 2, metaLoss: 'outerValid' });
    const theta = lopt.init(TEST_KEY);
    const thetas = batchTheta(theta, 2);
    let state: LOptTruncatedState = step.init(thetas, TEST_KEY);
    const growth = leakCheck((i) => {
      const r = step.unroll(thetas, state, foldIn(TEST_KEY, i), 3);
      r.out.losses.dispose();
      disposeReplaced(state, r.state);
      state = r.state;
    }, 12);
    expect(growth).toBe(0);
    disposeTree([theta, thetas]);
    disposeExcept(state);
  });

  it('validates its options', () => {
    const base = { taskFamily: fixedQuadraticFamily(), learnedOptimizer: learnableSgd(), truncation: constantTruncation(3), numTasks: 2 };
    expect(() => lOptTruncatedStep({ ...base, numTasks: 0 })).toThrow(LoptError);
    expect(() => lOptTruncatedStep({ ...base, numTasks: 1.5 })).toThrow(/numTasks/);
    expect(() => lOptTruncatedStep({ ...base, metaLoss: 'valid' as never })).toThrow(/metaLoss/);
    expect(() => lOptTruncatedStep({ ...base, truncation: {} as never })).toThrow(/truncation/);
    expect(() => lOptTruncatedStep({ ...base, randomInitialIterationOffset: -1 })).toThrow(/randomInitialIterationOffset/);
    expect(() => constantTruncation(0)).toThrow(/length/);
    expect(() => logUniformTruncation(5, 2)).toThrow(/max/);
  });
});
