// Test-only fixtures (not exported by the package): problems with float64 reference optima,
// deliberately bad / good / plateauing "learned" optimizers, and a training loop.
import * as tf from '@tensorflow/tfjs-core';
import {
  advance,
  disposeTree,
  key as makeKey,
  normalArray,
  split,
  treeFlatten,
  treeMap,
  treeUnflatten,
  uniformArray,
  type OptState,
  type Optimizer,
  type TensorTree,
  type UpdateContext,
} from '@lopt/core';
import type { LossFn } from '../src/types.js';

/** A problem: loss (tfjs), its float64 optimum and optimal loss, and a float64 loss. */
export interface Problem {
  readonly name: string;
  readonly init: () => TensorTree;
  readonly lossFn: LossFn;
  /** Loss in float64 from parameter values (flattened in tree order). */
  readonly loss64: (x: readonly number[]) => number;
  readonly xStar: readonly number[];
  readonly fStar: number;
  /** Smoothness constant (largest curvature). */
  readonly L: number;
}

/** f(x) = 0.5 sum_i lambda_i (x_i - c_i)^2 with lambda log-spaced in [L / kappa, L]. */
export function quadratic(n: number, kappa: number, seed = 0, L = 10): Problem & { readonly lambdas: number[]; readonly c: number[] } {
  const lambdas = Array.from({ length: n }, (_, i) => L * Math.pow(kappa, -(n - 1 - i) / Math.max(1, n - 1)));
  const c = Array.from(normalArray(makeKey(seed), n));
  const x0 = Array.from(normalArray(makeKey(seed + 1000), n)).map((v) => 2 * v);
  const lam = tf.keep(tf.tensor1d(lambdas));
  const ct = tf.keep(tf.tensor1d(c));
  return {
    name: `quadratic-${n}-k${kappa}`,
    lambdas,
    c,
    init: () => ({ w: tf.tensor1d(x0) }),
    lossFn: (p) => tf.tidy(() => tf.mul(0.5, tf.sum(tf.mul(lam, tf.square(tf.sub((p as { w: tf.Tensor }).w, ct))))) as tf.Scalar),
    loss64: (x) => 0.5 * x.reduce((s, xi, i) => s + (lambdas[i] as number) * (xi - (c[i] as number)) ** 2, 0),
    xStar: c,
    fStar: 0,
    L,
  };
}

/**
 * L2-regularised logistic regression on generated data: params {b: scalar, w: [d]},
 * loss = mean(softplus(-y (X w + b))) + (reg / 2) ||w||^2 with y in {-1, 1}. The optimum is
 * found in float64 by Newton's method.
 */
export function logisticRegression(m = 64, d = 5, reg = 0.1, seed = 7): Problem {
  const [kx, kw, ky] = split(makeKey(seed), 3) as [ReturnType<typeof makeKey>, ReturnType<typeof makeKey>, ReturnType<typeof makeKey>];
  const X = Array.from(normalArray(kx, m * d));
  const wTrue = Array.from(normalArray(kw, d)).map((v) => 1.5 * v);
  const u = Array.from(uniformArray(ky, m));
  const y = Array.from({ length: m }, (_, i) => {
    let z = 0.3;
    for (let j = 0; j < d; j++) z += (X[i * d + j] as number) * (wTrue[j] as number);
    return (u[i] as number) < 1 / (1 + Math.exp(-z)) ? 1 : -1;
  });
  const softplus = (z: number): number => (z > 30 ? z : Math.log1p(Math.exp(z)));
  const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
  // Params flatten in sorted-key order: b, then w.
  const loss64 = (x: readonly number[]): number => {
    const b = x[0] as number;
    let s = 0;
    for (let i = 0; i < m; i++) {
      let z = b;
      for (let j = 0; j < d; j++) z += (X[i * d + j] as number) * (x[1 + j] as number);
      s += softplus(-(y[i] as number) * z);
    }
    let r = 0;
    for (let j = 0; j < d; j++) r += (x[1 + j] as number) ** 2;
    return s / m + 0.5 * reg * r;
  };
  // Newton's method in float64 on theta = [b, w].
  const n = d + 1;
  const theta = new Array<number>(n).fill(0);
  const feat = (i: number, k: number): number => (k === 0 ? 1 : (X[i * d + k - 1] as number));
  for (let it = 0; it < 50; it++) {
    const g = new Array<number>(n).fill(0);
    const H = Array.from({ length: n }, () => new Array<number>(n).fill(0));
    for (let i = 0; i < m; i++) {
      let z = 0;
      for (let k = 0; k < n; k++) z += feat(i, k) * (theta[k] as number);
      const yi = y[i] as number;
      const s = sigmoid(-yi * z);
      const curv = s * (1 - s);
      for (let k = 0; k < n; k++) {
        g[k] = (g[k] as number) + (-yi * s * feat(i, k)) / m;
        for (let l = 0; l < n; l++) (H[k] as number[])[l] = ((H[k] as number[])[l] as number) + (curv * feat(i, k) * feat(i, l)) / m;
      }
    }
    for (let k = 1; k < n; k++) {
      g[k] = (g[k] as number) + reg * (theta[k] as number);
      (H[k] as number[])[k] = ((H[k] as number[])[k] as number) + reg;
    }
    const step = solve(H, g);
    for (let k = 0; k < n; k++) theta[k] = (theta[k] as number) - (step[k] as number);
  }
  // Smoothness: L <= lambda_max(F^T F) / (4 m) + reg, with F = [1, X]; power iteration.
  let v = new Array<number>(n).fill(1);
  let lmax = 0;
  for (let it = 0; it < 200; it++) {
    const Fv = Array.from({ length: m }, (_, i) => v.reduce((s, vk, k) => s + feat(i, k) * vk, 0));
    const w = Array.from({ length: n }, (_, k) => Fv.reduce((s, f, i) => s + f * feat(i, k), 0));
    lmax = Math.sqrt(w.reduce((s, x) => s + x * x, 0));
    v = w.map((x) => x / lmax);
  }
  const Xt = tf.keep(tf.tensor2d(X, [m, d]));
  const yt = tf.keep(tf.tensor1d(y));
  return {
    name: `logreg-${m}x${d}`,
    init: () => ({ b: tf.scalar(0), w: tf.zeros([d]) }),
    lossFn: (p) =>
      tf.tidy(() => {
        const { b, w } = p as { b: tf.Scalar; w: tf.Tensor1D };
        const z = tf.add(tf.squeeze(tf.matMul(Xt, tf.reshape(w, [d, 1])), [1]), b);
        const data = tf.mean(tf.softplus(tf.neg(tf.mul(yt, z))));
        return tf.add(data, tf.mul(0.5 * reg, tf.sum(tf.square(w)))) as tf.Scalar;
      }),
    loss64,
    xStar: theta,
    fStar: loss64(theta),
    L: lmax / (4 * m) + reg,
  };
}

