import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, normal, normalArray, split, uniformArray, type Key, type Task, type TaskFamily, type TensorTree } from '@lopt/core';
import { checkInt, checkNumberList, checkRecord, generatedDatasets, logUniform, logUniformInt, stopGradient, scalarTidy, MAX_DIM } from './common.js';
import { vectorizedNoisyQuadratics, vectorizedQuadratics } from './vectorized.js';
import { handDerivedLoss, takesHandDerived, type GradPath } from './fast-grad.js';

// Each quadratic's loss has an analytic gradient: under one gradient tape the loss is one
// custom-gradient node with that gradient (fast-grad.ts), computed with the same ops in the same
// order as tfjs' autodiff, so both paths give the same numbers; under nested tapes autodiff runs.

/** `sum(p^2)`; gradient `2 p`. */
export function quadraticLoss(p: tf.Tensor, path: GradPath = 'auto'): tf.Scalar {
  if (!takesHandDerived(path)) return tf.sum(tf.square(p));
  return handDerivedLoss([p], ([q]) => ({
    value: tf.sum(tf.square(q as tf.Tensor)),
    saved: [q as tf.Tensor],
    backward: (dy, [s]) => [tf.mul(dy, tf.mul(s as tf.Tensor, 2))],
  }));
}

/** `sum((a + b)^2)`; gradient `2 (a + b)` for both. */
export function sumQuadraticLoss(a: tf.Tensor, b: tf.Tensor, path: GradPath = 'auto'): tf.Scalar {
  if (!takesHandDerived(path)) return tf.sum(tf.square(tf.add(a, b)));
  return handDerivedLoss([a, b], ([x, y]) => {
    const s = tf.add(x as tf.Tensor, y as tf.Tensor);
    return {
      value: tf.sum(tf.square(s)),
      saved: [s],
      backward: (dy, [sum]) => {
        const g = tf.mul(dy, tf.mul(sum as tf.Tensor, 2));
        return [g, tf.clone(g)];
      },
    };
  });
}

/** `log(sum(p^2))`; gradient `2 p / sum(p^2)`. */
export function logQuadraticLoss(p: tf.Tensor, path: GradPath = 'auto'): tf.Scalar {
  if (!takesHandDerived(path)) return tf.log(tf.sum(tf.square(p))) as tf.Scalar;
  return handDerivedLoss([p], ([q]) => {
    const total = tf.sum(tf.square(q as tf.Tensor));
    return {
      value: tf.log(total) as tf.Scalar,
      saved: [q as tf.Tensor, total],
      backward: (dy, [x, t]) => [tf.mul(tf.div(dy, t as tf.Tensor), tf.mul(x as tf.Tensor, 2))],
    };
  });
}

/** `sum(scale (p - target)^2)`; gradient `2 scale (p - target)`. */
export function scaledQuadraticLoss(p: tf.Tensor, scale: readonly number[], target: readonly number[], path: GradPath = 'auto'): tf.Scalar {
  if (!takesHandDerived(path)) return tf.sum(tf.mul(tf.tensor1d(scale as number[]), tf.square(tf.sub(p, tf.tensor1d(target as number[])))));
  return handDerivedLoss([p], ([q]) => {
    const s = tf.tensor1d(scale as number[]);
    const d = tf.sub(q as tf.Tensor, tf.tensor1d(target as number[]));
    return {
      value: tf.sum(tf.mul(s, tf.square(d))),
      saved: [s, d],
      backward: (dy, [sc, diff]) => [tf.mul(tf.mul(dy, sc as tf.Tensor), tf.mul(diff as tf.Tensor, 2))],
    };
  });
}

/**
 * The noisy quadratic `sum((scale (center - p))^2)` whose gradient carries `noiseStd * noise`
 * (through a zero-valued stop-gradient term on the autodiff path; the hand-derived gradient
 * adds it directly, and its value is the clean sum, equal for finite params).
 */
