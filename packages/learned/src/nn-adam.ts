import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, split, treeFlatten, treeUnflatten, type Key, type OptState, type Optimizer, type TensorTree, tidy } from '@lopt/core';
import { checkGrads, checkKnownOptions, initDense, initLstm, lstmStep, type DenseParams, type LstmCarry, type LstmParams } from './common.js';
import type { LearnedArchitecture } from './types.js';

/** Configuration of {@link nnAdam}; defaults are learned_optimization's `NNAdam`. */
export type NnAdamConfig = {
  /** Scale of the LSTM's hyperparameter changes. Default 0.01. */
  readonly outputScale: number;
  /** Initial learning rate. Default 1e-4. */
  readonly initialLearningRate: number;
  /** Initial beta1. Default 0.9. */
  readonly initialBeta1: number;
  /** Initial beta2. Default 0.999. */
  readonly initialBeta2: number;
  /** Initial epsilon. Default 1e-8. */
  readonly initialEpsilon: number;
  /** Pull of the per-tensor hyperparameters back to theta's values per step (0 = off). Default 0. */
  readonly decayStrength: number;
  /** LSTM width. Default 32. */
  readonly lstmHiddenSize: number;
};

/** Meta-parameters of {@link nnAdam} (haiku names). */
export type NnAdamTheta = {
  lstm_init_state: LstmCarry;
  rnn_params: { 'rnn/linear': LstmParams };
  rnn_to_controls_params: { rnn_to_controls: DenseParams };
  per_layer_lr: tf.Scalar;
  per_layer_beta1: tf.Scalar;
  per_layer_beta2: tf.Scalar;
  per_layer_epsilon: tf.Scalar;
};

/** State of {@link nnAdam}'s optimizer: per-leaf moments, per-tensor hyperparameters `[L]` and LSTM state `[L, H]`. */
export type NnAdamState = LstmCarry & {
  m: tf.Tensor[];
  rms: tf.Tensor[];
  lr: tf.Tensor1D;
  beta1: tf.Tensor1D;
  beta2: tf.Tensor1D;
  epsilon: tf.Tensor1D;
};

/** Number of per-tensor statistics the LSTM reads. */
const NN_ADAM_FEATURES = 19;

const lrInverse = (x: tf.Tensor): tf.Tensor => tf.clipByValue(tf.exp(tf.mul(10, x)), 1e-8, 1e3);
const epsInverse = (x: tf.Tensor): tf.Tensor => tf.clipByValue(tf.exp(tf.mul(10, x)), 1e-11, 1e4);
const betaInverse = (x: tf.Tensor): tf.Tensor => tf.sub(1, tf.exp(tf.clipByValue(tf.mul(10, x), -10, 0)));
const forward = (x: tf.Tensor): tf.Tensor => tf.mul(0.1, tf.log(x));
const betaForward = (x: tf.Tensor): tf.Tensor => tf.mul(0.1, tf.log(tf.sub(1, x)));
const clipLogAbs = (x: tf.Tensor): tf.Tensor => tf.mul(tf.clipByValue(tf.log(tf.add(1e-8, tf.abs(x))), -5, 5), 0.5);

/**
 * Adam whose per-tensor hyperparameters an LSTM sets every step (learned_optimization's
 * `NNAdam`). The hyperparameters live in `0.1 * log` spaces (`0.1 * log(1 - beta)` for the
 * betas); each step a per-tensor LSTM (32 units) reads 19 statistics of the tensor and
 * emits changes through a zero-initialized linear layer scaled by `outputScale`. Step:
 * `p <- p - lr (1 + eps) m / (eps + sqrt(rms + 1e-10))` (no bias correction; large eps turns
 * it into momentum SGD), gradients clipped to +-1000.
 *
 * Meta-parameters (default 6,856): initial LSTM state `2*32`, LSTM `(19+32)*128 + 128`,
 * control head `32*4 + 4`, and the 4 initial hyperparameters.
 * State: 2 slots per parameter (m, rms), plus 4 hyperparameters and 64 LSTM values per tensor.
 * Needs neither `ctx.loss` nor `numSteps` (the reference requires `num_steps` at init but
 * never reads it).
 */
export function nnAdam(options: Partial<NnAdamConfig> = {}): LearnedArchitecture<NnAdamTheta, NnAdamConfig> {
  const config = checkNnAdamConfig(options);
  return {
    name: 'nnAdam',
    config,
    stateSlotsPerParameter: 2,
    hyperparameterPaths: () => ['per_layer_beta1', 'per_layer_beta2', 'per_layer_epsilon', 'per_layer_lr'],
    init: (key: Key): NnAdamTheta => initNnAdamTheta(key, config),
    optimizer(theta: NnAdamTheta): Optimizer {
      return {
        name: 'nnAdam',
        init: (params: TensorTree): OptState => ({ params, state: initNnAdamState(theta, params), iteration: 0 }),
        update(state: OptState, grads: TensorTree): OptState {
          checkGrads(state.params, grads, 'nnAdam');
          return tidy<OptState>(() => nnAdamStep(theta, config, state, grads));
        },
      };
    },
  };
}