function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i] as number]);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs((M[r] as number[])[col] as number) > Math.abs((M[piv] as number[])[col] as number)) piv = r;
    [M[col], M[piv]] = [M[piv] as number[], M[col] as number[]];
    const pr = M[col] as number[];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const row = M[r] as number[];
      const f = (row[col] as number) / (pr[col] as number);
      for (let k = col; k <= n; k++) row[k] = (row[k] as number) - f * (pr[k] as number);
    }
  }
  return M.map((row, i) => (row[n] as number) / (row[i] as number));
}

/** Flattened parameter values (tree order) as float64 numbers. */
export function values(params: TensorTree): number[] {
  return treeFlatten(params).leaves.flatMap((t) => Array.from(t.dataSync()));
}

/** Max-norm distance between the parameters and a reference point. */
export function distance(params: TensorTree, ref: readonly number[]): number {
  const x = values(params);
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - (ref[i] as number))), 0);
}

/** An optimizer `p <- p - scale(t) * g / precond` with a per-leaf-element preconditioner. */
export function scaledGradient(name: string, scaleAt: (t: number) => number, precond?: TensorTree): Optimizer<TensorTree[]> {
  return {
    name,
    init: (params) => ({ params, state: [], iteration: 0 }),
    update: (s, grads) =>
      tf.tidy(() => {
        const a = scaleAt(s.iteration);
        const params = precond
          ? treeMap((p, g, d) => tf.sub(p, tf.mul(a, tf.div(g as tf.Tensor, d as tf.Tensor))), s.params, grads, precond)
          : treeMap((p, g) => tf.sub(p, tf.mul(a, g as tf.Tensor)), s.params, grads);
        return { params, state: [], iteration: s.iteration + 1 };
      }),
  };
}

/** A learnable-SGD stand-in whose learning rate diverges on the problem (lr = factor / L). */
export function divergingSgd(L: number, factor = 3): Optimizer<TensorTree[]> {
  return scaledGradient(`diverging-sgd-${factor}/L`, () => factor / L);
}

/** The weights of {@link momentumMlpOptimizer}'s per-parameter MLP (inputs: gradient, momentum). */
export interface MomentumMlp {
  readonly w1: tf.Tensor2D;
  readonly b1?: tf.Tensor1D;
  readonly w2: tf.Tensor2D;
}

/**
 * A per-parameter MLP "learned optimizer": momentum `m <- 0.9 m + 0.1 g`, then
 * `out = tanh([g, m] w1 + b1) w2` per coordinate and `p <- step(p, g, out)`.
 */
