import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, type Key, type TensorTree } from '@lopt/core';
import { cloneState } from '../../src/state.js';
import type { BatchedTheta, TruncatedStep, TruncatedStepInitOptions, TruncatedUnrollOptions } from '../../src/truncated-step.js';

/** Options of {@link learnableSgdQuadratic}. */
export interface LearnableSgdQuadraticOptions {
  /** Number of independent inner trainings (all identical, so estimates average cleanly). */
  readonly numTasks: number;
  /** Episode length T in training steps. Default 20. */
  readonly horizon?: number;
  /** Diagonal curvatures `a_j` of the quadratic `0.5 sum_j a_j x_j^2`. Default `[0.1, 0.3, 1, 2]`. */
  readonly curvatures?: readonly number[];
  /** Initial point `x0`. Default all ones. */
  readonly initial?: readonly number[];
}

/** State of the {@link learnableSgdQuadratic} truncated step. */
export interface QuadraticSgdState {
  /** Iterates `[numTasks, dim]`. */
  readonly x: tf.Tensor2D;
  /** Training steps taken in each task's episode. */
  readonly innerStep: readonly number[];
  /** Whether each task's episode is done (its next step resets). */
  readonly isDone: readonly boolean[];
  /** Episode length (the horizon, or the `episodeLength` of `init`). */
  readonly horizon: number;
}

/** The learnable-SGD-on-a-quadratic test problem with its float64 reference. */
export interface LearnableSgdQuadratic {
  /** A vectorized {@link TruncatedStep}; theta is `{ logLearningRate: scalar }`. */
  readonly truncatedStep: TruncatedStep<QuadraticSgdState>;
  /** Curvatures `a_j`. */
  readonly curvatures: Float64Array;
  /** Initial point. */
  readonly initial: Float64Array;
  /** Episode length T. */
  readonly horizon: number;
  /** Theta for a log learning rate (caller owns the tensor). */
  theta(logLearningRate: number): TensorTree;
  /**
   * Float64 reference: the per-step losses `L_t = 0.5 sum_j a_j x_t,j^2` (t = 0..T-1, each
   * before the t-th update) when step `s` uses log learning rate `u[s]`, and their exact
   * derivatives `dL[t][s] = dL_t / du_s` (zero for s >= t).
   */
  reference(u: ArrayLike<number>): { losses: Float64Array; dL: Float64Array[] };
}

/**
 * Learnable SGD on a fixed diagonal quadratic: inner iterate `x_{t+1} = x_t - exp(theta) a * x_t`
 * from `x0`, meta-loss per step `L_t = 0.5 sum_j a_j x_t,j^2` (before the update), episodes of
 * `horizon` steps followed by a masked reset step, exactly the semantics of
 * {@link lOptTruncatedStep}. All tasks run as one batched tensor, so thousands of
 * inner trainings are cheap, which the statistical tests of the estimators need. Theta is
 * `{ logLearningRate: scalar }`; {@link LearnableSgdQuadratic.reference} gives exact float64
 * losses and derivatives for any per-step learning rates, from which the tests build exact
 * (and exactly Gaussian-smoothed) gradients of full-horizon and truncated meta-losses.
 */
