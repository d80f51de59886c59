import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '@lopt/core';
import { checkLinearScheduleConfig, linearScheduleAdam, type AdamStepInputs, type LinearScheduleTheta, type ScheduledAdamSettings } from './celo-adam.js';
import { CELO_TIME_OFFSETS, initLossBuffer, lossFeatures, LOSS_EMAS, type LossBuffer } from './celo-scheduler.js';
import { checkKnownOptions } from './common.js';
import type { LearnedArchitecture } from './types.js';

/** Inputs of {@link controlAdam}'s learning-rate control: 9 time, 9 loss, 4 control features. */
export const CONTROL_INPUTS = 22;

/** The log learning-rate multiplier is kept within `[-LOG_MULT_BOUND, LOG_MULT_BOUND]`. */
export const LOG_MULT_BOUND = 10;

/** Configuration of {@link controlAdam}. */
export type ControlAdamConfig = ScheduledAdamSettings & {
  /** Adam's initial learning rate (`exp` of the initial log learning rate). Default 3e-3. */
  readonly stepMult: number;
  /** Largest change of the log learning rate per step (the `0.05` of the rule). Default 0.05. */
  readonly controlRate: number;
  /** Fixed weight of the step-agreement cosine inside the `tanh` (the `3` of the rule). Default 3. */
  readonly agreementGain: number;
};

/** Meta-parameters of {@link controlAdam} (23 scalars; zero at init): weights `[22]` of the control inputs (see {@link controlInputs}) and the control's bias. */
export type ControlAdamTheta = LinearScheduleTheta;

/** The learning-rate control's state of the optimizer {@link controlAdam} builds (besides Adam's `m`, `v`): Celo's loss buffer and the previous log multiplier. */
export type ControlAdamSchedule = LossBuffer & {
  /** `log(lr / stepMult)` of the previous step (0 at the start). */
  logMult: tf.Scalar;
};

/**
 * Cosine similarity between this step's gradient and the previous Adam step's direction
 * `mh / (eps + sqrt(vh + 1e-10))` (bias-corrected moments before this step, i.e. after step
 * `t`), over all leaves together; 0 at `t = 0`, where there was no previous step. Positive
 * means the previous step still points downhill (the learning rate may grow), negative means
 * it overshot (a normalized hypergradient, as in hypergradient descent).
 */
export function stepAgreement(step: AdamStepInputs, t: number, cfg: { readonly beta1: number; readonly beta2: number; readonly epsilon: number }): tf.Scalar {
  if (t === 0) return tf.scalar(0);
  let dot: tf.Tensor = tf.scalar(0);
  let gg: tf.Tensor = tf.scalar(0);
  let uu: tf.Tensor = tf.scalar(0);
  step.grads.forEach((g, i) => {
    const mh = tf.div(step.m[i] as tf.Tensor, 1 - cfg.beta1 ** t);
    const vh = tf.div(step.v[i] as tf.Tensor, 1 - cfg.beta2 ** t);
    const u = tf.div(mh, tf.add(cfg.epsilon, tf.sqrt(tf.add(vh, 1e-10))));
    const gc = tf.clipByValue(g, -1000, 1000);
    dot = tf.add(dot, tf.sum(tf.mul(gc, u)));
    gg = tf.add(gg, tf.sum(tf.square(gc)));
    uu = tf.add(uu, tf.sum(tf.square(u)));
  });
  return tf.div(dot, tf.maximum(tf.sqrt(tf.mul(gg, uu)), 1e-30)) as tf.Scalar;
}

/**
 * The 22 control inputs at step `t` of a run with `1 / numSteps = invNumSteps`: nine time
 * features `tanh(10 (t/N - s))` and nine loss features (Celo's scheduler inputs), then the
 * agreement `c`, `c * t/N`, `tanh(logMult)` (how far the learning rate has moved) and `t/N`.
 */
