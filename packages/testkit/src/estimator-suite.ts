import * as tf from '@tensorflow/tfjs-core';
import { describe, it } from 'vitest';
import {
  collectTensors,
  disposeReplaced,
  disposeTree,
  foldIn,
  key as makeKey,
  treeLeaves,
  treePaths,
  type GradientEstimator,
  type Key,
  type TensorTree,
} from '@lopt/core';
import { leakCheck, failFor } from './assertions.js';

/** What the estimator checks run on: a fresh estimator and the theta to estimate at. */
export interface EstimatorUnderTest {
  /** The estimator (built fresh for every check). */
  readonly estimator: GradientEstimator;
  /** Meta-parameters to estimate at; the checks dispose them. */
  readonly theta: TensorTree;
}

/** Options of the estimator conformance checks. */
export interface EstimatorConformanceOptions {
  /** Builds the estimator under test and its theta (called once per check). */
  readonly setup: () => EstimatorUnderTest;
  /**
   * The gradient the mean of many estimates must match, flattened in theta's canonical leaf
   * order (for example the exact, Gaussian-smoothed gradient of a test problem such as
   * `learnableSgdQuadratic` in `@lopt/estimators`' `test/problems/`). Omit to skip the statistical check.
   */
  readonly expectedGradient?: ArrayLike<number>;
  /** Estimates per statistical sample, from a fresh worker state (a whole episode for truncated estimators). Default 1. */
  readonly callsPerSample?: number;
  /** Independent samples of the statistical check. Default 16. */
  readonly samples?: number;
  /** Agreement bound in standard errors of the sample mean. Default 4. */
  readonly z?: number;
  /** Extra absolute tolerance (a known smoothing or truncation error). Default 0. */
  readonly atol?: number;
  /** Relative tolerance for float32 rounding (what a deterministic estimator must meet). Default 1e-4. */
  readonly rtol?: number;
  /** Estimates in the leak check. Default 10. */
  readonly leakIterations?: number;
  /** Base seed of the keys. Default 0. */
  readonly seed?: number;
}

const fail = (est: GradientEstimator, message: string): never => failFor('estimator', est, message);

function hostValues(tree: TensorTree): number[] {
  return treeLeaves(tree).flatMap((t) => Array.from(t.dataSync()));
}

function disposeAll(value: unknown): void {
  for (const t of collectTensors(value)) if (!t.isDisposed) t.dispose();
}

/** Gradient structure, shapes and finiteness; finite mean loss; numeric metrics. */
export function checkEstimatorOutputs(options: EstimatorConformanceOptions): void {
  const { estimator: est, theta } = options.setup();
  const k = makeKey(options.seed ?? 0);
  const ws = est.init(theta, foldIn(k, 0));
  const r = est.estimate(theta, ws, foldIn(k, 1));
  try {
    const pt = treePaths(theta);
    const pg = treePaths(r.grad);
    if (pt.join('|') !== pg.join('|')) fail(est, `gradient paths [${pg.join(', ')}] differ from theta's [${pt.join(', ')}]`);
    const lt = treeLeaves(theta);
    treeLeaves(r.grad).forEach((g, i) => {
      const t = lt[i] as tf.Tensor;
      if (g.shape.join(',') !== t.shape.join(',')) fail(est, `gradient '${pg[i]}' has shape [${g.shape}] but theta has [${t.shape}]`);
      if (g.dtype !== 'float32') fail(est, `gradient '${pg[i]}' has dtype ${g.dtype}, expected float32`);
      const bad = Array.from(g.dataSync()).findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) fail(est, `gradient '${pg[i]}' has a non-finite entry at ${bad}`);
    });
    if (typeof r.meanLoss !== 'number' || !Number.isFinite(r.meanLoss)) fail(est, `meanLoss ${r.meanLoss} is not a finite number`);
    for (const [name, v] of Object.entries(r.metrics)) {
      if (typeof v !== 'number' || Number.isNaN(v)) fail(est, `metric '${name}' is ${String(v)}, expected a number`);
    }
  } finally {
    disposeTree(r.grad);
    disposeReplaced(ws, r.state);
    disposeAll([r.state, theta]);
  }
}