export function noisyQuadraticLoss(p: tf.Tensor, noise: tf.Tensor, scale: readonly number[], center: readonly number[], noiseStd: number, path: GradPath = 'auto'): tf.Scalar {
  if (!takesHandDerived(path)) {
    const clean = tf.sum(tf.square(tf.mul(tf.tensor1d(scale as number[]), tf.sub(tf.tensor1d(center as number[]), p))));
    const noisyTerm = tf.mul(tf.mul(noise, noiseStd), p);
    return tf.add(clean, tf.sum(tf.sub(noisyTerm, stopGradient(noisyTerm))));
  }
  return handDerivedLoss([p], ([q]) => {
    const s = tf.tensor1d(scale as number[]);
    const m = tf.mul(s, tf.sub(tf.tensor1d(center as number[]), q as tf.Tensor));
    return {
      value: tf.sum(tf.square(m)),
      saved: [s, m, tf.mul(noise, noiseStd)],
      // d/dp: -(dy 2 m) scale from the clean sum, plus dy noiseStd noise
      backward: (dy, [sc, mm, n]) => [tf.add(tf.neg(tf.mul(tf.mul(dy, tf.mul(mm as tf.Tensor, 2)), sc as tf.Tensor)), tf.mul(dy, n as tf.Tensor))],
    };
  });
}

/** Options of {@link quadraticTask}. */
export interface QuadraticTaskOptions {
  /** Number of parameters. Default 10. */
  readonly dim?: number;
}

/**
 * `sum(p^2)` from `p ~ N(0, I)` (learned_optimization's `QuadraticTask`). Data-free.
 *
 * @example
 * ```ts
 * const task = quadraticTask({ dim: 10 });
 * const params = task.init(key(0));
 * const loss = task.loss(params, undefined);
 * ```
 */
export function quadraticTask(options: QuadraticTaskOptions = {}): Task {
  const dim = checkInt('dim', options.dim ?? 10, 1, MAX_DIM);
  return {
    name: `quadratic-${dim}`,
    init: (k: Key) => normal(k, [dim]),
    loss: (params: TensorTree) => scalarTidy(() => quadraticLoss(params as tf.Tensor)),
  };
}

/** `sum((a + b)^2)` over two parameter vectors `{a, b}` (learned_optimization's `SumQuadraticTask`). */
export function sumQuadraticTask(options: QuadraticTaskOptions = {}): Task {
  const dim = checkInt('dim', options.dim ?? 10, 1, MAX_DIM);
  return {
    name: `sum-quadratic-${dim}`,
    init: (k: Key) => {
      const [ka, kb] = split(k, 2) as [Key, Key];
      return { a: normal(ka, [dim]), b: normal(kb, [dim]) };
    },
    loss: (params: TensorTree) =>
      scalarTidy(() => {
        const p = params as { a: tf.Tensor; b: tf.Tensor };
        return sumQuadraticLoss(p.a, p.b);
      }),
  };
}

/** `log(sum(p^2))` (learned_optimization's `LogQuadraticTask`): unbounded below, scale-free gradients. */
export function logQuadraticTask(options: QuadraticTaskOptions = {}): Task {
  const dim = checkInt('dim', options.dim ?? 10, 1, MAX_DIM);
  return {
    name: `log-quadratic-${dim}`,
    init: (k: Key) => normal(k, [dim]),
    loss: (params: TensorTree) => scalarTidy(() => logQuadraticLoss(params as tf.Tensor)),
  };
}

/** A sampled quadratic: `sum(scale_i (p_i - target_i)^2)`. JSON. */
export interface QuadraticConfig {
  /** Number of parameters. */
  readonly dim: number;
  /** The minimizer. */
  readonly target: number[];
  /** Per-coordinate curvature (half the Hessian diagonal). */
  readonly scale: number[];
}

function checkQuadraticConfig(cfg: unknown): QuadraticConfig {
  const c = checkRecord('cfg', cfg);
  const dim = checkInt('cfg.dim', c.dim, 1);
  const target = checkNumberList('cfg.target', c.target, dim);
  const scale = checkNumberList('cfg.scale', c.scale, dim);
  scale.forEach((s, i) => checkNumber(`cfg.scale[${i}]`, s, { min: 0 }));
  return { dim, target, scale };
}

