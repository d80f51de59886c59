import type { TensorTree } from '@lopt/core';
import { chain, optimizerFrom, type TransformationOptimizer } from '../transformation.js';
import { checkBoolean, checkHyper, checkKnownOptions, checkLearningRate, type Hyper, type LearningRate } from '../hyper.js';
import { adamHypers, scaleByAdam } from '../transforms/adam.js';
import { addDecayedWeights, trace } from '../transforms/momentum.js';
import { checkMask, masked, type Mask } from '../transforms/masked.js';
import { scaleByLearningRate } from '../transforms/scale.js';
import { scaleByTrustRatio } from '../transforms/trust_ratio.js';

/** Options of {@link lars}. */
export interface LarsOptions {
  /** Step size or schedule. Default 0.1. */
  readonly learningRate?: LearningRate;
  /** Weight decay added before the trust ratio. Default 0. */
  readonly weightDecay?: Hyper;
  /** Leaves to decay. Default all. */
  readonly weightDecayMask?: Mask;
  /** Trust coefficient. Default 1e-3. */
  readonly trustCoefficient?: Hyper;
  /** Added to the update norm. Default 0. */
  readonly epsilon?: Hyper;
  /** Leaves that get the trust ratio. Default all. */
  readonly trustRatioMask?: Mask;
  /** Momentum (after the learning rate). Default 0.9. */
  readonly momentum?: Hyper;
  /** Nesterov momentum. Default false. */
  readonly nesterov?: boolean;
}

/**
 * LARS (You, Gitman & Ginsburg 2017; optax `lars`): `chain(addDecayedWeights,
 * masked(scaleByTrustRatio(coeff)), scaleByLearningRate, trace(momentum))`. Follows optax:
 * the ratio is `coeff ||p|| / ||g + wd p||` (the paper uses `||g|| + wd ||p||`).
 */
export function lars(options: LarsOptions = {}): TransformationOptimizer<TensorTree[]> {
  checkKnownOptions('lars', options, [
    'learningRate', 'weightDecay', 'weightDecayMask', 'trustCoefficient', 'epsilon', 'trustRatioMask', 'momentum', 'nesterov',
  ]);
  const lr = checkLearningRate('learningRate', options.learningRate ?? 0.1);
  const wd = checkHyper('weightDecay', options.weightDecay ?? 0, { min: 0 });
  const momentum = checkHyper('momentum', options.momentum ?? 0.9, { min: 0, max: 1 });
  const nesterov = checkBoolean('nesterov', options.nesterov, false);
  const trustCoefficient = checkHyper('trustCoefficient', options.trustCoefficient ?? 1e-3, { min: 0 });
  const epsilon = checkHyper('epsilon', options.epsilon ?? 0, { min: 0 });
  const wdMask = options.weightDecayMask === undefined ? undefined : checkMask('weightDecayMask', options.weightDecayMask);
  const trMask = options.trustRatioMask === undefined ? true : checkMask('trustRatioMask', options.trustRatioMask);
  const tx = chain(
    addDecayedWeights(wd, wdMask === undefined ? {} : { mask: wdMask }),
    masked(scaleByTrustRatio({ trustCoefficient, epsilon }), trMask),
    scaleByLearningRate(lr),
    trace({ decay: momentum, nesterov }),
  );
  return optimizerFrom(tx, 'lars', {
    config: { learningRate: lr, weightDecay: wd, trustCoefficient, epsilon, momentum, nesterov, ...(wdMask === undefined ? {} : { weightDecayMask: wdMask }), ...(options.trustRatioMask === undefined ? {} : { trustRatioMask: trMask }) },
  });
}

/** Options of {@link lamb}. */
export interface LambOptions {
  /** Step size or schedule. Default 1e-3. */
  readonly learningRate?: LearningRate;
  /** Default 0.9. */
  readonly beta1?: Hyper;
  /** Default 0.999. */
  readonly beta2?: Hyper;
  /** Default 1e-6 (optax and the paper). */
  readonly epsilon?: Hyper;
  /** Default 0. */
  readonly epsilonRoot?: Hyper;
  /** Weight decay added before the trust ratio. Default 0. */
  readonly weightDecay?: Hyper;
  /** Leaves to decay. */
  readonly mask?: Mask;
}

/**
 * LAMB (You et al. 2020; optax `lamb`): `chain(scaleByAdam(eps 1e-6), addDecayedWeights,
 * scaleByTrustRatio, scaleByLearningRate)`, i.e. per leaf
 * `p -= lr ||p|| / ||r + wd p|| (r + wd p)` with `r` the Adam direction (identity `phi`).
 */
export function lamb(options: LambOptions = {}): TransformationOptimizer<TensorTree[]> {
  checkKnownOptions('lamb', options, ['learningRate', 'beta1', 'beta2', 'epsilon', 'epsilonRoot', 'weightDecay', 'mask']);
  const lr = checkLearningRate('learningRate', options.learningRate ?? 1e-3);
  const h = adamHypers({ ...options, epsilon: options.epsilon ?? 1e-6 } as Parameters<typeof adamHypers>[0]);
  const wd = checkHyper('weightDecay', options.weightDecay ?? 0, { min: 0 });
  const mask = options.mask === undefined ? undefined : checkMask('mask', options.mask);
  const tx = chain(scaleByAdam(h), addDecayedWeights(wd, mask === undefined ? {} : { mask }), scaleByTrustRatio(), scaleByLearningRate(lr));
  return optimizerFrom(tx, 'lamb', { config: { learningRate: lr, ...h, weightDecay: wd, ...(mask === undefined ? {} : { mask }) } });
}