/** Validates the options of {@link nnAdam} (defaults of learned_optimization). */
function checkNnAdamConfig(options: Partial<NnAdamConfig>): NnAdamConfig {
  checkKnownOptions('nnAdam', options, ['outputScale', 'initialLearningRate', 'initialBeta1', 'initialBeta2', 'initialEpsilon', 'decayStrength', 'lstmHiddenSize']);
  return {
    outputScale: checkNumber('outputScale', options.outputScale ?? 0.01),
    initialLearningRate: checkNumber('initialLearningRate', options.initialLearningRate ?? 1e-4, { greaterThan: 0 }),
    initialBeta1: checkNumber('initialBeta1', options.initialBeta1 ?? 0.9, { min: 0, lessThan: 1 }),
    initialBeta2: checkNumber('initialBeta2', options.initialBeta2 ?? 0.999, { min: 0, lessThan: 1 }),
    initialEpsilon: checkNumber('initialEpsilon', options.initialEpsilon ?? 1e-8, { greaterThan: 0 }),
    decayStrength: checkNumber('decayStrength', options.decayStrength ?? 0, { min: 0, max: 1 }),
    lstmHiddenSize: checkNumber('lstmHiddenSize', options.lstmHiddenSize ?? 32, { integer: true, min: 1 }),
  };
}

/** Initial meta-parameters: zero LSTM state, a zero-weight control head, the initial hyperparameters in their spaces. */
function initNnAdamTheta(key: Key, config: NnAdamConfig): NnAdamTheta {
  const H = config.lstmHiddenSize;
  const [k1, k2] = split(key, 2);
  return {
    lstm_init_state: { hidden: tf.zeros([1, H]), cell: tf.zeros([1, H]) },
    rnn_params: { 'rnn/linear': initLstm(k1 as Key, NN_ADAM_FEATURES, H) },
    rnn_to_controls_params: { rnn_to_controls: initDense(k2 as Key, H, 4, { zeroWeights: true }) },
    per_layer_lr: tf.scalar(0.1 * Math.log(config.initialLearningRate)),
    per_layer_beta1: tf.scalar(0.1 * Math.log(1 - config.initialBeta1)),
    per_layer_beta2: tf.scalar(0.1 * Math.log(1 - config.initialBeta2)),
    per_layer_epsilon: tf.scalar(0.1 * Math.log(config.initialEpsilon)),
  };
}

/** The optimizer state at the start: zero moments, theta's hyperparameters and LSTM state per tensor. */
function initNnAdamState(theta: NnAdamTheta, params: TensorTree): NnAdamState {
  const { leaves } = treeFlatten(params);
  const L = leaves.length;
  const perTensor = (t: tf.Scalar): tf.Tensor1D => tf.tile(tf.reshape(t, [1]), [L]) as tf.Tensor1D;
  return tidy(() => ({
    m: leaves.map((p) => tf.zerosLike(p)),
    rms: leaves.map((p) => tf.zerosLike(p)),
    lr: perTensor(theta.per_layer_lr),
    beta1: perTensor(theta.per_layer_beta1),
    beta2: perTensor(theta.per_layer_beta2),
    epsilon: perTensor(theta.per_layer_epsilon),
    hidden: tf.tile(theta.lstm_init_state.hidden, [L, 1]) as tf.Tensor2D,
    cell: tf.tile(theta.lstm_init_state.cell, [L, 1]) as tf.Tensor2D,
  }));
}

