import * as tf from '@tensorflow/tfjs-core';
import { treeMap, treeZerosLike, type GradientTransformation, type TensorTree } from '@lopt/core';
import { checkBoolean, checkHyper, checkKnownOptions, counter, oneMinus, powHyper, readCount, type Hyper } from '../hyper.js';
import { ema } from './adam.js';

/** Options of {@link scaleByRms} and {@link scaleByStddev} (optax defaults). */
export interface ScaleByRmsOptions {
  /** Decay of the squared-gradient average. Default 0.9; in [0, 1). */
  readonly decay?: Hyper;
  /** Stabilizer. Default 1e-8. */
  readonly epsilon?: Hyper;
  /** Initial value of the accumulators. Default 0 (optax; tf.train.rmsprop starts at 0 too). */
  readonly initialScale?: number;
  /** `1/sqrt(v + eps)` when true (default, optax), `1/(sqrt(v) + eps)` when false. */
  readonly epsilonInSqrt?: boolean;
  /** Divide the averages by `1 - decay^t`. Default false. */
  readonly biasCorrection?: boolean;
}

/** State of {@link scaleByRms}: counter (used only with bias correction) and the squared-gradient average. */
export type ScaleByRmsState = { count: tf.Scalar; nu: TensorTree };
/** State of {@link scaleByStddev}: counter, gradient average and squared-gradient average. */
export type ScaleByStddevState = { count: tf.Scalar; mu: TensorTree; nu: TensorTree };

function rmsHypers(where: string, options: ScaleByRmsOptions) {
  checkKnownOptions(where, options, ['decay', 'epsilon', 'initialScale', 'epsilonInSqrt', 'biasCorrection']);
  return {
    decay: checkHyper('decay', options.decay ?? 0.9, { min: 0, lessThan: 1 }),
    epsilon: checkHyper('epsilon', options.epsilon ?? 1e-8, { min: 0 }),
    initialScale: checkHyper('initialScale', options.initialScale ?? 0, { min: 0 }) as number,
    epsilonInSqrt: checkBoolean('epsilonInSqrt', options.epsilonInSqrt, true),
    biasCorrection: checkBoolean('biasCorrection', options.biasCorrection, false),
  };
}

function fullLike(tree: TensorTree, value: number): TensorTree {
  return treeMap((x) => tf.fill(x.shape, value, 'float32'), tree);
}

function invRoot(x: tf.Tensor, eps: Hyper, inSqrt: boolean): tf.Tensor {
  return inSqrt ? tf.rsqrt(tf.add(x, eps)) : tf.div(1, tf.add(tf.sqrt(x), eps));
}

/**
 * RMSProp scaling (Tieleman & Hinton 2012; optax `scale_by_rms`): `v = d v + (1-d) g^2`,
 * `u = g / sqrt(v + eps)` (epsilon inside the root by default, as optax; `tf.train.rmsprop`
 * also adds it inside).
 */
export function scaleByRms(options: ScaleByRmsOptions = {}): GradientTransformation<ScaleByRmsState> {
  const h = rmsHypers('scaleByRms', options);
  return {
    init: (params) => ({ count: counter(0), nu: fullLike(params, h.initialScale) }),
    update(updates, state) {
      const t = readCount(state.count) + 1;
      const nu = treeMap((g, v) => ema(tf.square(g), v, h.decay), updates, state.nu);
      const bc = h.biasCorrection ? oneMinus(powHyper(h.decay, t)) : 1;
      const out = treeMap((g, v) => tf.mul(g, invRoot(h.biasCorrection ? tf.div(v, bc) : v, h.epsilon, h.epsilonInSqrt)), updates, nu);
      return { updates: out, state: { count: counter(t), nu } };
    },
  };
}

/**
 * Centered RMSProp scaling (Graves 2013; optax `scale_by_stddev`): keeps `m` and `v` and
 * divides by the standard deviation estimate `sqrt(v - m^2 + eps)`.
 */