/** Same key, same worker state and same theta give bitwise the same estimate; another key gives another one (for stochastic estimators). */
export function checkEstimatorDeterminism(options: EstimatorConformanceOptions & { stochastic?: boolean }): void {
  const { estimator: est, theta } = options.setup();
  const k = makeKey(options.seed ?? 0);
  const ws1 = est.init(theta, foldIn(k, 0));
  const ws2 = est.init(theta, foldIn(k, 0));
  const a = est.estimate(theta, ws1, foldIn(k, 1));
  const b = est.estimate(theta, ws2, foldIn(k, 1));
  const c = est.estimate(theta, ws1, foldIn(k, 2));
  try {
    const va = hostValues(a.grad);
    const vb = hostValues(b.grad);
    if (va.some((v, i) => !Object.is(v, vb[i]))) fail(est, `two estimates with the same key and state differ: [${va.slice(0, 4)}] vs [${vb.slice(0, 4)}]`);
    if (!Object.is(a.meanLoss, b.meanLoss)) fail(est, `meanLoss differs for the same key: ${a.meanLoss} vs ${b.meanLoss}`);
    if (options.stochastic !== false) {
      const vc = hostValues(c.grad);
      if (va.every((v, i) => v === vc[i])) fail(est, 'estimates with different keys are identical; is the key used?');
    }
  } finally {
    for (const r of [a, b, c]) disposeTree(r.grad);
    disposeAll([a.state, b.state, c.state, ws1, ws2, theta]);
  }
}

/** `init` and `estimate` neither dispose nor change theta or the worker state they are given. */
export function checkEstimatorPurity(options: EstimatorConformanceOptions): void {
  const { estimator: est, theta } = options.setup();
  const k = makeKey(options.seed ?? 0);
  const ws = est.init(theta, foldIn(k, 0));
  const before = { theta: hostValues(theta), state: collectTensors(ws).map((t) => Array.from(t.dataSync())) };
  const r = est.estimate(theta, ws, foldIn(k, 1));
  try {
    const inputs = collectTensors([theta, ws]);
    const gone = inputs.findIndex((t) => t.isDisposed);
    if (gone >= 0) fail(est, `estimate() disposed one of its inputs (tensor ${gone} of theta and the worker state)`);
    if (hostValues(theta).some((v, i) => !Object.is(v, before.theta[i]))) fail(est, 'estimate() changed theta');
    collectTensors(ws).forEach((t, i) => {
      const now = Array.from(t.dataSync());
      if (now.some((v, j) => !Object.is(v, (before.state[i] as number[])[j]))) fail(est, `estimate() changed worker-state tensor ${i}`);
    });
  } finally {
    disposeTree(r.grad);
    disposeReplaced(ws, r.state);
    disposeAll([r.state, theta]);
  }
}

/** `tf.memory().numTensors` stays flat over many estimates when the caller frees gradients and replaced states. */
export function checkEstimatorNoLeak(options: EstimatorConformanceOptions): void {
  const { estimator: est, theta } = options.setup();
  const k = makeKey(options.seed ?? 0);
  let ws = est.init(theta, foldIn(k, 0));
  try {
    const growth = leakCheck((i) => {
      const r = est.estimate(theta, ws, foldIn(k, i + 1));
      disposeTree(r.grad);
      disposeReplaced(ws, r.state);
      ws = r.state;
    }, options.leakIterations ?? 10, 2);
    if (growth !== 0) fail(est, `leaked ${growth} tensors over ${options.leakIterations ?? 10} estimates`);
  } finally {
    disposeAll([ws, theta]);
  }
}

