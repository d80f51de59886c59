import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, type Key, type TensorTree } from '@lopt/core';
import { cloneState } from '../../src/state.js';
import type { BatchedTheta, TruncatedStep, TruncatedUnrollOptions } from '../../src/truncated-step.js';

/** Options of {@link influenceBalancing}. */
export interface InfluenceBalancingOptions {
  /** Number of particles (independent copies of the system). */
  readonly numTasks: number;
  /** State dimension n. Default 23 (the PES paper, after UORO). */
  readonly n?: number;
  /** How many of the n inputs push with sign +1 (the rest push with -1). Default 10. */
  readonly numPositive?: number;
}

/** State of the {@link influenceBalancing} truncated step. */
export interface InfluenceBalancingState {
  /** System states `[numTasks, n]`. */
  readonly s: tf.Tensor2D;
  /** Steps taken so far (the unroll never ends). */
  readonly step: readonly number[];
}

/** The influence-balancing problem and its float64 reference. */
export interface InfluenceBalancing {
  /** A vectorized, never-ending {@link TruncatedStep}; theta is `{ theta: scalar }`. */
  readonly truncatedStep: TruncatedStep<InfluenceBalancingState>;
  /** The theta that minimizes the loss of the infinite unroll: `s*[0] = 1` at the fixed point. */
  readonly optimum: number;
  /** Theta as a tree (caller owns it). */
  theta(value: number): TensorTree;
  /** Float64: the loss `0.5 (s_T[0] - 1)^2` after `steps` steps from `s_0 = 1` (the paper's evaluation, T = 500). */
  lossAfter(theta: number, steps: number): number;
  /**
   * Float64: the TBPTT gradient at the fixed point of `theta` for truncation length K:
   * `sum_{k=1..K} (s*[0] - 1) d s_k[0] / d theta |_{s_0 fixed}` divided by K (the loss is
   * the mean over the truncation). Its sign shows which way truncated methods push.
   */
  truncatedGradientAtFixedPoint(theta: number, K: number): number;
}

/**
 * The influence-balancing problem of Tallec & Ollivier (UORO) as used in the PES paper
 * (Vicol et al. 2021, `persistent_es/influence_balancing.py`): a linear system
 * `s <- A s + theta c` with `A = 0.5 I + 0.5 (superdiagonal)`, `c` = +1 on the first
 * `numPositive` inputs and -1 on the others, `s_0 = 1`, and loss `0.5 (s[0] - 1)^2` after
 * every step of an infinite unroll. Short-term, theta pushes `s[0]` up (+1 per step); in the
 * long run through the chain it pushes it down (`s*[0] = 2 theta sum(c)` = -6 theta for
 * n = 23), so truncated gradients point the wrong way while the full-horizon optimum is
 * `theta* = 1 / (2 sum c)` = -1/6.
 */