/** The task a {@link QuadraticConfig} describes; its normalizer clips the loss to `[0, 1000]` as learned_optimization does. */
export function quadraticFromConfig(cfg: QuadraticConfig): Task {
  const { dim, target, scale } = checkQuadraticConfig(cfg);
  return {
    name: `scaled-quadratic-${dim}`,
    init: (k: Key) => normal(k, [dim]),
    loss: (params: TensorTree) => scalarTidy(() => scaledQuadraticLoss(params as tf.Tensor, scale, target)),
    normalizer: (loss: number) => (Number.isFinite(loss) ? Math.min(Math.max(loss, 0), 1000) : 1000),
  };
}

/** Options of {@link fixedDimQuadraticFamily}. */
export interface FixedDimQuadraticFamilyOptions {
  /** Number of parameters. Default 10. */
  readonly dim?: number;
  /**
   * Largest condition number; each task samples its condition number kappa log-uniformly
   * in `[1, maxCondition]` and per-coordinate curvatures `kappa^u`, `u ~ U[0, 1)`.
   * Default 1 (unit curvature: learned_optimization's `FixedDimQuadraticFamily`).
   */
  readonly maxCondition?: number;
}

function sampleQuadratic(k: Key, dim: number, maxCondition: number): QuadraticConfig {
  const [kt, kc, ks] = split(k, 3) as [Key, Key, Key];
  const target = Array.from(normalArray(kt, dim), (v) => Math.fround(v));
  const kappa = logUniform(uniformArray(kc, 1)[0] as number, 1, maxCondition);
  const scale = Array.from(uniformArray(ks, dim), (u) => Math.fround(kappa ** u));
  return { dim, target, scale };
}

/**
 * Quadratics of a fixed dimension with a sampled target `~ N(0, I)` and sampled
 * conditioning (learned_optimization's `FixedDimQuadraticFamily`, extended with curvature).
 */
export function fixedDimQuadraticFamily(options: FixedDimQuadraticFamilyOptions = {}): TaskFamily<QuadraticConfig> {
  const dim = checkInt('dim', options.dim ?? 10, 1, MAX_DIM);
  const maxCondition = checkNumber('maxCondition', options.maxCondition ?? 1, { min: 1 });
  return {
    name: `fixed-dim-quadratic-family-${dim}`,
    sample: (k: Key) => sampleQuadratic(k, dim, maxCondition),
    task: (cfg: QuadraticConfig) => quadraticFromConfig(cfg),
    vectorized: (cfgs: readonly QuadraticConfig[]) => vectorizedQuadratics(cfgs),
  };
}

/** Options of {@link quadraticFamily}. */
export interface QuadraticFamilyOptions {
  /** Smallest dimension. Default 2. */
  readonly minDim?: number;
  /** Largest dimension. Default 100. */
  readonly maxDim?: number;
  /** Largest condition number (see {@link FixedDimQuadraticFamilyOptions.maxCondition}). Default 100. */
  readonly maxCondition?: number;
}

/** Quadratics of log-uniformly sampled dimension, target and conditioning. */
export function quadraticFamily(options: QuadraticFamilyOptions = {}): TaskFamily<QuadraticConfig> {
  const minDim = checkInt('minDim', options.minDim ?? 2, 1, MAX_DIM);
  const maxDim = checkInt('maxDim', options.maxDim ?? 100, minDim, MAX_DIM);
  const maxCondition = checkNumber('maxCondition', options.maxCondition ?? 100, { min: 1 });
  return {
    name: 'quadratic-family',
    sample: (k: Key) => {
      const [kd, kq] = split(k, 2) as [Key, Key];
      const dim = logUniformInt(uniformArray(kd, 1)[0] as number, minDim, maxDim);
      return sampleQuadratic(kq, dim, maxCondition);
    },
    task: (cfg: QuadraticConfig) => quadraticFromConfig(cfg),
    vectorized: (cfgs: readonly QuadraticConfig[]) => vectorizedQuadratics(cfgs),
  };
}

