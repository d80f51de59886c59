import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, split, type Key } from '@lopt/core';
import { initDense, lstmStep } from './common.js';

/** Number of loss EMAs of the scheduler's loss buffer. */
export const LOSS_EMAS = 10;
/** The fraction-of-training offsets of the scheduler's `tanh(10 (t/N - s))` inputs. */
export const CELO_TIME_OFFSETS: readonly number[] = [0.03, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1];
/** Scheduler inputs: nine time features and nine loss features. */
export const SCHEDULER_INPUTS = 18;

/** A dense layer as the Haiku reference stores it: `w` `[in, out]`, `b` `[out]`. */
export type HaikuLinear = { w: tf.Tensor; b: tf.Tensor };

/**
 * The learned scheduler of Celo and Celo-Adam (leaf names and shapes of the reference's
 * `theta.state`): `linear` (computed by the reference, output discarded), `linear_1` (mix
 * layer), `linear_2` (LSTM input projection), `rnn/linear` (the LSTM, nested as
 * `rnn.linear`), `step_size` (learning-rate head) and for Celo `rnn_to_controls` (no effect).
 */
export type CeloRnnParams = {
  linear: HaikuLinear;
  linear_1: HaikuLinear;
  linear_2: HaikuLinear;
  rnn: { linear: HaikuLinear };
  step_size: HaikuLinear;
  rnn_to_controls?: HaikuLinear;
};

/** The learned initial LSTM state (`[1, hidden]` each). */
export type CeloLstmInit = { hidden: tf.Tensor; cell: tf.Tensor };

/** Scheduler state: the loss buffer and the LSTM state (shared by all tensors, whose rows are equal). */
export type CeloSchedulerState = {
  /** The loss EMAs `[10]`. */
  lossMean: tf.Tensor1D;
  /** Running minima of the bias-corrected EMAs `[10]`. */
  lossMin: tf.Tensor1D;
  /** EMA decays `[10]` (from `numSteps`). */
  lossDecay: tf.Tensor1D;
  /** `1 / numSteps` (scalar). */
  invNumSteps: tf.Scalar;
  /** LSTM hidden state `[1, hidden]`. */
  h: tf.Tensor2D;
  /** LSTM cell state `[1, hidden]`. */
  c: tf.Tensor2D;
};

/** The loss buffer of {@link CeloSchedulerState} (EMAs, running minima, decays) and `1 / numSteps`, without the LSTM state. */
export type LossBuffer = Pick<CeloSchedulerState, 'lossMean' | 'lossMin' | 'lossDecay' | 'invNumSteps'>;

/** Validates `numSteps` (the expected training length the scheduler needs). */
export function checkNumSteps(name: string, numSteps: unknown): number {
  if (numSteps === undefined) {
    throw new LoptError('INVALID_OPTION', `${name} needs 'numSteps' (the expected number of training steps; its learned scheduler reads t / numSteps): pass it to the factory, optimizer(theta, { numSteps }) or init(params, { numSteps }).`, { option: 'numSteps' });
  }
  return checkNumber('numSteps', numSteps, { integer: true, min: 1 });
}

/** Decays of the ten loss EMAs: half-lives evenly spaced in log10 from 10 to `numSteps`. */
export function lossDecays(numSteps: number): number[] {
  const top = Math.log10(numSteps);
  return Array.from({ length: LOSS_EMAS }, (_, j) => Math.exp(-1 / 10 ** (1 + (j * (top - 1)) / (LOSS_EMAS - 1))));
}

/** The empty loss buffer (EMAs, running minima, decays) and `1 / numSteps` at the start of a run of `numSteps` steps. */
export function initLossBuffer(numSteps: number): LossBuffer {
  return {
    lossMean: tf.zeros([LOSS_EMAS]),
    lossMin: tf.fill([LOSS_EMAS], 999999999999.0),
    lossDecay: tf.tensor1d(lossDecays(numSteps)),
    invNumSteps: tf.scalar(1 / numSteps),
  };
}

/** The initial scheduler state for `numSteps` and the learned initial LSTM state. */
export function initSchedulerState(numSteps: number, init: CeloLstmInit): CeloSchedulerState {
  return {
    ...initLossBuffer(numSteps),
    h: tf.clone(init.hidden) as tf.Tensor2D,
    c: tf.clone(init.cell) as tf.Tensor2D,
  };
}

