import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkKnownKeys, checkNumber, foldIn, normal, split, treeFlatten, treeUnflatten, type Key, type TensorTree } from '@lopt/core';
import { checkTruncatedStep, type TruncatedStep } from './truncated-step.js';

/** Options every estimator factory takes. */
export interface EstimatorBaseOptions {
  /** The inner trainings to unroll (for example {@link lOptTruncatedStep}). */
  readonly truncatedStep: TruncatedStep;
  /** Inner steps per estimate (the truncation length K). */
  readonly unrollLength: number;
}

/** Options of the evolution-strategies estimators (`truncatedES`, `truncatedPES`, `fullES`). */
export interface ESOptions extends EstimatorBaseOptions {
  /** Standard deviation of the Gaussian perturbations of theta. Default 0.01. */
  readonly std?: number;
  /**
   * Sign-ES: replace each loss difference by `sign(difference) * signDeltaLossScalar`
   * (PES takes the sign of the task's time-averaged difference). Default off.
   */
  readonly signDeltaLossScalar?: number;
  /** Clip each loss difference to `[-clipLossDiff, clipLossDiff]`. Default off. */
  readonly clipLossDiff?: number;
  /**
   * Replace non-finite loss differences (a task whose loss became NaN or infinite) by 0, so
   * one broken task does not poison the estimate; counted in the metric
   * `nonFiniteLossDiffs`. Default true.
   */
  readonly nanToNum?: boolean;
}

/** Validated {@link ESOptions}. */
export interface ParsedESOptions {
  readonly truncatedStep: TruncatedStep;
  readonly unrollLength: number;
  readonly std: number;
  readonly signDeltaLossScalar: number | undefined;
  readonly clipLossDiff: number | undefined;
  readonly nanToNum: boolean;
}

/**
 * Throws `LoptError('INVALID_OPTION')` for option names a factory does not know (core's
 * `checkKnownKeys`); estimator factories require an options object.
 */
export function checkKnownOptions(factory: string, options: object, known: readonly string[]): void {
  if (options === undefined) throw new LoptError('INVALID_OPTION', `${factory} needs an options object.`, { option: 'options' });
  checkKnownKeys(factory, options, known);
}

/** Option names of {@link ESOptions}. */
export const ES_OPTION_KEYS = ['truncatedStep', 'unrollLength', 'std', 'signDeltaLossScalar', 'clipLossDiff', 'nanToNum'] as const;

/** {@link parseESOptions} for the estimator `name`, after refusing option names outside `keys`. */
export function checkESOptions(name: string, options: ESOptions, keys: readonly string[] = ES_OPTION_KEYS): ParsedESOptions {
  checkKnownOptions(name, options, keys);
  return parseESOptions(options);
}

/**
 * Antithetic perturbations of `theta` for `numTasks` tasks: `eps_i ~ N(0, std^2 I)` from `key`
 * ({@link samplePerturbations}) and the copies `theta + eps` and `theta - eps` ({@link perturb});
 * the caller frees all three.
 */
export function antitheticThetas(theta: TensorTree, key: Key, std: number, numTasks: number): { eps: TensorTree; pTheta: TensorTree; nTheta: TensorTree } {
  const eps = samplePerturbations(theta, key, std, numTasks);
  return { eps, pTheta: perturb(theta, eps, 1), nTheta: perturb(theta, eps, -1) };
}

/**
 * The antithetic ES estimate from the per-task losses at `theta + eps` (`lp`) and `theta - eps`
 * (`ln`): `g = mean_i (lp_i - ln_i) eps_i / (2 std^2)` after {@link processLossDiffs}, the mean
 * loss of the pairs, the processed differences and how many were not finite.
 */
export function antitheticGradient(lp: ArrayLike<number>, ln: ArrayLike<number>, eps: TensorTree, o: ParsedESOptions): { grad: TensorTree; meanLoss: number; diffs: Float64Array; nonFinite: number } {
  const n = lp.length;
  const diffs = new Float64Array(n);
  let meanLoss = 0;
  for (let i = 0; i < n; i++) {
    diffs[i] = (lp[i] as number) - (ln[i] as number);
    meanLoss += ((lp[i] as number) + (ln[i] as number)) / 2 / n;
  }
  const nonFinite = processLossDiffs(diffs, o);
  const grad = weightedTaskMean(eps, diffs.map((d) => d / (2 * o.std * o.std)), n);
  return { grad, meanLoss, diffs, nonFinite };
}

