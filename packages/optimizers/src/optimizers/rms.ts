import type { TensorTree } from '@lopt/core';
import { chain, identity, optimizerFrom, type TransformationOptimizer } from '../transformation.js';
import { checkBoolean, checkHyper, checkKnownOptions, checkLearningRate, type Hyper, type LearningRate } from '../hyper.js';
import { addDecayedWeights, trace } from '../transforms/momentum.js';
import { scaleByAdadelta, scaleByRms, scaleByRss, scaleByStddev } from '../transforms/rms.js';
import { scaleByLearningRate } from '../transforms/scale.js';
import { learningRateScaled } from './learning-rate-scaled.js';

type Opt = TransformationOptimizer<TensorTree[]>;

/** Options of {@link rmsprop}. */
export interface RmspropOptions {
  /** Step size or schedule. Default 1e-3. */
  readonly learningRate?: LearningRate;
  /** Decay of the squared-gradient average. Default 0.9. */
  readonly decay?: Hyper;
  /** Default 1e-8. */
  readonly epsilon?: Hyper;
  /** Initial accumulator value. Default 0. */
  readonly initialScale?: number;
  /** Epsilon inside the square root (optax default true). */
  readonly epsilonInSqrt?: boolean;
  /** Centered RMSProp (divide by a standard deviation estimate). Default false. */
  readonly centered?: boolean;
  /** Momentum applied after the learning rate (as optax and tf.train.rmsprop). Default none. */
  readonly momentum?: Hyper;
  /** Nesterov momentum. Default false. */
  readonly nesterov?: boolean;
  /** Bias-correct the averages. Default false. */
  readonly biasCorrection?: boolean;
}

/**
 * RMSProp (optax `rmsprop`): `chain(scaleByRms | scaleByStddev, scaleByLearningRate,
 * trace(momentum))`. With momentum this equals `tf.train.rmsprop`'s
 * `mom = m mom + lr g / sqrt(ms + eps)`.
 */
export function rmsprop(options: RmspropOptions = {}): Opt {
  checkKnownOptions('rmsprop', options, [
    'learningRate', 'decay', 'epsilon', 'initialScale', 'epsilonInSqrt', 'centered', 'momentum', 'nesterov', 'biasCorrection',
  ]);
  const lr = checkLearningRate('learningRate', options.learningRate ?? 1e-3);
  const centered = checkBoolean('centered', options.centered, false);
  const nesterov = checkBoolean('nesterov', options.nesterov, false);
  const momentum = options.momentum === undefined ? undefined : checkHyper('momentum', options.momentum, { min: 0, max: 1 });
  const rmsOptions = {
    ...(options.decay !== undefined ? { decay: options.decay } : {}),
    ...(options.epsilon !== undefined ? { epsilon: options.epsilon } : {}),
    ...(options.initialScale !== undefined ? { initialScale: options.initialScale } : {}),
    ...(options.epsilonInSqrt !== undefined ? { epsilonInSqrt: options.epsilonInSqrt } : {}),
    ...(options.biasCorrection !== undefined ? { biasCorrection: options.biasCorrection } : {}),
  };
  const tx = chain(
    centered ? scaleByStddev(rmsOptions) : scaleByRms(rmsOptions),
    scaleByLearningRate(lr),
    momentum === undefined ? identity() : trace({ decay: momentum, nesterov }),
  );
  return optimizerFrom(tx, 'rmsprop', { config: { ...rmsOptions, learningRate: lr, centered, momentum, nesterov } });
}

/** Options of {@link adagrad}. */
export interface AdagradOptions {
  /** Step size or schedule. Default 1e-2. */
  readonly learningRate?: LearningRate;
  /** Initial sum of squares. Default 0.1. */
  readonly initialAccumulatorValue?: number;
  /** Default 1e-7. */
  readonly epsilon?: Hyper;
}

/** AdaGrad (Duchi et al. 2011; optax `adagrad`): `s += g^2; p -= lr g / sqrt(s + eps)`. */
export function adagrad(options: AdagradOptions = {}): Opt {
  return learningRateScaled('adagrad', options, { known: ['learningRate', 'initialAccumulatorValue', 'epsilon'], defaultLearningRate: 1e-2, scale: scaleByRss });
}

/** Options of {@link adadelta}. */
export interface AdadeltaOptions {
  /** Step size or schedule. Default 1 (Zeiler's method has none; Keras uses 1). */
  readonly learningRate?: LearningRate;
  /** Default 0.9. */
  readonly rho?: Hyper;
  /** Default 1e-6. */
  readonly epsilon?: Hyper;
  /** Weight decay added to the gradient before scaling (optax). Default 0. */
  readonly weightDecay?: Hyper;
}

/** Adadelta (Zeiler 2012; optax `adadelta`): see `scaleByAdadelta`. */
export function adadelta(options: AdadeltaOptions = {}): Opt {
  checkKnownOptions('adadelta', options, ['learningRate', 'rho', 'epsilon', 'weightDecay']);
  const lr = checkLearningRate('learningRate', options.learningRate ?? 1);
  const wd = checkHyper('weightDecay', options.weightDecay ?? 0, { min: 0 });
  const { learningRate: _lr, weightDecay: _wd, ...rest } = options;
  return optimizerFrom(chain(addDecayedWeights(wd), scaleByAdadelta(rest), scaleByLearningRate(lr)), 'adadelta', {
    config: { ...rest, learningRate: lr, weightDecay: wd },
  });
}
