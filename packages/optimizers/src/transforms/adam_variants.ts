import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkOneOf, treeMap, treeZerosLike, type GradientTransformation, type TensorTree } from '@lopt/core';
import { checkHyper, checkKnownOptions, counter, isZero, oneMinus, powHyper, readCount, type Hyper } from '../hyper.js';
import { adamHypers, biasCorrectedMu, ema, initAdamMoments, nextFirstMoment, type ScaleByAdamOptions, type ScaleByAdamState } from './adam.js';

const ADAM_KEYS = ['beta1', 'beta2', 'epsilon', 'epsilonRoot', 'nesterov'];

function denom(v: tf.Tensor, epsRoot: Hyper, eps: Hyper): tf.Tensor {
  return tf.add(tf.sqrt(isZero(epsRoot) ? v : tf.add(v, epsRoot)), eps);
}

/**
 * AdaBelief scaling (Zhuang et al. 2020; optax `scale_by_belief`): like Adam, but the
 * second moment tracks the squared prediction error `(g - m)^2`, plus `epsilonRoot` each
 * step. Defaults (optax): beta1 0.9, beta2 0.999, epsilon 1e-16, epsilonRoot 1e-16.
 */
export function scaleByBelief(options: ScaleByAdamOptions = {}): GradientTransformation<ScaleByAdamState> {
  checkKnownOptions('scaleByBelief', options, ADAM_KEYS);
  const h = adamHypers({ epsilonRoot: 1e-16, ...options }, { epsilon: 1e-16 });
  return {
    init: (params) => ({ count: counter(0), mu: treeZerosLike(params), nu: treeZerosLike(params) }),
    update(updates, state) {
      const t = readCount(state.count) + 1;
      const mu = treeMap((g, m) => ema(g, m, h.beta1), updates, state.mu);
      const nu = treeMap((g, m, v) => tf.add(ema(tf.square(tf.sub(g, m)), v, h.beta2), h.epsilonRoot), updates, mu, state.nu);
      const bc2 = oneMinus(powHyper(h.beta2, t));
      const out = treeMap(
        (g, m, v) => tf.div(biasCorrectedMu(g, m, h.beta1, t, h.nesterov), tf.add(tf.sqrt(tf.div(v, bc2)), h.epsilon)),
        updates,
        mu,
        nu,
      );
      return { updates: out, state: { count: counter(t), mu, nu } };
    },
  };
}

/** Options of {@link scaleByRAdam}. */
export interface ScaleByRAdamOptions extends ScaleByAdamOptions {
  /** Use the rectified update once the SMA length `rho_t` reaches this. Default 5 (optax; the paper uses 4). */
  readonly threshold?: number;
}

/**
 * Rectified Adam scaling (Liu et al. 2020; optax `scale_by_radam`): with
 * `rho_inf = 2/(1-b2) - 1` and `rho_t = rho_inf - 2 t b2^t / (1 - b2^t)`, the update is
 * `r_t m^ / (sqrt(v^) + eps)` when `rho_t >= threshold`, else the un-normalized `m^`.
 * Follows optax (threshold 5 and the plain `m^` in the warm-up phase).
 */