/** One update: an Adam step per tensor with its own hyperparameters, then the LSTM moves the hyperparameters. */
function nnAdamStep(theta: NnAdamTheta, config: NnAdamConfig, state: OptState, grads: TensorTree): OptState {
  const s = state.state as NnAdamState;
  const { leaves, structure } = treeFlatten(state.params);
  const gl = treeFlatten(grads).leaves.map((g) => tf.clipByValue(g, -1000, 1000));
  const hyper = { b1: betaInverse(s.beta1), b2: betaInverse(s.beta2), eps: epsInverse(s.epsilon), lr: lrInverse(s.lr) };
  const steps = leaves.map((p, i) => nnAdamLeaf(s, p, gl[i] as tf.Tensor, i, hyper));
  const x = tf.stack(steps.map((st) => st.feats)) as tf.Tensor2D;
  const { h, c } = lstmStep(theta.rnn_params['rnn/linear'], x, s.hidden, s.cell);
  const head = theta.rnn_to_controls_params.rnn_to_controls;
  const deltas = tf.mul(tf.add(tf.matMul(h, head.w), head.b), config.outputScale);
  const [dLr, dB1, dB2, dEps] = tf.split(deltas, 4, 1).map((d) => tf.reshape(d, [-1]));
  const pull = (v: tf.Tensor, init: tf.Tensor): tf.Tensor => (config.decayStrength > 0 ? tf.sub(v, tf.mul(tf.sub(v, init), config.decayStrength)) : v);
  const nextState: NnAdamState = {
    m: steps.map((st) => st.m),
    rms: steps.map((st) => st.rms),
    lr: forward(lrInverse(pull(tf.add(s.lr, dLr as tf.Tensor), theta.per_layer_lr))) as tf.Tensor1D,
    beta1: betaForward(betaInverse(pull(tf.add(s.beta1, dB1 as tf.Tensor), theta.per_layer_beta1))) as tf.Tensor1D,
    beta2: betaForward(betaInverse(pull(tf.add(s.beta2, dB2 as tf.Tensor), theta.per_layer_beta2))) as tf.Tensor1D,
    epsilon: forward(epsInverse(pull(tf.add(s.epsilon, dEps as tf.Tensor), theta.per_layer_epsilon))) as tf.Tensor1D,
    hidden: h,
    cell: c,
  };
  return { params: treeUnflatten(structure, steps.map((st) => st.p)), state: nextState, iteration: state.iteration + 1 };
}

/** Tensor `i`'s Adam step with its hyperparameters (value space), and the 19 statistics the LSTM reads. */
function nnAdamLeaf(
  s: NnAdamState,
  p: tf.Tensor,
  g: tf.Tensor,
  i: number,
  hyper: { readonly b1: tf.Tensor; readonly b2: tf.Tensor; readonly eps: tf.Tensor; readonly lr: tf.Tensor },
): { p: tf.Tensor; m: tf.Tensor; rms: tf.Tensor; feats: tf.Tensor } {
  const pick = (t: tf.Tensor): tf.Tensor => tf.reshape(tf.slice(t, [i], [1]), []);
  const b1i = pick(hyper.b1);
  const b2i = pick(hyper.b2);
  const mi = tf.add(tf.mul(b1i, s.m[i] as tf.Tensor), tf.mul(tf.sub(1, b1i), g));
  const ri = tf.add(tf.mul(b2i, s.rms[i] as tf.Tensor), tf.mul(tf.sub(1, b2i), tf.square(g)));
  const ei = pick(hyper.eps);
  const step = tf.mul(tf.div(tf.mul(pick(hyper.lr), tf.add(1, ei)), tf.add(ei, tf.sqrt(tf.add(ri, 1e-10)))), mi);
  // 19 statistics in sorted-key order: beta1, beta2, epsilon, is_bias, is_scalar, lr,
  // mean_g_mag, mean_g_sign, mean_gabs_mag, mean_m_mag, mean_m_sign, mean_p_mag,
  // mean_p_sign, mean_rms, mean_sign, var_g, var_m, var_p, var_rms.
  const meanM = tf.mean(mi);
  const meanR = tf.mean(ri);
  const meanP = tf.mean(p);
  const meanG = tf.mean(g);
  const hp = (t: tf.Tensor): tf.Tensor => tf.mul(tf.clipByValue(pick(t), -5, 5), 0.2);
  const feats = tf.stack([
    hp(s.beta1),
    hp(s.beta2),
    hp(s.epsilon),
    tf.scalar(p.rank === 1 ? 1 : -1),
    tf.scalar(p.rank === 0 ? 1 : -1),
    hp(s.lr),
    clipLogAbs(meanG),
    tf.sign(meanG),
    clipLogAbs(tf.mean(tf.abs(g))),
    clipLogAbs(meanM),
    tf.sign(meanM),
    clipLogAbs(meanP),
    tf.sign(meanP),
    clipLogAbs(meanR),
    tf.sign(meanR),
    clipLogAbs(tf.mean(tf.square(tf.sub(g, meanG)))),
    clipLogAbs(tf.mean(tf.square(tf.sub(mi, meanM)))),
    clipLogAbs(tf.mean(tf.square(tf.sub(p, meanP)))),
    clipLogAbs(tf.mean(tf.square(tf.sub(ri, meanR)))),
  ]);
  return { p: tf.sub(p, step), m: mi, rms: ri, feats };
}