export function momentumMlpOptimizer(
  name: string,
  mlp: MomentumMlp,
  step: (p: tf.Tensor, g: tf.Tensor, out: tf.Tensor) => tf.Tensor,
): Optimizer<{ m: TensorTree }> {
  return {
    name,
    init: (params) => ({ params, state: { m: treeMap((p) => tf.zerosLike(p), params) }, iteration: 0 }),
    update: (s, grads) =>
      tf.tidy(() => {
        const m = treeMap((m0, g) => tf.add(tf.mul(0.9, m0), tf.mul(0.1, g as tf.Tensor)), s.state.m, grads);
        const params = treeMap(
          (p, g, mm) => {
            const feats = tf.stack([tf.reshape(g as tf.Tensor, [-1]), tf.reshape(mm as tf.Tensor, [-1])], 1);
            const pre = tf.matMul(feats, mlp.w1);
            const h = tf.tanh(mlp.b1 === undefined ? pre : tf.add(pre, mlp.b1));
            return step(p, g as tf.Tensor, tf.reshape(tf.matMul(h, mlp.w2), p.shape));
          },
          s.params,
          grads,
          m,
        );
        return { params, state: { m }, iteration: s.iteration + 1 };
      }),
  };
}

/**
 * A per-parameter MLP "learned optimizer" with random weights (tanh hidden layer, inputs
 * gradient and momentum): its steps are neither scaled nor aligned with the gradient.
 */
export function randomMlpOptimizer(seed: number, hidden = 8, stepScale = 0.3): Optimizer<{ m: TensorTree }> {
  const [k1, k2, k3] = split(makeKey(seed), 3) as [ReturnType<typeof makeKey>, ReturnType<typeof makeKey>, ReturnType<typeof makeKey>];
  const mlp: MomentumMlp = {
    w1: tf.keep(tf.tensor2d(Array.from(normalArray(k1, 2 * hidden)), [2, hidden])),
    b1: tf.keep(tf.tensor1d(Array.from(normalArray(k2, hidden)).map((v) => 0.5 * v))),
    w2: tf.keep(tf.tensor2d(Array.from(normalArray(k3, hidden)).map((v) => v / Math.sqrt(hidden)), [hidden, 1])),
  };
  return momentumMlpOptimizer(`random-mlp-${seed}`, mlp, (p, _g, out) => tf.sub(p, tf.mul(stepScale, out)));
}

/** An optimizer that scripts its step: `p <- p - a[t] * g` with `t` its own iteration. */
export function scripted(multipliers: readonly number[]): Optimizer<TensorTree[]> {
  return scaledGradient('scripted', (t) => multipliers[Math.min(t, multipliers.length - 1)] as number);
}

/** Result of {@link train}. */
export interface TrainResult<S> {
  readonly state: OptState<S>;
  /** Float64 loss (from the float32 params) after each step; index 0 is the initial loss. */
  readonly losses: number[];
}

/**
 * Trains with `advance`, passing the loss at the current params as `ctx.loss`. `inject`
 * may replace gradients or the context loss at a step (the caller's tensors are disposed).
 */
export function train<S>(
  opt: Optimizer<S>,
  problem: Pick<Problem, 'lossFn' | 'loss64'>,
  params: TensorTree,
  steps: number,
  options: {
    readonly inject?: (t: number, grads: TensorTree, loss: tf.Scalar) => { grads: TensorTree; loss: tf.Scalar } | undefined;
    readonly onStep?: (t: number, state: OptState<S>) => void;
    readonly record?: boolean;
  } = {},
): TrainResult<S> {
  let state = opt.init(params);
  const losses: number[] = options.record === false ? [] : [problem.loss64(values(state.params))];
  for (let t = 0; t < steps; t++) {
    const { leaves, structure } = treeFlatten(state.params);
    let { value, grads: gl } = tf.valueAndGrads((...xs: tf.Tensor[]) => problem.lossFn(treeUnflatten(structure, xs), { iteration: t, branch: 'current', lookaheadStep: 0 }))(leaves);
    let grads = treeUnflatten(structure, gl);
    const repl = options.inject?.(t, grads, value);
    if (repl) {
      disposeTree(grads, { keep: repl.grads });
      if (repl.loss !== value) value.dispose();
      grads = repl.grads;
      value = repl.loss;
    }
    const ctx: UpdateContext = { loss: value };
    state = advance(opt, state, grads, ctx);
    disposeTree(grads);
    value.dispose();
    options.onStep?.(t, state);
    if (options.record !== false) losses.push(problem.loss64(values(state.params)));
  }
  return { state, losses };
}

/** First index at which `losses[i] - fStar <= tol` (Infinity if never). */
export function stepsTo(losses: readonly number[], fStar: number, tol: number): number {
  const i = losses.findIndex((l) => l - fStar <= tol);
  return i < 0 ? Infinity : i;
}
