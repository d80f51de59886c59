import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  checkNumber,
  isTensor,
  treeMap,
  type GradientTransformation,
  type OptState,
  type TensorTree,
  checkOptimizer,
  tidy,
} from '@lopt/core';
import { checkKnownOptions, checkLearningRate, counter, learningRateAt, readCount, type Hyper, type LearningRate } from '../hyper.js';

/**
 * State of {@link scheduleFree}. `z` is the base optimizer's iterate; the parameters the
 * optimizer returns are the interpolation `y = b1 x + (1 - b1) z`, from which the averaged
 * iterate `x` is recovered on the fly (see {@link scheduleFreeEvalParams}).
 */
export type ScheduleFreeState<S = TensorTree> = {
  /** The interpolation weight `b1` (kept in the state so that evaluation parameters need only the state). */
  b1: tf.Scalar;
  /** Sum of the averaging weights `max_lr^weightLrPower` so far. */
  weightSum: tf.Scalar;
  /** Step counter starting at 1 (int32); the learning rate of a step is `schedule(count)`. */
  count: tf.Scalar;
  /** The largest learning rate seen so far. */
  maxLr: tf.Scalar;
  /** The base transformation's state. */
  base: S;
  /** The base optimizer's iterate. */
  z: TensorTree;
};

/** Options of {@link scheduleFree}. */
export interface ScheduleFreeOptions {
  /** The learning rate (constant, or a schedule with warm-up and no decay): it weights the average. */
  readonly learningRate: LearningRate;
  /** Interpolation between the average `x` and the iterate `z`, in (0, 1]. Default 0.9. */
  readonly beta1?: number;
  /** Averaging weights are `max_lr^weightLrPower`. Default 2. */
  readonly weightLrPower?: number;
}

interface ScheduleFreeSettings {
  readonly lr: LearningRate;
  readonly b1: number;
  readonly power: number;
}

function checkScheduleFree(options: ScheduleFreeOptions): ScheduleFreeSettings {
  if (typeof options !== 'object' || options === null) {
    throw new LoptError('INVALID_OPTION', 'scheduleFree: options must be an object with a learningRate.', { option: 'options' });
  }
  checkKnownOptions('scheduleFree', options, ['learningRate', 'beta1', 'weightLrPower']);
  const b1 = checkNumber('beta1', options.beta1 ?? 0.9, { min: 0, max: 1 });
  if (b1 <= 0) {
    throw new LoptError('INVALID_OPTION', "Option 'beta1' must be strictly positive (the average is recovered by dividing by it).", {
      option: 'beta1',
    });
  }
  return {
    lr: checkLearningRate('learningRate', options.learningRate),
    b1,
    power: checkNumber('weightLrPower', options.weightLrPower ?? 2, { min: 0 }),
  };
}

/**
 * The weight `c = w / (sum + w)` of this step's iterate in the average; `0/0` (learning rate
 * still zero during warm-up) gives 0, and a NaN weight or sum stays NaN (optax's rule).
 */
function averagingWeight(weight: tf.Scalar, total: tf.Scalar): tf.Scalar {
  const ratio = tf.div(weight, total);
  const bad = tf.logicalOr(tf.isNaN(weight), tf.isNaN(total));
  return tf.where(bad, tf.scalar(NaN), tf.where(tf.isNaN(ratio), tf.zerosLike(ratio), ratio)) as tf.Scalar;
}

/** `x = (y - (1 - b1) z) / b1`: the averaged iterate from the returned parameters and `z`. */
function averageFrom(y: tf.Tensor, z: tf.Tensor, b1: Hyper): tf.Tensor {
  return tf.div(tf.sub(y, tf.mul(tf.sub(1, b1), z)), b1);
}

/**
 * Schedule-Free learning (Defazio et al. 2024, "The Road Less Scheduled"; optax contrib
 * `schedule_free`) around a base transformation without momentum:
 * `z_{t+1} = z_t + base(g(y_t))`, `x_{t+1} = (1 - c) x_t + c z_{t+1}`,
 * `y_{t+1} = b1 x_{t+1} + (1 - b1) z_{t+1}`, with `c = w_t / sum w` and
 * `w_t = max_lr^weightLrPower`. Gradients are taken at `y` (the parameters the optimizer
 * returns); evaluate the model at `x` with {@link scheduleFreeEvalParams}. As in optax, a
 * schedule is evaluated at the step counter starting from 1, while the base transformation
 * keeps its own counter (starting from 0).
 */
export function scheduleFree<S>(
  base: GradientTransformation<S>,
  options: ScheduleFreeOptions,
): GradientTransformation<ScheduleFreeState<S>> {
  checkOptimizer('base', base, 'scheduleFree: base must be a GradientTransformation.');
  const s = checkScheduleFree(options);
  return {
    init: (params) => ({
      b1: tf.scalar(s.b1),
      weightSum: tf.scalar(0),
      count: counter(1),
      maxLr: tf.scalar(0),
      base: base.init(params),
      z: treeMap((p) => tf.clone(p), params),
    }),
    update(updates, state, params, ctx) {
      const step = readCount(state.count, 'count');
      const maxLr = tf.maximum(state.maxLr, learningRateAt('learningRate', s.lr, step)) as tf.Scalar;
      const weight = tf.pow(maxLr, s.power) as tf.Scalar;
      const weightSum = tf.add(state.weightSum, weight) as tf.Scalar;
      const c = averagingWeight(weight, weightSum);
      const out = base.update(updates, state.base, params, ctx);
      const z = treeMap((zi, u) => tf.add(zi, u as tf.Tensor), state.z, out.updates);
      const next = treeMap(
        (y, zOld, zNew) => {
          const x = tf.add(tf.mul(tf.sub(1, c), averageFrom(y, zOld, s.b1)), tf.mul(c, zNew));
          return tf.sub(tf.add(tf.mul(s.b1, x), tf.mul(1 - s.b1, zNew)), y);
        },
        params,
        state.z,
        z,
      );
      return { updates: next, state: { b1: tf.clone(state.b1), weightSum, count: counter(step + 1), maxLr, base: out.state, z } };
    },
  };
}

function isScheduleFreeState(s: unknown): s is ScheduleFreeState<unknown> {
  if (typeof s !== 'object' || s === null) return false;
  const o = s as Record<string, unknown>;
  return isTensor(o.b1) && o.z !== undefined;
}

/**
 * The parameters to evaluate a Schedule-Free model at (optax `schedule_free_eval_params`):
 * the average `x = (y - (1 - b1) z) / b1`, where `y` are the optimizer's parameters. Takes
 * the full optimizer state of a Schedule-Free optimizer (`scheduleFreeAdamw`,
 * `scheduleFreeSgd`, or `optimizerFrom(scheduleFree(...))`). The caller owns the result.
 */
export function scheduleFreeEvalParams(state: OptState<unknown>): TensorTree {
  if (typeof state !== 'object' || state === null || !isScheduleFreeState(state.state)) {
    throw new LoptError(
      'TREE_MISMATCH',
      'scheduleFreeEvalParams needs the state of a Schedule-Free optimizer (with b1 and z), e.g. from scheduleFreeAdamw().',
      { path: 'state' },
    );
  }
  const sf = state.state;
  return tidy((): TensorTree => treeMap((y, z) => averageFrom(y, z as tf.Tensor, sf.b1), state.params, sf.z));
}