/** A noisy quadratic model: JSON. */
export interface NoisyQuadraticConfig {
  /** Number of parameters. */
  readonly dim: number;
  /** The minimizer. */
  readonly center: number[];
  /** Per-coordinate scale; the Hessian is `diag(2 scale^2)` (the sampled eigen-spectrum). */
  readonly scale: number[];
  /** Standard deviation of the additive gradient noise. */
  readonly noiseStd: number;
}

/** Options of {@link noisyQuadraticFamily}. */
export interface NoisyQuadraticFamilyOptions {
  /** Number of parameters. Default 10. */
  readonly dim?: number;
  /** Gradient noise standard deviation. Default 1 (learned_optimization's `cov`). */
  readonly noiseStd?: number;
  /** Scales are `U[0, maxScale)`. Default 25 (learned_optimization's `scale_constant`). */
  readonly maxScale?: number;
}

function checkNoisyConfig(cfg: unknown): NoisyQuadraticConfig {
  const c = checkRecord('cfg', cfg);
  const dim = checkInt('cfg.dim', c.dim, 1);
  return {
    dim,
    center: checkNumberList('cfg.center', c.center, dim),
    scale: checkNumberList('cfg.scale', c.scale, dim),
    noiseStd: checkNumber('cfg.noiseStd', c.noiseStd, { min: 0 }),
  };
}

/**
 * The task of a {@link NoisyQuadraticConfig}: loss `sum((scale * (center - p))^2)`, whose
 * gradient carries additive noise `noiseStd * eps`, `eps ~ N(0, I)`, drawn per batch. The
 * noise enters only the gradient, through a stop-gradient term of value zero (as in
 * learned_optimization's `NoisyQuadraticFamily`); it is the batch `{ noise }` of the
 * task's datasets, so antithetic and repeated evaluations can share it.
 */
export function noisyQuadraticFromConfig(cfg: NoisyQuadraticConfig): Task {
  const { dim, center, scale, noiseStd } = checkNoisyConfig(cfg);
  return {
    name: `noisy-quadratic-${dim}`,
    init: (k: Key) => normal(k, [dim]),
    loss: (params: TensorTree, batch: TensorTree) =>
      scalarTidy(() => {
        const noise = (batch as { noise?: tf.Tensor } | undefined)?.noise;
        if (!noise) throw new LoptError('MISSING_CONTEXT', 'The noisy quadratic loss needs a batch { noise } from task.datasets.train.sample(key).', { option: 'batch' });
        return noisyQuadraticLoss(params as tf.Tensor, noise, scale, center, noiseStd);
      }),
    datasets: generatedDatasets((k: Key) => ({ noise: normal(k, [dim]) })),
    normalizer: (loss: number) => (Number.isFinite(loss) ? Math.min(Math.max(loss, 0), 1000) : 1000),
  };
}

/**
 * Noisy quadratic model family (Harrison et al. 2022; learned_optimization's
 * `NoisyQuadraticFamily`): center `~ N(0, I)`, scales `~ U[0, maxScale)`, gradient noise.
 */
export function noisyQuadraticFamily(options: NoisyQuadraticFamilyOptions = {}): TaskFamily<NoisyQuadraticConfig> {
  const dim = checkInt('dim', options.dim ?? 10, 1, MAX_DIM);
  const noiseStd = checkNumber('noiseStd', options.noiseStd ?? 1, { min: 0 });
  const maxScale = checkNumber('maxScale', options.maxScale ?? 25, { greaterThan: 0 });
  return {
    name: `noisy-quadratic-family-${dim}`,
    sample: (k: Key) => {
      const [kc, ks] = split(k, 2) as [Key, Key];
      return {
        dim,
        center: Array.from(normalArray(kc, dim), (v) => Math.fround(v)),
        scale: Array.from(uniformArray(ks, dim), (u) => Math.fround(u * maxScale)),
        noiseStd,
      };
    },
    task: (cfg: NoisyQuadraticConfig) => noisyQuadraticFromConfig(cfg),
    vectorized: (cfgs: readonly NoisyQuadraticConfig[]) => vectorizedNoisyQuadratics(cfgs),
  };
}
