import * as tf from '@tensorflow/tfjs-core';
import { checkLinearScheduleConfig, linearScheduleAdam, type AdamMoments, type LinearScheduleTheta, type ScheduledAdamSettings } from './celo-adam.js';
import { CELO_TIME_OFFSETS, initLossBuffer, lossFeatures, LOSS_EMAS, SCHEDULER_INPUTS, type LossBuffer } from './celo-scheduler.js';
import { checkKnownOptions } from './common.js';
import type { LearnedArchitecture } from './types.js';

/** Configuration of {@link scheduleAdam}. */
export type ScheduleAdamConfig = ScheduledAdamSettings & {
  /** Adam's base learning rate: the step size at theta = 0. Default 3e-3. */
  readonly stepMult: number;
};

/**
 * Meta-parameters of {@link scheduleAdam}: a linear map from the 18 schedule features (nine time
 * features `tanh(10 (t/N - s))`, then nine loss features) to the log learning-rate multiplier.
 */
export type ScheduleAdamTheta = LinearScheduleTheta;

/** State of the optimizer {@link scheduleAdam} builds: Adam's moments and Celo's loss buffer. */
export type ScheduleAdamState = AdamMoments & LossBuffer;

/**
 * The log learning-rate multiplier at step `t` (0-based) of `numSteps`: `w . x + b` over Celo's
 * scheduler inputs `x` (nine time features, nine loss features, ALGORITHMS.md 2.2), and the
 * updated loss buffer.
 */
export function scheduleLogMult(theta: ScheduleAdamTheta, s: LossBuffer, loss: tf.Scalar, t: number): { logMult: tf.Scalar; mean: tf.Tensor1D; min: tf.Tensor1D } {
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
  const config: ScheduleAdamConfig = checkLinearScheduleConfig('scheduleAdam', options);
  return linearScheduleAdam<ScheduleAdamConfig, LossBuffer>('scheduleAdam', config, SCHEDULER_INPUTS, (theta) => ({
    lossUse: 'its schedule reads loss EMAs',
    initSchedule: (numSteps): LossBuffer => initLossBuffer(numSteps),
    schedule: (prev, loss, iteration) => {
      const { logMult, mean, min } = scheduleLogMult(theta, prev, loss, iteration);
      return { lrMult: tf.exp(logMult), next: { lossMean: mean, lossMin: min, lossDecay: prev.lossDecay, invNumSteps: prev.invNumSteps } };
    },
  }));
}