export function controlInputs(time: { invNumSteps: tf.Scalar; t: number }, lf: tf.Tensor, c: tf.Scalar, logMult: tf.Scalar): tf.Tensor1D {
  const tau = tf.mul(time.invNumSteps, time.t) as tf.Scalar;
  const timeFeatures = tf.tanh(tf.mul(10, tf.sub(tau, tf.tensor1d(CELO_TIME_OFFSETS as number[]))));
  const control = tf.stack([c, tf.mul(c, tau), tf.tanh(logMult), tau]);
  return tf.concat([timeFeatures, tf.reshape(lf, [LOSS_EMAS - 1]), control]) as tf.Tensor1D;
}

/**
 * One step of the learning-rate control: reads the loss and the step agreement, returns the
 * new `logMult = clip(logMult + controlRate * tanh(w . x + b + agreementGain * c))` and the
 * updated loss buffer.
 */
export function controlStep(theta: ControlAdamTheta, prev: ControlAdamSchedule, inputs: { loss: tf.Scalar; t: number; c: tf.Scalar }, cfg: Pick<ControlAdamConfig, 'controlRate' | 'agreementGain'>): ControlAdamSchedule {
  const { mean, min, lf } = lossFeatures(prev, inputs.loss, inputs.t);
  const x = controlInputs({ invNumSteps: prev.invNumSteps, t: inputs.t }, lf, inputs.c, prev.logMult);
  const drive = tf.add(tf.add(tf.sum(tf.mul(theta.w, x)), theta.b), tf.mul(cfg.agreementGain, inputs.c));
  const logMult = tf.clipByValue(tf.add(prev.logMult, tf.mul(cfg.controlRate, tf.tanh(drive))), -LOG_MULT_BOUND, LOG_MULT_BOUND) as tf.Scalar;
  return { lossMean: mean, lossMin: min, lossDecay: prev.lossDecay, invNumSteps: prev.invNumSteps, logMult };
}

function controlConfig(options: Partial<ControlAdamConfig>): ControlAdamConfig {
  checkKnownOptions('controlAdam', options, ['stepMult', 'controlRate', 'agreementGain', 'beta1', 'beta2', 'epsilon', 'numSteps']);
  const { stepMult, ...adam } = checkLinearScheduleConfig('controlAdam', options);
  return {
    stepMult,
    controlRate: checkNumber('controlRate', options.controlRate ?? 0.05, { min: 0 }),
    agreementGain: checkNumber('agreementGain', options.agreementGain ?? 3),
    ...adam,
  };
}

/**
 * lopt's own general-purpose learned optimizer architecture (the one `pretrained('lopt-small-v1')`
 * ships): bias-corrected Adam whose log learning rate is a per-run state, starting at
 * `log(stepMult)` and moved every step by
 * `controlRate * tanh(w . x + b + agreementGain * c)` (at most ±0.05 per step by default).
 * `c` ({@link stepAgreement}) is the cosine between this step's gradient and the previous Adam
 * step, so the learning rate climbs while consecutive steps agree and falls when they
 * oscillate; `x` ({@link controlInputs}) holds Celo's time and loss features and the
 * agreement's interaction with time, and meta-training learns how they modulate the control.
 * Theta has 23 meta-parameters and starts at zero, where the rule is the plain agreement
 * control. Needs `ctx.loss` at every step and `numSteps`. State: 2 slots per parameter.
 */
export function controlAdam(options: Partial<ControlAdamConfig> = {}): LearnedArchitecture<ControlAdamTheta, ControlAdamConfig> {
  const config = controlConfig(options);
  return linearScheduleAdam<ControlAdamConfig, ControlAdamSchedule>('controlAdam', config, CONTROL_INPUTS, (theta) => ({
    lossUse: 'its learning-rate control reads loss EMAs',
    initSchedule: (numSteps): ControlAdamSchedule => ({ ...initLossBuffer(numSteps), logMult: tf.scalar(0) }),
    schedule: (prev, loss, t, step) => {
      const next = controlStep(theta, prev, { loss, t, c: stepAgreement(step, t, config) }, config);
      return { lrMult: tf.exp(next.logMult), next };
    },
  }));
}