export function learnableSgdQuadratic(options: LearnableSgdQuadraticOptions): LearnableSgdQuadratic {
  const numTasks = checkNumber('numTasks', options.numTasks, { integer: true, min: 1 });
  const horizon = checkNumber('horizon', options.horizon ?? 20, { integer: true, min: 1 });
  const a = Float64Array.from(options.curvatures ?? [0.1, 0.3, 1, 2]);
  a.forEach((v) => checkNumber('curvatures', v, { greaterThan: 0 }));
  const x0 = Float64Array.from(options.initial ?? Array.from(a, () => 1));
  if (x0.length !== a.length) {
    throw new LoptError('INVALID_OPTION', `Option 'initial' has ${x0.length} entries but 'curvatures' has ${a.length}.`, { option: 'initial' });
  }
  const d = a.length;
  const aT = () => tf.tensor2d(Float32Array.from(a), [1, d]);
  const x0T = () => tf.tensor2d(Float32Array.from(x0), [1, d]);

  const truncatedStep: TruncatedStep<QuadraticSgdState> = {
    name: 'learnable-sgd-quadratic',
    numTasks,
    init(_thetas: BatchedTheta, _key: Key, init: TruncatedStepInitOptions = {}): QuadraticSgdState {
      const h = init.episodeLength === undefined ? horizon : checkNumber('episodeLength', init.episodeLength, { integer: true, min: 1 });
      return {
        x: tf.tidy(() => tf.tile(x0T(), [numTasks, 1])) as tf.Tensor2D,
        innerStep: new Array<number>(numTasks).fill(0),
        isDone: new Array<boolean>(numTasks).fill(false),
        horizon: h,
      };
    },
    unroll(thetas: BatchedTheta, state: QuadraticSgdState, _key: Key, numSteps: number, opts: TruncatedUnrollOptions = {}) {
      const diff = opts.differentiable === true;
      const logLr = (thetas as { logLearningRate?: tf.Tensor }).logLearningRate;
      if (logLr === undefined || logLr.shape.length !== 1 || logLr.shape[0] !== numTasks) {
        throw new LoptError('SHAPE_MISMATCH', `learnableSgdQuadratic expects theta.logLearningRate of shape [${numTasks}] (batched scalar).`, { path: 'logLearningRate' });
      }
      let x = diff ? state.x : cloneState(state.x);
      let innerStep = [...state.innerStep];
      let isDone = [...state.isDone];
      const lossRows: tf.Tensor[] = [];
      const mask: boolean[][] = [];
      const doneRows: boolean[][] = [];
      const iteration: number[][] = [];
      const lr = tf.tidy(() => tf.reshape(tf.exp(logLr), [numTasks, 1]));
      for (let t = 0; t < numSteps; t++) {
        const reset = isDone.map((b) => (b ? 1 : 0));
        const body = () => {
          const r = tf.tensor2d(Float32Array.from(reset), [numTasks, 1]);
          const keep = tf.sub(1, r);
          const ax = tf.mul(aT(), x);
          const loss = tf.mul(tf.reshape(keep, [numTasks]), tf.mul(0.5, tf.sum(tf.mul(ax, x), 1)));
          const stepped = tf.sub(x, tf.mul(lr, ax));
          const nx = tf.add(tf.mul(keep, stepped), tf.mul(r, x0T()));
          return [loss, nx] as [tf.Tensor, tf.Tensor2D];
        };
        const [loss, nx] = diff ? body() : tf.tidy(body);
        if (!diff) x.dispose();
        x = nx;
        lossRows.push(loss);
        mask.push(reset.map((r) => r === 0));
        innerStep = innerStep.map((s, i) => (reset[i] ? 0 : s + 1));
        isDone = innerStep.map((s) => s >= state.horizon);
        doneRows.push([...isDone]);
        iteration.push([...innerStep]);
      }
      const losses = (diff ? tf.stack(lossRows) : tf.tidy(() => tf.stack(lossRows))) as tf.Tensor2D;
      if (!diff) {
        for (const l of lossRows) l.dispose();
        lr.dispose();
      }
      return { state: { x, innerStep, isDone, horizon: state.horizon }, out: { losses, mask, isDone: doneRows, iteration } };
    },
  };

  function reference(u: ArrayLike<number>): { losses: Float64Array; dL: Float64Array[] } {
    const T = u.length;
    const losses = new Float64Array(T);
    const dL: Float64Array[] = Array.from({ length: T }, () => new Float64Array(T));
    for (let j = 0; j < d; j++) {
      const aj = a[j] as number;
      let xj = x0[j] as number;
      const dx = new Float64Array(T); // d x_t,j / d u_s
      for (let t = 0; t < T; t++) {
        losses[t] = (losses[t] as number) + 0.5 * aj * xj * xj;
        const row = dL[t] as Float64Array;
        for (let s = 0; s < t; s++) row[s] = (row[s] as number) + aj * xj * (dx[s] as number);
        const eta = Math.exp(u[t] as number);
        const f = 1 - eta * aj;
        for (let s = 0; s < t; s++) dx[s] = f * (dx[s] as number);
        dx[t] = -eta * aj * xj;
        xj = f * xj;
      }
    }
    return { losses, dL };
  }

  return {
    truncatedStep,
    curvatures: a,
    initial: x0,
    horizon,
    theta: (v: number) => ({ logLearningRate: tf.scalar(v) }),
    reference,
  };
}

/** Disposes a state of {@link learnableSgdQuadratic} (convenience for tests). */

/**
 * Probabilists' Gauss-Hermite rule with `n` nodes: `E[f(Z)] ~ sum_k w_k f(z_k)` for
 * `Z ~ N(0, 1)`, exact for polynomials of degree < 2n (float64; Newton on the recurrence).
 */
export function gaussHermite(n: number): { nodes: Float64Array; weights: Float64Array } {
  checkNumber('n', n, { integer: true, min: 1, max: 100 });
  // Physicists' nodes x, weights w (weight exp(-x^2)), then z = sqrt(2) x, w / sqrt(pi).
  const x = new Float64Array(n);
  const w = new Float64Array(n);
  const m = Math.floor((n + 1) / 2);
  let z = 0;
  for (let i = 0; i < m; i++) {
    if (i === 0) z = Math.sqrt(2 * n + 1) - 1.85575 * Math.pow(2 * n + 1, -0.16667);
    else if (i === 1) z -= (1.14 * Math.pow(n, 0.426)) / z;
    else if (i === 2) z = 1.86 * z - 0.86 * (x[0] as number);
    else if (i === 3) z = 1.91 * z - 0.91 * (x[1] as number);
    else z = 2 * z - (x[i - 2] as number);
    let pp = 0;
    for (let it = 0; it < 100; it++) {
      let p1 = Math.pow(Math.PI, -0.25);
      let p2 = 0;
      for (let j = 0; j < n; j++) {
        const p3 = p2;
        p2 = p1;
        p1 = z * Math.sqrt(2 / (j + 1)) * p2 - Math.sqrt(j / (j + 1)) * p3;
      }
      pp = Math.sqrt(2 * n) * p2;
      const z1 = z;
      z = z1 - p1 / pp;
      if (Math.abs(z - z1) <= 1e-14) break;
    }
    x[i] = z;
    x[n - 1 - i] = -z;
    w[i] = 2 / (pp * pp);
    w[n - 1 - i] = w[i] as number;
  }
  return {
    nodes: Float64Array.from(x, (v) => v * Math.SQRT2),
    weights: Float64Array.from(w, (v) => v / Math.sqrt(Math.PI)),
  };
}