export function scaleByRAdam(options: ScaleByRAdamOptions = {}): GradientTransformation<ScaleByAdamState> {
  checkKnownOptions('scaleByRAdam', options, [...ADAM_KEYS, 'threshold']);
  const h = adamHypers(options);
  // Below 4 the rectification term takes the root of a negative number (NaN), so 4 is the floor.
  const threshold = checkHyper('threshold', options.threshold ?? 5, { min: 4 }) as number;
  if (typeof h.beta2 !== 'number') {
    throw new LoptError('INVALID_OPTION', "scaleByRAdam needs a numeric 'beta2' (the rectification is decided on the host).", {
      option: 'beta2',
    });
  }
  const b2 = h.beta2;
  const rhoInf = 2 / (1 - b2) - 1;
  return {
    init: (params) => ({ count: counter(0), mu: treeZerosLike(params), nu: treeZerosLike(params) }),
    update(updates, state) {
      const t = readCount(state.count) + 1;
      const mu = treeMap((g, m) => ema(g, m, h.beta1), updates, state.mu);
      const nu = treeMap((g, v) => ema(tf.square(g), v, b2), updates, state.nu);
      const b2t = b2 ** t;
      const rho = rhoInf - (2 * t * b2t) / (1 - b2t);
      const out = treeMap(
        (g, m, v) => {
          const mHat = biasCorrectedMu(g, m, h.beta1, t, h.nesterov);
          if (rho < threshold) return mHat;
          const r = Math.sqrt(((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho));
          return tf.div(tf.mul(r, mHat), denom(tf.div(v, 1 - b2t), h.epsilonRoot, h.epsilon));
        },
        updates,
        mu,
        nu,
      );
      return { updates: out, state: { count: counter(t), mu, nu } };
    },
  };
}

/** Options of {@link scaleByYogi}. */
export interface ScaleByYogiOptions {
  /** Default 0.9. */
  readonly beta1?: Hyper;
  /** Default 0.999. */
  readonly beta2?: Hyper;
  /** Default 1e-3 (optax and the paper). */
  readonly epsilon?: Hyper;
  /** Default 0. */
  readonly epsilonRoot?: Hyper;
  /** Initial value of both moments. Default 1e-6. */
  readonly initialAccumulatorValue?: number;
}

/**
 * Yogi scaling (Zaheer et al. 2018; optax `scale_by_yogi`):
 * `v = v - (1 - b2) sign(v - g^2) g^2`, bias-corrected like Adam; both moments start at
 * `initialAccumulatorValue` (1e-6).
 */
export function scaleByYogi(options: ScaleByYogiOptions = {}): GradientTransformation<ScaleByAdamState> {
  checkKnownOptions('scaleByYogi', options, ['beta1', 'beta2', 'epsilon', 'epsilonRoot', 'initialAccumulatorValue']);
  const h = adamHypers({ beta1: options.beta1, beta2: options.beta2, epsilon: options.epsilon ?? 1e-3, epsilonRoot: options.epsilonRoot } as ScaleByAdamOptions);
  const init = checkHyper('initialAccumulatorValue', options.initialAccumulatorValue ?? 1e-6, { min: 0 }) as number;
  return {
    init: (params) => ({
      count: counter(0),
      mu: treeMap((x) => tf.fill(x.shape, init, 'float32'), params),
      nu: treeMap((x) => tf.fill(x.shape, init, 'float32'), params),
    }),
    update(updates, state) {
      const t = readCount(state.count) + 1;
      const mu = treeMap((g, m) => ema(g, m, h.beta1), updates, state.mu);
      const nu = treeMap(
        (g, v) => {
          const g2 = tf.square(g);
          return tf.sub(v, tf.mul(oneMinus(h.beta2), tf.mul(tf.sign(tf.sub(v, g2)), g2)));
        },
        updates,
        state.nu,
      );
      const bc1 = oneMinus(powHyper(h.beta1, t));
      const bc2 = oneMinus(powHyper(h.beta2, t));
      const out = treeMap((m, v) => tf.div(tf.div(m, bc1), denom(tf.div(v, bc2), h.epsilonRoot, h.epsilon)), mu, nu);
      return { updates: out, state: { count: counter(t), mu, nu } };
    },
  };
}

/** State of {@link scaleByAmsgrad}: Adam's state plus the running maximum of `v^`. */
export type ScaleByAmsgradState = { count: tf.Scalar; mu: TensorTree; nu: TensorTree; nuMax: TensorTree };

/**
 * AMSGrad scaling (Reddi et al. 2018; optax `scale_by_amsgrad`): Adam with the
 * denominator built from the running maximum of the **bias-corrected** `v^` (optax; the
 * paper has no bias correction).
 */
export function scaleByAmsgrad(options: Omit<ScaleByAdamOptions, 'nesterov'> = {}): GradientTransformation<ScaleByAmsgradState> {
  checkKnownOptions('scaleByAmsgrad', options, ['beta1', 'beta2', 'epsilon', 'epsilonRoot']);
  const h = adamHypers(options);
  return {
    init: (params) => ({ count: counter(0), mu: treeZerosLike(params), nu: treeZerosLike(params), nuMax: treeZerosLike(params) }),
    update(updates, state) {
      const t = readCount(state.count) + 1;
      const mu = treeMap((g, m) => ema(g, m, h.beta1), updates, state.mu);
      const nu = treeMap((g, v) => ema(tf.square(g), v, h.beta2), updates, state.nu);
      const bc1 = oneMinus(powHyper(h.beta1, t));
      const bc2 = oneMinus(powHyper(h.beta2, t));
      const nuMax = treeMap((mx, v) => tf.maximum(mx, tf.div(v, bc2)), state.nuMax, nu);
      const out = treeMap((m, v) => tf.div(tf.div(m, bc1), denom(v, h.epsilonRoot, h.epsilon)), mu, nuMax);
      return { updates: out, state: { count: counter(t), mu, nu, nuMax } };
    },
  };
}

/**
 * AdaMax scaling (Kingma & Ba 2015, section 7; optax `scale_by_adamax`):
 * `u = max(b2 u, |g| + eps)`, update `m^ / u` (epsilon inside the max, as optax).
 */
export function scaleByAdamax(options: Omit<ScaleByAdamOptions, 'nesterov' | 'epsilonRoot'> = {}): GradientTransformation<ScaleByAdamState> {
  checkKnownOptions('scaleByAdamax', options, ['beta1', 'beta2', 'epsilon']);
  const h = adamHypers(options);
  return {
    init: initAdamMoments,
    update(updates, state) {
      const { t, mu } = nextFirstMoment(updates, state, h.beta1);
      const nu = treeMap((g, v) => tf.maximum(tf.add(tf.abs(g), h.epsilon), tf.mul(h.beta2, v)), updates, state.nu);
      const bc1 = oneMinus(powHyper(h.beta1, t));
      const out = treeMap((m, v) => tf.div(tf.div(m, bc1), v), mu, nu);
      return { updates: out, state: { count: counter(t), mu, nu } };
    },
  };
}

/** Options of {@link scaleByLion}. */
export interface ScaleByLionOptions {
  /** Interpolation between gradient and momentum for the update direction. Default 0.9. */
  readonly beta1?: Hyper;
  /** Momentum decay. Default 0.99. */
  readonly beta2?: Hyper;
  /** `hard` (sign, the paper), `smooth` (tanh) or `refined` (linear below 1). Default `hard`. */
  readonly mode?: 'hard' | 'smooth' | 'refined';
}

/** State of {@link scaleByLion}: counter and momentum. */
export type ScaleByLionState = { count: tf.Scalar; mu: TensorTree };

/**
 * Lion scaling (Chen et al. 2023; optax `scale_by_lion`):
 * `u = sign((1-b1) g + b1 m)`, then `m = b2 m + (1-b2) g`.
 */
export function scaleByLion(options: ScaleByLionOptions = {}): GradientTransformation<ScaleByLionState> {
  checkKnownOptions('scaleByLion', options, ['beta1', 'beta2', 'mode']);
  const b1 = checkHyper('beta1', options.beta1 ?? 0.9, { min: 0, lessThan: 1 });
  const b2 = checkHyper('beta2', options.beta2 ?? 0.99, { min: 0, lessThan: 1 });
  const mode = checkOneOf('mode', options.mode ?? 'hard', ['hard', 'smooth', 'refined'] as const);
  return {
    init: (params) => ({ count: counter(0), mu: treeZerosLike(params) }),
    update(updates, state) {
      const t = readCount(state.count) + 1;
      const out = treeMap(
        (g, m) => {
          const x = ema(g, m, b1);
          if (mode === 'hard') return tf.sign(x);
          if (mode === 'smooth') return tf.tanh(x);
          return tf.where(tf.less(tf.abs(x), 1), x, tf.sign(x));
        },
        updates,
        state.mu,
      );
      const mu = treeMap((g, m) => ema(g, m, b2), updates, state.mu);
      return { updates: out, state: { count: counter(t), mu } };
    },
  };
}