export function influenceBalancing(options: InfluenceBalancingOptions): InfluenceBalancing {
  const numTasks = checkNumber('numTasks', options.numTasks, { integer: true, min: 1 });
  const n = checkNumber('n', options.n ?? 23, { integer: true, min: 2 });
  const numPositive = checkNumber('numPositive', options.numPositive ?? 10, { integer: true, min: 0, max: n });
  const c = Float64Array.from({ length: n }, (_, i) => (i < numPositive ? 1 : -1));
  const sumC = c.reduce((x, y) => x + y, 0);
  if (sumC === 0) throw new LoptError('INVALID_OPTION', `Option 'numPositive' must not be n/2 (the optimum is undefined).`, { option: 'numPositive' });
  // s_new = s A^T + theta c, with rows of s as states: (A^T)[j][i] = A[i][j].
  const aT = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    aT[i * n + i] = 0.5; // A[i][i]
    if (i + 1 < n) aT[(i + 1) * n + i] = 0.5; // A[i][i+1] -> (A^T)[i+1][i]
  }

  const truncatedStep: TruncatedStep<InfluenceBalancingState> = {
    name: 'influence-balancing',
    numTasks,
    init: () => ({ s: tf.ones([numTasks, n]) as tf.Tensor2D, step: new Array<number>(numTasks).fill(0) }),
    unroll(thetas: BatchedTheta, state: InfluenceBalancingState, _key: Key, numSteps: number, opts: TruncatedUnrollOptions = {}) {
      const diff = opts.differentiable === true;
      const th = (thetas as { theta?: tf.Tensor }).theta;
      if (th === undefined || th.shape.length !== 1 || th.shape[0] !== numTasks) {
        throw new LoptError('SHAPE_MISMATCH', `influenceBalancing expects theta.theta of shape [${numTasks}].`, { path: 'theta' });
      }
      let s = diff ? state.s : cloneState(state.s);
      const rows: tf.Tensor[] = [];
      const drive = (diff ? (f: () => tf.Tensor) => f() : tf.tidy)(() =>
        tf.mul(tf.reshape(th, [numTasks, 1]), tf.tensor2d(Float32Array.from(c), [1, n])),
      );
      const A = tf.tensor2d(aT, [n, n]);
      for (let t = 0; t < numSteps; t++) {
        const body = () => {
          const ns = tf.add(tf.matMul(s, A), drive) as tf.Tensor2D;
          const first = tf.reshape(tf.slice(ns, [0, 0], [numTasks, 1]), [numTasks]);
          return [ns, tf.mul(0.5, tf.square(tf.sub(first, 1)))] as [tf.Tensor2D, tf.Tensor];
        };
        const [ns, loss] = diff ? body() : tf.tidy(body);
        if (!diff) s.dispose();
        s = ns;
        rows.push(loss);
      }
      const losses = (diff ? tf.stack(rows) : tf.tidy(() => tf.stack(rows))) as tf.Tensor2D;
      if (!diff) {
        for (const r of rows) r.dispose();
        drive.dispose();
        A.dispose();
      }
      const ones = Array.from({ length: numSteps }, () => new Array<boolean>(numTasks).fill(true));
      const never = Array.from({ length: numSteps }, () => new Array<boolean>(numTasks).fill(false));
      const iteration = Array.from({ length: numSteps }, (_, t) => state.step.map((k) => k + t + 1));
      return {
        state: { s, step: state.step.map((k) => k + numSteps) },
        out: { losses, mask: ones, isDone: never, iteration },
      };
    },
  };

  const stepF64 = (s: Float64Array, theta: number): Float64Array => {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = 0.5 * (s[i] as number) + (i + 1 < n ? 0.5 * (s[i + 1] as number) : 0) + theta * (c[i] as number);
    return out;
  };
  const fixedPoint = (theta: number): Float64Array => {
    // (I - A) s = theta c: 0.5 s_i - 0.5 s_{i+1} = theta c_i, solved from the last row up.
    const s = new Float64Array(n);
    for (let i = n - 1; i >= 0; i--) s[i] = 2 * theta * (c[i] as number) + (i + 1 < n ? (s[i + 1] as number) : 0);
    return s;
  };
  return {
    truncatedStep,
    optimum: 1 / (2 * sumC),
    theta: (v: number) => ({ theta: tf.scalar(v) }),
    lossAfter(theta: number, steps: number): number {
      let s: Float64Array = new Float64Array(n).fill(1);
      for (let t = 0; t < steps; t++) s = stepF64(s, theta);
      return 0.5 * ((s[0] as number) - 1) ** 2;
    },
    truncatedGradientAtFixedPoint(theta: number, K: number): number {
      const s = fixedPoint(theta);
      const err = (s[0] as number) - 1; // at the fixed point every step has the same loss
      // d s_k / d theta with s_0 fixed: ds_{k} = A ds_{k-1} + c.
      let ds: Float64Array = new Float64Array(n);
      let sum = 0;
      for (let k = 1; k <= K; k++) {
        ds = stepF64(ds, 1);
        sum += err * (ds[0] as number);
      }
      return sum / K;
    },
  };
}
