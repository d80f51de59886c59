import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, foldIn, key as makeKey, normal, normalArray, randintArray, uniformArray, type Key, type Task, type TaskFamily, type TensorTree } from '@lopt/core';

/** Configuration of one task of {@link quadraticTaskFamily} (JSON). */
export interface QuadraticTaskConfig {
  /** Seed of the task's curvatures and target. */
  readonly seed: number;
  /** Dimension. */
  readonly dim: number;
  /** Standard deviation of the per-batch noise on the target. */
  readonly noise: number;
  /** When true the loss is NaN (to test that estimators and meta-training survive broken tasks). */
  readonly poisoned?: boolean;
}

/** Options of {@link quadraticTaskFamily}. */
export interface QuadraticTaskFamilyOptions {
  /** Dimension of every task. Default 8. */
  readonly dim?: number;
  /** Curvatures are log-uniform in `[minCurvature, maxCurvature]`. Defaults 0.1 and 10. */
  readonly minCurvature?: number;
  /** See `minCurvature`. */
  readonly maxCurvature?: number;
  /** Noise std on the target per batch. Default 0.1. */
  readonly noise?: number;
  /** Probability that a sampled task is poisoned (its loss is NaN). Default 0. */
  readonly poisonProbability?: number;
}

/**
 * A small family of noisy diagonal quadratics for tests and examples:
 * `loss(x, b) = 0.5 sum_j a_j (x_j - t_j - noise * b_j)^2` with curvatures `a_j`
 * log-uniform in `[minCurvature, maxCurvature]` and target `t ~ N(0, 1)` fixed per task, a
 * batch `b ~ N(0, I)` per step (splits `train`, `outerValid`, `test`), parameters
 * initialized at `N(0, 1)`, and normalizer `log(loss + 1e-3)` so tasks of different scales
 * weigh alike in a meta-loss.
 */
export function quadraticTaskFamily(options: QuadraticTaskFamilyOptions = {}): TaskFamily<QuadraticTaskConfig> {
  const dim = checkNumber('dim', options.dim ?? 8, { integer: true, min: 1 });
  const lo = checkNumber('minCurvature', options.minCurvature ?? 0.1, { greaterThan: 0 });
  const hi = checkNumber('maxCurvature', options.maxCurvature ?? 10, { min: lo });
  const noise = checkNumber('noise', options.noise ?? 0.1, { min: 0 });
  const poison = checkNumber('poisonProbability', options.poisonProbability ?? 0, { min: 0, max: 1 });
  return {
    name: `quadratic-family-${dim}`,
    sample(k: Key): QuadraticTaskConfig {
      const seed = randintArray(k, 1, 0, 2 ** 31 - 1)[0] as number;
      const poisoned = poison > 0 && (uniformArray(foldIn(k, 1), 1)[0] as number) < poison;
      return poisoned ? { seed, dim, noise, poisoned } : { seed, dim, noise };
    },
    task(cfg: QuadraticTaskConfig): Task {
      const base = makeKey(cfg.seed);
      const u = uniformArray(foldIn(base, 0), cfg.dim);
      const a = Float32Array.from(u, (v) => Math.exp(Math.log(lo) + v * (Math.log(hi) - Math.log(lo))));
      const target = Float32Array.from(normalArray(foldIn(base, 1), cfg.dim));
      const dataset = (salt: number) => ({
        sample: (kk: Key): TensorTree => normal(foldIn(kk, salt), [cfg.dim]),
      });
      return {
        name: `quadratic-${cfg.dim}-${cfg.seed}`,
        init: (kk: Key) => ({ x: normal(kk, [cfg.dim]) }),
        loss(params: TensorTree, batch: TensorTree): tf.Scalar {
          return tf.tidy(() => {
            const x = (params as { x: tf.Tensor }).x;
            const b = batch as tf.Tensor;
            const r = tf.sub(tf.sub(x, tf.tensor1d(target)), tf.mul(cfg.noise, b));
            const l = tf.mul(0.5, tf.sum(tf.mul(tf.tensor1d(a), tf.square(r)))) as tf.Scalar;
            return cfg.poisoned ? (tf.mul(l, NaN) as tf.Scalar) : l;
          });
        },
        datasets: { train: dataset(0), outerValid: dataset(1), test: dataset(2) },
        normalizer: (l: number) => Math.log(l + 1e-3),
      };
    },
  };
}
