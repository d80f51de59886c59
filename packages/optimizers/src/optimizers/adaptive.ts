import type { TensorTree } from '@lopt/core';
import { chain, optimizerFrom, type TransformationOptimizer } from '../transformation.js';
import { checkHyper, checkKnownOptions, checkLearningRate, type Hyper, type LearningRate } from '../hyper.js';
import { adamHypers, scaleByAdam, type ScaleByAdamOptions } from '../transforms/adam.js';
import {
  scaleByAdamax,
  scaleByAmsgrad,
  scaleByBelief,
  scaleByRAdam,
  scaleByYogi,
  type ScaleByYogiOptions,
} from '../transforms/adam_variants.js';
import { addDecayedWeights } from '../transforms/momentum.js';
import { checkMask, type Mask } from '../transforms/masked.js';
import { scaleByLearningRate } from '../transforms/scale.js';
import type { AdamWOptions } from './adam.js';
import { learningRateScaled, type LearningRateOption } from './learning-rate-scaled.js';

type Opt = TransformationOptimizer<TensorTree[]>;

function decay(options: { weightDecay?: Hyper; mask?: Mask }, fallback: number) {
  const wd = checkHyper('weightDecay', options.weightDecay ?? fallback, { min: 0 });
  const mask = options.mask === undefined ? undefined : checkMask('mask', options.mask);
  return { wd, tx: addDecayedWeights(wd, mask === undefined ? {} : { mask }), config: mask === undefined ? {} : { mask } };
}

/**
 * NAdamW: AdamW with Nesterov momentum (optax `nadamw` = `adamw(nesterov=True)`; Dozat
 * 2016 plus decoupled decay). Same options and defaults as {@link adamw}; `nesterov` is
 * always on. learned_optimization's NAdamW differs (its optional L2 term has inverted sign).
 */
export function nadamw(options: Omit<AdamWOptions, 'nesterov'> = {}): Opt {
  checkKnownOptions('nadamw', options, ['learningRate', 'beta1', 'beta2', 'epsilon', 'epsilonRoot', 'weightDecay', 'mask']);
  const lr = checkLearningRate('learningRate', options.learningRate ?? 1e-3);
  const h = adamHypers({ ...options, nesterov: true });
  const d = decay(options, 1e-4);
  return optimizerFrom(chain(scaleByAdam(h), d.tx, scaleByLearningRate(lr)), 'nadamw', {
    config: { learningRate: lr, ...h, weightDecay: d.wd, ...d.config },
  });
}

/** Options of {@link amsgrad}: Adam's moments options and `learningRate` (default 1e-3). */
export interface AmsgradOptions extends Omit<ScaleByAdamOptions, 'nesterov'>, LearningRateOption {}

/** AMSGrad (Reddi et al. 2018; optax `amsgrad`): see `scaleByAmsgrad`. */
export function amsgrad(options: AmsgradOptions = {}): Opt {
  return learningRateScaled('amsgrad', options, { known: ['learningRate', 'beta1', 'beta2', 'epsilon', 'epsilonRoot'], defaultLearningRate: 1e-3, scale: scaleByAmsgrad });
}

/**
 * Options of {@link adamax}: Adam's `beta1`, `beta2` and `epsilon` (defaults 0.9, 0.999, 1e-8)
 * and `learningRate` (default 2e-3, the paper and tf.train.adamax).
 */
export interface AdamaxOptions extends Omit<ScaleByAdamOptions, 'nesterov' | 'epsilonRoot'>, LearningRateOption {}

/** AdaMax (Kingma & Ba 2015; optax `adamax`): `p -= lr m^ / max(b2 u, |g| + eps)`. */
export function adamax(options: AdamaxOptions = {}): Opt {
  return learningRateScaled('adamax', options, { known: ['learningRate', 'beta1', 'beta2', 'epsilon'], defaultLearningRate: 2e-3, scale: scaleByAdamax });
}

/** Options of {@link radam}: Adam's moments options, `learningRate` (default 1e-3) and the threshold. */
export interface RAdamOptions extends ScaleByAdamOptions, LearningRateOption {
  /** SMA threshold for the rectified update. Default 5 (optax). */
  readonly threshold?: number;
}

/** Rectified Adam (Liu et al. 2020; optax `radam`): see `scaleByRAdam`. */
export function radam(options: RAdamOptions = {}): Opt {
  return learningRateScaled('radam', options, { known: ['learningRate', 'beta1', 'beta2', 'epsilon', 'epsilonRoot', 'threshold', 'nesterov'], defaultLearningRate: 1e-3, scale: scaleByRAdam });
}

/**
 * Options of {@link yogi}: `beta1`, `beta2` and `epsilon` of {@link scaleByYogi} (defaults 0.9,
 * 0.999, 1e-3) and `learningRate` (default 1e-2, the paper's recommendation).
 */
export interface YogiOptions extends Pick<ScaleByYogiOptions, 'beta1' | 'beta2' | 'epsilon'>, LearningRateOption {}

/** Yogi (Zaheer et al. 2018; optax `yogi`): see `scaleByYogi`. */
export function yogi(options: YogiOptions = {}): Opt {
  return learningRateScaled('yogi', options, { known: ['learningRate', 'beta1', 'beta2', 'epsilon'], defaultLearningRate: 1e-2, scale: scaleByYogi });
}

/** Options of {@link adabelief}. */
export interface AdaBeliefOptions extends ScaleByAdamOptions {
  /** Step size or schedule. Default 1e-3. */
  readonly learningRate?: LearningRate;
  /** Decoupled weight decay (times the learning rate). Default 0 (optax: none). */
  readonly weightDecay?: Hyper;
  /** Leaves to decay. */
  readonly mask?: Mask;
}

/**
 * AdaBelief (Zhuang et al. 2020; optax `adabelief`): epsilon 1e-16 outside and
 * epsilonRoot 1e-16 added to the belief term each step, as optax.
 */
export function adabelief(options: AdaBeliefOptions = {}): Opt {
  checkKnownOptions('adabelief', options, ['learningRate', 'beta1', 'beta2', 'epsilon', 'epsilonRoot', 'nesterov', 'weightDecay', 'mask']);
  const lr = checkLearningRate('learningRate', options.learningRate ?? 1e-3);
  const { learningRate: _lr, weightDecay: _wd, mask: _m, ...rest } = options;
  const d = decay(options, 0);
  return optimizerFrom(chain(scaleByBelief(rest), d.tx, scaleByLearningRate(lr)), 'adabelief', {
    config: { ...rest, learningRate: lr, weightDecay: d.wd, ...d.config },
  });
}