/** Validates the options shared by the ES estimators. */
export function parseESOptions(options: ESOptions): ParsedESOptions {
  const nanToNum = options.nanToNum ?? true;
  if (typeof nanToNum !== 'boolean') {
    throw new LoptError('INVALID_OPTION', `Option 'nanToNum' must be a boolean.`, { option: 'nanToNum' });
  }
  return {
    truncatedStep: checkTruncatedStep('truncatedStep', options.truncatedStep),
    unrollLength: checkNumber('unrollLength', options.unrollLength, { integer: true, min: 1 }),
    std: checkNumber('std', options.std ?? 0.01, { greaterThan: 0 }),
    signDeltaLossScalar:
      options.signDeltaLossScalar === undefined ? undefined : checkNumber('signDeltaLossScalar', options.signDeltaLossScalar, { greaterThan: 0 }),
    clipLossDiff: options.clipLossDiff === undefined ? undefined : checkNumber('clipLossDiff', options.clipLossDiff, { greaterThan: 0 }),
    nanToNum,
  };
}

/**
 * Per-task Gaussian perturbations of theta: a tree like theta whose leaves have a leading
 * task axis, `eps[i] ~ N(0, std^2 I)`, leaf `j` drawn from `foldIn(key, j)`.
 */
export function samplePerturbations(theta: TensorTree, key: Key, std: number, numTasks: number): TensorTree {
  const { leaves, structure } = treeFlatten(theta);
  return treeUnflatten(structure, leaves.map((x, j) => normal(foldIn(key, j), [numTasks, ...x.shape], { std })));
}

/** `theta + sign * eps` with theta broadcast over the leading task axis of `eps`. */
export function perturb(theta: TensorTree, eps: TensorTree, sign: 1 | -1): TensorTree {
  const { leaves, structure } = treeFlatten(theta);
  const el = treeFlatten(eps).leaves;
  return treeUnflatten(
    structure,
    leaves.map((x, j) => tf.tidy(() => (sign === 1 ? tf.add(tf.expandDims(x, 0), el[j] as tf.Tensor) : tf.sub(tf.expandDims(x, 0), el[j] as tf.Tensor)))),
  );
}

/**
 * `sum_i coef[i] * tree[i] / n` over the leading task axis of each leaf (the ES gradient
 * `mean_i c_i eps_i`); `coef` has one number per task.
 */
export function weightedTaskMean(tree: TensorTree, coef: Float64Array | readonly number[], n: number): TensorTree {
  const { leaves, structure } = treeFlatten(tree);
  return treeUnflatten(
    structure,
    leaves.map((x) =>
      tf.tidy(() => {
        const c = tf.tensor1d(Float32Array.from(coef as ArrayLike<number>));
        const shape = [x.shape[0] as number, ...x.shape.slice(1).map(() => 1)];
        return tf.div(tf.sum(tf.mul(x, tf.reshape(c, shape)), 0), n);
      }),
    ),
  );
}

/** Applies nan-to-num, clipping and sign-ES to loss differences in place; returns how many were non-finite. */
export function processLossDiffs(diffs: Float64Array, o: ParsedESOptions, applySign = true): number {
  let nonFinite = 0;
  for (let i = 0; i < diffs.length; i++) {
    let d = diffs[i] as number;
    if (!Number.isFinite(d)) {
      nonFinite++;
      if (o.nanToNum) d = 0;
    }
    if (o.clipLossDiff !== undefined) d = Math.min(o.clipLossDiff, Math.max(-o.clipLossDiff, d));
    if (applySign && o.signDeltaLossScalar !== undefined) d = Math.sign(d) * o.signDeltaLossScalar;
    diffs[i] = d;
  }
  return nonFinite;
}

/** Two independent keys (perturbations, unroll) from an estimate's key. */
export function estimateKeys(key: Key): { perturbationKey: Key; unrollKey: Key } {
  const [a, b] = split(key, 2) as [Key, Key];
  return { perturbationKey: a, unrollKey: b };
}

/** Host copy of an unroll's losses as float64 `[step * numTasks + task]`. */
export function hostLosses(losses: tf.Tensor): Float64Array {
  return Float64Array.from(losses.dataSync() as Float32Array);
}