/**
 * The mean of `samples` estimates (each averaging `callsPerSample` calls from a fresh
 * worker state) agrees with `expectedGradient` coordinatewise within `z` standard errors
 * (computed from the sample variance) plus `atol + rtol |expected|`. Returns the measured
 * means and standard errors.
 */
export function checkEstimatorAgreement(options: EstimatorConformanceOptions): { mean: number[]; standardError: number[] } {
  const expected = options.expectedGradient;
  if (expected === undefined) throw new Error('checkEstimatorAgreement needs expectedGradient');
  const { estimator: est, theta } = options.setup();
  const samples = options.samples ?? 16;
  const calls = options.callsPerSample ?? 1;
  const z = options.z ?? 4;
  const base = foldIn(makeKey(options.seed ?? 0), 7);
  const values: number[][] = [];
  try {
    for (let s = 0; s < samples; s++) {
      const ks: Key = foldIn(base, s);
      let ws = est.init(theta, foldIn(ks, 0));
      let sum: number[] | undefined;
      for (let c = 0; c < calls; c++) {
        const r = est.estimate(theta, ws, foldIn(ks, c + 1));
        const v = hostValues(r.grad);
        sum = sum === undefined ? v : sum.map((x, i) => x + (v[i] as number));
        disposeTree(r.grad);
        disposeReplaced(ws, r.state);
        ws = r.state;
      }
      disposeAll(ws);
      values.push((sum as number[]).map((x) => x / calls));
    }
  } finally {
    disposeAll(theta);
  }
  const dim = expected.length;
  if ((values[0] as number[]).length !== dim) fail(est, `gradient has ${(values[0] as number[]).length} entries, expectedGradient ${dim}`);
  const mean: number[] = [];
  const standardError: number[] = [];
  for (let i = 0; i < dim; i++) {
    const xs = values.map((v) => v[i] as number);
    const m = xs.reduce((a, b) => a + b, 0) / samples;
    const se = samples > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (samples - 1) / samples) : 0;
    mean.push(m);
    standardError.push(se);
    const e = expected[i] as number;
    const bound = z * se + (options.atol ?? 0) + (options.rtol ?? 1e-4) * Math.abs(e);
    if (!(Math.abs(m - e) <= bound)) {
      fail(est, `coordinate ${i}: mean of ${samples} samples ${m} (standard error ${se}) differs from the expected ${e} by more than ${bound}`);
    }
  }
  return { mean, standardError };
}

/**
 * Registers the estimator conformance suite as a vitest `describe` block: output shapes and
 * finiteness, determinism for a key, purity (inputs neither disposed nor changed), no tensor
 * leaks over many estimates, and (with `expectedGradient`) statistical agreement with a
 * known gradient. A contributed estimator runs it on `learnableSgdQuadratic`, whose exact
 * gradient `@lopt/estimators`' test problem (`test/problems/quadratic-sgd.ts`) computes in float64.
 *
 * @example
 * ```ts
 * describeEstimatorConformance('myEstimator', {
 *   setup: () => ({ estimator: myEstimator({ truncatedStep: problem.truncatedStep, unrollLength: 20 }), theta: problem.theta(-2) }),
 *   expectedGradient: [exactGradient],
 * });
 * ```
 */
export function describeEstimatorConformance(name: string, options: EstimatorConformanceOptions & { stochastic?: boolean }): void {
  describe(`estimator conformance: ${name}`, () => {
    it('returns a finite gradient with theta\'s structure and shapes, a finite mean loss and numeric metrics', () => checkEstimatorOutputs(options));
    it('is deterministic for a key', () => checkEstimatorDeterminism(options));
    it('neither disposes nor changes its inputs', () => checkEstimatorPurity(options));
    it('does not leak tensors over many estimates', () => checkEstimatorNoLeak(options));
    if (options.expectedGradient !== undefined) {
      it('agrees with the expected gradient within the sampling error', () => {
        checkEstimatorAgreement(options);
      });
    }
  });
}
