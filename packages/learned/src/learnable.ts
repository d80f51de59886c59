import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, treeMap, treeZerosLike, type Key, type OptState, type Optimizer, type TensorTree, tidy } from '@lopt/core';
import { checkAdamDecays, checkGrads, checkKnownOptions } from './common.js';
import type { LearnedArchitecture } from './types.js';

/** Configuration of {@link learnableSgd}. */
export type LearnableSgdConfig = {
  /** Initial learning rate (theta stores its log). Default 0.01 (the reference's). */
  readonly learningRate: number;
};

/** Meta-parameters of {@link learnableSgd}. */
export type LearnableSgdTheta = { log_lr: tf.Scalar };

/**
 * SGD whose learning rate is a meta-parameter, stored as `log_lr`
 * (learned_optimization's `LearnableSGD`). Step: `p <- p - exp(log_lr) * g`. No state.
 */
export function learnableSgd(options: Partial<LearnableSgdConfig> = {}): LearnedArchitecture<LearnableSgdTheta, LearnableSgdConfig> {
  checkKnownOptions('learnableSgd', options, ['learningRate']);
  const config: LearnableSgdConfig = { learningRate: checkNumber('learningRate', options.learningRate ?? 0.01, { greaterThan: 0 }) };
  return {
    name: 'learnableSgd',
    config,
    stateSlotsPerParameter: 0,
    hyperparameterPaths: () => ['log_lr'],
    init: (_key: Key) => ({ log_lr: tf.scalar(Math.log(config.learningRate)) }),
    optimizer(theta): Optimizer {
      return {
        name: 'learnableSgd',
        init: (params) => ({ params, state: {}, iteration: 0 }),
        update(state, grads) {
          checkGrads(state.params, grads, 'learnableSgd');
          return tidy<OptState>(() => {
            const lr = tf.exp(theta.log_lr);
            const params = treeMap((p, g) => tf.sub(p, tf.mul(lr, g as tf.Tensor)), state.params, grads);
            return { params, state: {}, iteration: state.iteration + 1 };
          });
        },
      };
    },
  };
}

/** Configuration of {@link learnableSgdm}. */
export type LearnableSgdmConfig = {
  /** Initial learning rate (stored as log). Default 0.01. */
  readonly learningRate: number;
  /** Initial momentum (stored as `log(1 - momentum)`). Default 0.9. */
  readonly momentum: number;
};

/** Meta-parameters of {@link learnableSgdm}. */
export type LearnableSgdmTheta = { log_lr: tf.Scalar; one_minus_momentum: tf.Scalar };

/**
 * SGD with momentum whose learning rate and momentum are meta-parameters
 * (`LearnableSGDM`, optax's `sgd(lr, momentum)`): `t <- g + mu * t`, `p <- p - lr * t`,
 * with `lr = exp(log_lr)`, `mu = 1 - exp(one_minus_momentum)`. One slot per parameter.
 */
export function learnableSgdm(options: Partial<LearnableSgdmConfig> = {}): LearnedArchitecture<LearnableSgdmTheta, LearnableSgdmConfig> {
  checkKnownOptions('learnableSgdm', options, ['learningRate', 'momentum']);
  const config: LearnableSgdmConfig = {
    learningRate: checkNumber('learningRate', options.learningRate ?? 0.01, { greaterThan: 0 }),
    momentum: checkNumber('momentum', options.momentum ?? 0.9, { min: 0, lessThan: 1 }),
  };
  return {
    name: 'learnableSgdm',
    config,
    stateSlotsPerParameter: 1,
    hyperparameterPaths: () => ['log_lr', 'one_minus_momentum'],
    init: () => ({ log_lr: tf.scalar(Math.log(config.learningRate)), one_minus_momentum: tf.scalar(Math.log(1 - config.momentum)) }),
    optimizer(theta): Optimizer {
      return {
        name: 'learnableSgdm',
        init: (params) => ({ params, state: { trace: treeZerosLike(params) }, iteration: 0 }),
        update(state, grads) {
          checkGrads(state.params, grads, 'learnableSgdm');
          return tidy<OptState>(() => {
            const lr = tf.exp(theta.log_lr);
            const mu = tf.sub(1, tf.exp(theta.one_minus_momentum));
            const prev = (state.state as { trace: TensorTree }).trace;
            const trace = treeMap((t, g) => tf.add(g as tf.Tensor, tf.mul(mu, t)), prev, grads);
            const params = treeMap((p, t) => tf.sub(p, tf.mul(lr, t as tf.Tensor)), state.params, trace);
            return { params, state: { trace }, iteration: state.iteration + 1 };
          });
        },
      };
    },
  };
}