export function scaleByStddev(options: ScaleByRmsOptions = {}): GradientTransformation<ScaleByStddevState> {
  const h = rmsHypers('scaleByStddev', options);
  return {
    init: (params) => ({ count: counter(0), mu: treeZerosLike(params), nu: fullLike(params, h.initialScale) }),
    update(updates, state) {
      const t = readCount(state.count) + 1;
      const mu = treeMap((g, m) => ema(g, m, h.decay), updates, state.mu);
      const nu = treeMap((g, v) => ema(tf.square(g), v, h.decay), updates, state.nu);
      const bc = h.biasCorrection ? oneMinus(powHyper(h.decay, t)) : 1;
      const out = treeMap(
        (g, m, v) => {
          const mh = h.biasCorrection ? tf.div(m, bc) : m;
          const vh = h.biasCorrection ? tf.div(v, bc) : v;
          return tf.mul(g, invRoot(tf.sub(vh, tf.square(mh)), h.epsilon, h.epsilonInSqrt));
        },
        updates,
        mu,
        nu,
      );
      return { updates: out, state: { count: counter(t), mu, nu } };
    },
  };
}

/** Options of {@link scaleByRss}. */
export interface ScaleByRssOptions {
  /** Initial value of the sum of squares. Default 0.1 (optax and tf.train.adagrad). */
  readonly initialAccumulatorValue?: number;
  /** Stabilizer inside the root. Default 1e-7. */
  readonly epsilon?: Hyper;
}

/** State of {@link scaleByRss}: the running sum of squared gradients. */
export type ScaleByRssState = { sumOfSquares: TensorTree };

/**
 * AdaGrad scaling (Duchi et al. 2011; optax `scale_by_rss`): `s += g^2`,
 * `u = g / sqrt(s + eps)` where `s > 0`, else 0.
 */
export function scaleByRss(options: ScaleByRssOptions = {}): GradientTransformation<ScaleByRssState> {
  checkKnownOptions('scaleByRss', options, ['initialAccumulatorValue', 'epsilon']);
  const init = checkHyper('initialAccumulatorValue', options.initialAccumulatorValue ?? 0.1, { min: 0 }) as number;
  const eps = checkHyper('epsilon', options.epsilon ?? 1e-7, { min: 0 });
  return {
    init: (params) => ({ sumOfSquares: fullLike(params, init) }),
    update(updates, state) {
      const s = treeMap((g, a) => tf.add(a, tf.square(g)), updates, state.sumOfSquares);
      const out = treeMap(
        (g, a) => tf.mul(g, tf.where(tf.greater(a, 0), tf.rsqrt(tf.add(a, eps)), tf.zerosLike(a))),
        updates,
        s,
      );
      return { updates: out, state: { sumOfSquares: s } };
    },
  };
}

/** Options of {@link scaleByAdadelta}. */
export interface ScaleByAdadeltaOptions {
  /** Decay of both averages. Default 0.9 (optax). */
  readonly rho?: Hyper;
  /** Stabilizer. Default 1e-6. */
  readonly epsilon?: Hyper;
}

/** State of {@link scaleByAdadelta}: averages of squared gradients and squared updates. */
export type ScaleByAdadeltaState = { eG: TensorTree; eX: TensorTree };

/**
 * Adadelta scaling (Zeiler 2012; optax `scale_by_adadelta`):
 * `Eg = rho Eg + (1-rho) g^2`, `u = sqrt(Ex + eps) / sqrt(Eg + eps) * g` using the
 * **updated** `Eg` (as the paper, TF and optax; `tf.train.adadelta` uses the old one),
 * then `Ex = rho Ex + (1-rho) u^2`.
 */
export function scaleByAdadelta(options: ScaleByAdadeltaOptions = {}): GradientTransformation<ScaleByAdadeltaState> {
  checkKnownOptions('scaleByAdadelta', options, ['rho', 'epsilon']);
  const rho = checkHyper('rho', options.rho ?? 0.9, { min: 0, lessThan: 1 });
  const eps = checkHyper('epsilon', options.epsilon ?? 1e-6, { min: 0 });
  return {
    init: (params) => ({ eG: treeZerosLike(params), eX: treeZerosLike(params) }),
    update(updates, state) {
      const eG = treeMap((g, e) => ema(tf.square(g), e, rho), updates, state.eG);
      const out = treeMap((g, e, x) => tf.mul(tf.div(tf.sqrt(tf.add(x, eps)), tf.sqrt(tf.add(e, eps))), g), updates, eG, state.eX);
      const eX = treeMap((u, x) => ema(tf.square(u), x, rho), out, state.eX);
      return { updates: out, state: { eG, eX } };
    },
  };
}
