import * as tf from '@tensorflow/tfjs-core';
import { treeMap, treeZerosLike, type GradientTransformation, type TensorTree } from '@lopt/core';
import {
  checkBoolean,
  checkHyper,
  checkKnownOptions,
  counter,
  divHyper,
  isZero,
  oneMinus,
  powHyper,
  readCount,
  type Hyper,
} from '../hyper.js';

/** Options of {@link scaleByAdam} (defaults are optax's). */
export interface ScaleByAdamOptions {
  /** Decay of the first-moment average. Default 0.9; in [0, 1). */
  readonly beta1?: Hyper;
  /** Decay of the second-moment average. Default 0.999; in [0, 1). */
  readonly beta2?: Hyper;
  /** Added to the denominator outside the square root. Default 1e-8. */
  readonly epsilon?: Hyper;
  /** Added inside the square root (use > 0 when differentiating through the update). Default 0. */
  readonly epsilonRoot?: Hyper;
  /** Nesterov momentum (NAdam, Dozat 2016, as optax). Default false. */
  readonly nesterov?: boolean;
}

/** State of {@link scaleByAdam}: the update count (int32 scalar) and the two moment trees. */
export type ScaleByAdamState = { count: tf.Scalar; mu: TensorTree; nu: TensorTree };

/** Validates the Adam-family options shared by Adam, AdamW, NAdamW, AMSGrad and friends. */
export function adamHypers(options: ScaleByAdamOptions, defaults: { epsilon?: number } = {}) {
  return {
    beta1: checkHyper('beta1', options.beta1 ?? 0.9, { min: 0, lessThan: 1 }),
    beta2: checkHyper('beta2', options.beta2 ?? 0.999, { min: 0, lessThan: 1 }),
    epsilon: checkHyper('epsilon', options.epsilon ?? defaults.epsilon ?? 1e-8, { min: 0 }),
    epsilonRoot: checkHyper('epsilonRoot', options.epsilonRoot ?? 0, { min: 0 }),
    nesterov: checkBoolean('nesterov', options.nesterov, false),
  };
}

/** `decay * m + (1 - decay) * g` (optax `update_moment`). */
export function ema(g: tf.Tensor, m: tf.Tensor, decay: Hyper): tf.Tensor {
  return tf.add(tf.mul(oneMinus(decay), g), tf.mul(decay, m));
}

/**
 * The bias-corrected first moment `m / (1 - b1^t)`, or with `nesterov` optax's NAdam form
 * `b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)`.
 */
export function biasCorrectedMu(g: tf.Tensor, m: tf.Tensor, beta1: Hyper, t: number, nesterov: boolean): tf.Tensor {
  const bc1 = oneMinus(powHyper(beta1, t));
  if (!nesterov) return tf.div(m, bc1);
  const bcNext = oneMinus(powHyper(beta1, t + 1));
  return tf.add(tf.mul(divHyper(beta1, bcNext), m), tf.mul(divHyper(oneMinus(beta1), bc1), g));
}

/** The initial state of Adam-family scalings: step 0, zero first and second moments. */
export function initAdamMoments(params: TensorTree): ScaleByAdamState {
  return { count: counter(0), mu: treeZerosLike(params), nu: treeZerosLike(params) };
}

/** The 1-based step `t` of this update and the new first moment `mu = b1 mu + (1 - b1) g`. */
export function nextFirstMoment(updates: TensorTree, state: { readonly count: tf.Scalar; readonly mu: TensorTree }, beta1: Hyper): { t: number; mu: TensorTree } {
  return { t: readCount(state.count) + 1, mu: treeMap((g, m) => ema(g, m, beta1), updates, state.mu) };
}

/**
 * Rescales updates by Adam's bias-corrected moments (optax `scale_by_adam`, Kingma & Ba 2015):
 * `m = b1 m + (1-b1) g`, `v = b2 v + (1-b2) g^2`, `u = m^ / (sqrt(v^ + epsilonRoot) + epsilon)`
 * with `m^ = m / (1 - b1^t)`, `v^ = v / (1 - b2^t)`, `t` the 1-based step. Epsilon is outside
 * the square root, as in optax and the paper. With `nesterov`, `m^` is replaced by
 * `b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)` (optax's NAdam).
 */
export function scaleByAdam(options: ScaleByAdamOptions = {}): GradientTransformation<ScaleByAdamState> {
  checkKnownOptions('scaleByAdam', options, ['beta1', 'beta2', 'epsilon', 'epsilonRoot', 'nesterov']);
  const h = adamHypers(options);
  return {
    init: initAdamMoments,
    update(updates, state) {
      const { t, mu } = nextFirstMoment(updates, state, h.beta1);
      const nu = treeMap((g, v) => ema(tf.square(g), v, h.beta2), updates, state.nu);
      const bc2 = oneMinus(powHyper(h.beta2, t));
      const out = treeMap(
        (g, m, v) => {
          const mHat = biasCorrectedMu(g, m, h.beta1, t, h.nesterov);
          let vHat = tf.div(v, bc2);
          if (!isZero(h.epsilonRoot)) vHat = tf.add(vHat, h.epsilonRoot);
          return tf.div(mHat, tf.add(tf.sqrt(vHat), h.epsilon));
        },
        updates,
        mu,
        nu,
      );
      return { updates: out, state: { count: counter(t), mu, nu } };
    },
  };
}