/** Configuration of {@link learnableAdam}. */
export type LearnableAdamConfig = {
  /** Initial learning rate (stored as log). Default 1e-3. */
  readonly learningRate: number;
  /** Initial beta1 (stored as `log(1 - beta1)`). Default 0.9. */
  readonly beta1: number;
  /** Initial beta2 (stored as `log(1 - beta2)`). Default 0.999. */
  readonly beta2: number;
  /** Initial epsilon (stored as log). Default 1e-8. */
  readonly epsilon: number;
  /**
   * Fixed epsilon inside the square root (`sqrt(v_hat + epsilonRoot)`), not learned.
   * Default 0 (optax's and `@lopt/optimizers`' `adam`); learned_optimization's optax
   * wrapper passes 1e-8.
   */
  readonly epsilonRoot: number;
};

/** Meta-parameters of {@link learnableAdam}. */
export type LearnableAdamTheta = { log_lr: tf.Scalar; one_minus_beta1: tf.Scalar; one_minus_beta2: tf.Scalar; log_epsilon: tf.Scalar };

/**
 * Adam whose learning rate, betas and epsilon are meta-parameters (`LearnableAdam`):
 * `m <- b1 m + (1-b1) g`, `v <- b2 v + (1-b2) g^2`,
 * `p <- p - lr * m_hat / (sqrt(v_hat + epsilonRoot) + eps)` with bias correction.
 * With its initial theta it takes exactly the steps of `adam` with the same values.
 * Two slots per parameter.
 */
export function learnableAdam(options: Partial<LearnableAdamConfig> = {}): LearnedArchitecture<LearnableAdamTheta, LearnableAdamConfig> {
  checkKnownOptions('learnableAdam', options, ['learningRate', 'beta1', 'beta2', 'epsilon', 'epsilonRoot']);
  const config: LearnableAdamConfig = {
    learningRate: checkNumber('learningRate', options.learningRate ?? 1e-3, { greaterThan: 0 }),
    ...checkAdamDecays(options),
    epsilon: checkNumber('epsilon', options.epsilon ?? 1e-8, { greaterThan: 0 }),
    epsilonRoot: checkNumber('epsilonRoot', options.epsilonRoot ?? 0, { min: 0 }),
  };
  return {
    name: 'learnableAdam',
    config,
    stateSlotsPerParameter: 2,
    hyperparameterPaths: () => ['log_epsilon', 'log_lr', 'one_minus_beta1', 'one_minus_beta2'],
    init: () => ({
      log_lr: tf.scalar(Math.log(config.learningRate)),
      one_minus_beta1: tf.scalar(Math.log(1 - config.beta1)),
      one_minus_beta2: tf.scalar(Math.log(1 - config.beta2)),
      log_epsilon: tf.scalar(Math.log(config.epsilon)),
    }),
    optimizer(theta): Optimizer {
      return {
        name: 'learnableAdam',
        init: (params) => ({ params, state: { mu: treeZerosLike(params), nu: treeZerosLike(params) }, iteration: 0 }),
        update(state, grads) {
          checkGrads(state.params, grads, 'learnableAdam');
          return tidy<OptState>(() => {
            const lr = tf.exp(theta.log_lr);
            const b1 = tf.sub(1, tf.exp(theta.one_minus_beta1));
            const b2 = tf.sub(1, tf.exp(theta.one_minus_beta2));
            const eps = tf.exp(theta.log_epsilon);
            const t = state.iteration + 1;
            const s = state.state as { mu: TensorTree; nu: TensorTree };
            const mu = treeMap((m, g) => tf.add(tf.mul(b1, m), tf.mul(tf.sub(1, b1), g as tf.Tensor)), s.mu, grads);
            const nu = treeMap((v, g) => tf.add(tf.mul(b2, v), tf.mul(tf.sub(1, b2), tf.square(g as tf.Tensor))), s.nu, grads);
            const c1 = tf.sub(1, tf.pow(b1, t));
            const c2 = tf.sub(1, tf.pow(b2, t));
            const params = treeMap(
              (p, m, v) => {
                const mHat = tf.div(m as tf.Tensor, c1);
                const vHat = tf.div(v as tf.Tensor, c2);
                return tf.sub(p, tf.mul(lr, tf.div(mHat, tf.add(tf.sqrt(tf.add(vHat, config.epsilonRoot)), eps))));
              },
              state.params,
              mu,
              nu,
            );
            return { params, state: { mu, nu }, iteration: t };
          });
        },
      };
    },
  };
}