/** Updates the loss buffer with the loss of step `t` (0-based) and returns the nine loss features (Celo's, ALGORITHMS.md 2.2). */
export function lossFeatures(s: Pick<CeloSchedulerState, 'lossMean' | 'lossMin' | 'lossDecay'>, loss: tf.Scalar, t: number): { mean: tf.Tensor1D; min: tf.Tensor1D; lf: tf.Tensor } {
  const corr = tf.sub(1, tf.pow(s.lossDecay, t + 1));
  const approxMax = t === 0 ? loss : tf.max(tf.div(s.lossMean, corr));
  const clipped = tf.minimum(tf.mul(tf.abs(approxMax), 2), loss);
  const mean = tf.add(tf.mul(s.lossMean, s.lossDecay), tf.mul(clipped, tf.sub(1, s.lossDecay))) as tf.Tensor1D;
  const u = tf.div(mean, corr);
  const min = tf.minimum(s.lossMin, u) as tf.Tensor1D;
  if (t + 1 <= 2) return { mean, min, lf: tf.zeros([LOSS_EMAS - 1]) };
  const cur = tf.slice(u, 0, LOSS_EMAS - 1);
  const next = tf.slice(u, 1, LOSS_EMAS - 1);
  const rmin = tf.slice(min, 0, LOSS_EMAS - 1);
  const lf = tf.clipByValue(tf.sub(tf.div(tf.sub(cur, rmin), tf.maximum(1e-8, tf.sub(next, rmin))), 1), -1, 1);
  return { mean, min, lf };
}

const linear = (l: HaikuLinear, x: tf.Tensor): tf.Tensor => tf.add(tf.matMul(x as tf.Tensor2D, l.w as tf.Tensor2D), l.b);

/**
 * One scheduler step (ALGORITHMS.md 2.2-2.4) at step `t` (steps completed before this one)
 * with the step's loss: updates the loss buffer, builds the 18 inputs, runs the mix layer
 * and the LSTM and returns `lr_mult = 0.1 * exp(h W + b)` (a scalar), the weight of the single
 * stacked MLP (`softmax` over one control, exactly 1; Celo only) and the next state.
 */
export function schedulerStep(rnn: CeloRnnParams, s: CeloSchedulerState, loss: tf.Scalar, t: number): { lrMult: tf.Scalar; control?: tf.Scalar; next: CeloSchedulerState } {
  const { mean, min, lf } = lossFeatures(s, loss, t);
  const tau = tf.mul(s.invNumSteps, t);
  const time = tf.tanh(tf.mul(10, tf.sub(tau, tf.tensor1d(CELO_TIME_OFFSETS as number[]))));
  const x = tf.reshape(tf.concat([time, lf]), [1, SCHEDULER_INPUTS]);
  // The reference also evaluates relu(x W_linear + b_linear) and discards it; adding 0 times its
  // sum changes nothing (x is bounded) but keeps the leaf on tf.grad's tape (tfjs rejects
  // gradients w.r.t. inputs that do not reach the output).
  const unused = tf.mul(0, tf.sum(tf.relu(linear(rnn.linear, x))));
  const z = tf.add(tf.add(linear(rnn.linear_2, x), tf.relu(linear(rnn.linear_1, x))), unused) as tf.Tensor2D;
  const { h, c } = lstmStep({ w: rnn.rnn.linear.w as tf.Tensor2D, b: rnn.rnn.linear.b as tf.Tensor1D }, z, s.h, s.c);
  const lrMult = tf.reshape(tf.mul(0.1, tf.exp(linear(rnn.step_size, h))), []) as tf.Scalar;
  // Celo's control head: a softmax over the single MLP of the stack, exactly 1 (2.4, item 4).
  const control = rnn.rnn_to_controls ? (tf.reshape(tf.softmax(linear(rnn.rnn_to_controls, h)), []) as tf.Scalar) : undefined;
  return { lrMult, ...(control ? { control } : {}), next: { lossMean: mean, lossMin: min, lossDecay: s.lossDecay, invNumSteps: s.invNumSteps, h, c } };
}

/** Random (Haiku-initialized) scheduler weights and initial state, for meta-training from scratch. */
export function initScheduler(k: Key, hidden: number, withControls: boolean): { rnn_params: CeloRnnParams; lstm_init_state: CeloLstmInit } {
  const [k0, k1, k2, k3, k4, k5] = split(k, 6) as [Key, Key, Key, Key, Key, Key];
  const rnn: CeloRnnParams = {
    linear: initDense(k0, SCHEDULER_INPUTS, hidden),
    linear_1: initDense(k1, SCHEDULER_INPUTS, hidden),
    linear_2: initDense(k2, SCHEDULER_INPUTS, hidden),
    rnn: { linear: initDense(k3, 2 * hidden, 4 * hidden) },
    step_size: initDense(k4, hidden, 1),
  };
  if (withControls) rnn.rnn_to_controls = initDense(k5, hidden, 1);
  return { rnn_params: rnn, lstm_init_state: { hidden: tf.zeros([1, hidden]), cell: tf.zeros([1, hidden]) } };
}
