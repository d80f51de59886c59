import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, type Key, type Optimizer } from '@lopt/core';
import { scheduledAdamOptimizer } from './celo-adam.js';
import { CELO_TIME_OFFSETS, checkNumSteps, initLossBuffer, lossFeatures, LOSS_EMAS, SCHEDULER_INPUTS } from './celo-scheduler.js';
import { checkAdamDecays, checkKnownOptions } from './common.js';
import type { LearnedArchitecture } from './types.js';

/** Configuration of {@link scheduleAdam}. */
export type ScheduleAdamConfig = {
  /** Adam's base learning rate: the step size at theta = 0. Default 3e-3. */
  readonly stepMult: number;
  /** First-moment decay. Default 0.9. */
  readonly beta1: number;
  /** Second-moment decay. Default 0.999. */
  readonly beta2: number;
  /** Epsilon added to the root. Default 1e-8. */
  readonly epsilon: number;
  /** Expected training length, when fixed at construction (else given to `optimizer` or `init`). */
  readonly numSteps?: number;
};

/** Meta-parameters of {@link scheduleAdam}: a linear map from the 18 schedule features to the log learning-rate multiplier. */
export type ScheduleAdamTheta = {
  /** Weights `[18]`: nine time features `tanh(10 (t/N - s))`, then nine loss features. */
  w: tf.Tensor1D;
  /** Bias `[]` (log multiplier at zero features). */
  b: tf.Scalar;
};

/** State of the optimizer {@link scheduleAdam} builds. */
export type ScheduleAdamState = {
  /** First moments (params leaf order). */
  m: tf.Tensor[];
  /** Second moments. */
  v: tf.Tensor[];
  /** Loss EMAs `[10]`, their running minima `[10]` and decays `[10]` (Celo's loss buffer). */
  lossMean: tf.Tensor1D;
  lossMin: tf.Tensor1D;
  lossDecay: tf.Tensor1D;
  /** `1 / numSteps`. */
  invNumSteps: tf.Scalar;
};

/**
 * The log learning-rate multiplier at step `t` (0-based) of `numSteps`: `w . x + b` over Celo's
 * scheduler inputs `x` (nine time features, nine loss features, ALGORITHMS.md 2.2), and the
 * updated loss buffer.
 */
export function scheduleLogMult(theta: ScheduleAdamTheta, s: Pick<ScheduleAdamState, 'lossMean' | 'lossMin' | 'lossDecay' | 'invNumSteps'>, loss: tf.Scalar, t: number): { logMult: tf.Scalar; mean: tf.Tensor1D; min: tf.Tensor1D } {
  const { mean, min, lf } = lossFeatures(s, loss, t);
  const time = tf.tanh(tf.mul(10, tf.sub(tf.mul(s.invNumSteps, t), tf.tensor1d(CELO_TIME_OFFSETS as number[]))));
  const x = tf.concat([time, tf.reshape(lf, [LOSS_EMAS - 1])]);
  return { logMult: tf.add(tf.sum(tf.mul(theta.w, x)), theta.b) as tf.Scalar, mean, min };
}

/**
 * lopt's first own learned-schedule architecture (configs/lopt-small-v1.phase1.json; not shipped:
 * one base learning rate for every task, see configs/README.md; `pretrained('lopt-small-v1')` is
 * a `controlAdam`): bias-corrected Adam whose learning rate is `stepMult * exp(w . x + b)`, where `x` holds
 * Celo's 18 scheduler inputs, i.e. the fraction of training done (nine `tanh(10 (t/N - s))`) and
 * nine features of ten loss EMAs. Theta has 19 meta-parameters and starts at zero, where the
 * optimizer is exactly Adam with learning rate `stepMult`, so a short meta-training only has to
 * find a schedule (warm-up, decay, slowing down when the loss stalls). Needs `ctx.loss` at every
 * step and `numSteps`. State: 2 slots per parameter.
 */
export function scheduleAdam(options: Partial<ScheduleAdamConfig> = {}): LearnedArchitecture<ScheduleAdamTheta, ScheduleAdamConfig> {
  checkKnownOptions('scheduleAdam', options, ['stepMult', 'beta1', 'beta2', 'epsilon', 'numSteps']);
  const config: ScheduleAdamConfig = {
    stepMult: checkNumber('stepMult', options.stepMult ?? 3e-3, { greaterThan: 0 }),
    ...checkAdamDecays(options),
    epsilon: checkNumber('epsilon', options.epsilon ?? 1e-8, { min: 0 }),
    ...(options.numSteps !== undefined ? { numSteps: checkNumSteps('scheduleAdam', options.numSteps) } : {}),
  };
  return {
    name: 'scheduleAdam',
    config,
    stateSlotsPerParameter: 2,
    hyperparameterPaths: () => [],
    init: (_k: Key): ScheduleAdamTheta => ({ w: tf.zeros([SCHEDULER_INPUTS]) as tf.Tensor1D, b: tf.scalar(0) }),
    optimizer(theta: ScheduleAdamTheta, optOpts: { numSteps?: number } = {}): Optimizer {
      type Sched = Omit<ScheduleAdamState, 'm' | 'v'>;
      return scheduledAdamOptimizer<Sched>('scheduleAdam', config, {
        defaultSteps: optOpts.numSteps ?? config.numSteps,
        lossUse: 'its schedule reads loss EMAs',
        initSchedule: (numSteps): Sched => initLossBuffer(numSteps),
        schedule: (prev, loss, iteration) => {
          const { logMult, mean, min } = scheduleLogMult(theta, prev, loss, iteration);
          return { lrMult: tf.exp(logMult), next: { lossMean: mean, lossMin: min, lossDecay: prev.lossDecay, invNumSteps: prev.invNumSteps } };
        },
      });
    },
  };
}
