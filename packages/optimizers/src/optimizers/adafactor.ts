import type { TensorTree } from '@lopt/core';
import { chain, optimizerFrom, type TransformationOptimizer } from '../transformation.js';
import { checkBoolean, checkHyper, checkKnownOptions, checkLearningRate, type Hyper, type LearningRate } from '../hyper.js';
import { clipByBlockRms, emaTransform, scaleByFactoredRms, scaleByParamBlockRms } from '../transforms/factored.js';
import { addDecayedWeights } from '../transforms/momentum.js';
import { checkMask, type Mask } from '../transforms/masked.js';
import { scale, scaleByLearningRate } from '../transforms/scale.js';

/** Options of {@link adafactor} (optax names and defaults, in camelCase). */
export interface AdafactorOptions {
  /** Step size or schedule. Default none: no extra scaling (optax), so the step is relative to the parameter RMS. */
  readonly learningRate?: LearningRate;
  /** Factor leaves whose second-largest dimension is at least this. Default 128. */
  readonly minDimSizeToFactor?: number;
  /** Exponent of the second-moment decay `1 - (t+1)^-decayRate`. Default 0.8. */
  readonly decayRate?: number;
  /** Step offset of the decay schedule. Default 0. */
  readonly decayOffset?: number;
  /** Multiply the update by `max(1e-3, rms(param))`. Default true. */
  readonly multiplyByParameterScale?: boolean;
  /** Clip each leaf's update RMS to this; `null` disables. Default 1. */
  readonly clippingThreshold?: number | null;
  /** Momentum (EMA of updates, not debiased); omitted means none. */
  readonly momentum?: Hyper;
  /** Decoupled weight decay rate; omitted means none. */
  readonly weightDecayRate?: Hyper;
  /** Added to squared gradients. Default 1e-30. */
  readonly epsilon?: number;
  /** Factor the second moment. Default true. */
  readonly factored?: boolean;
  /** Leaves to decay. */
  readonly weightDecayMask?: Mask;
}

/**
 * Adafactor (Shazeer & Stern 2018; optax `adafactor`): factored second moments, update
 * clipping by block RMS, optional learning rate, relative step by parameter RMS, optional
 * momentum and weight decay, then `-1`. The paper's relative step `min(1e-2, 1/sqrt(t))`
 * is not built in (as optax): pass it as a schedule.
 */
export function adafactor(options: AdafactorOptions = {}): TransformationOptimizer<TensorTree[]> {
  checkKnownOptions('adafactor', options, [
    'learningRate', 'minDimSizeToFactor', 'decayRate', 'decayOffset', 'multiplyByParameterScale', 'clippingThreshold',
    'momentum', 'weightDecayRate', 'epsilon', 'factored', 'weightDecayMask',
  ]);
  const lr = options.learningRate === undefined ? undefined : checkLearningRate('learningRate', options.learningRate);
  const byParamScale = checkBoolean('multiplyByParameterScale', options.multiplyByParameterScale, true);
  const clipping = options.clippingThreshold === null ? null : (checkHyper('clippingThreshold', options.clippingThreshold ?? 1, { greaterThan: 0 }) as number);
  const txs = [
    scaleByFactoredRms({
      ...(options.factored !== undefined ? { factored: options.factored } : {}),
      ...(options.decayRate !== undefined ? { decayRate: options.decayRate } : {}),
      ...(options.decayOffset !== undefined ? { stepOffset: options.decayOffset } : {}),
      ...(options.minDimSizeToFactor !== undefined ? { minDimSizeToFactor: options.minDimSizeToFactor } : {}),
      ...(options.epsilon !== undefined ? { epsilon: options.epsilon } : {}),
    }),
  ];
  const rest = [];
  if (clipping !== null) rest.push(clipByBlockRms(clipping));
  if (lr !== undefined) rest.push(scaleByLearningRate(lr, { flipSign: false }));
  if (byParamScale) rest.push(scaleByParamBlockRms());
  if (options.momentum !== undefined) rest.push(emaTransform(checkHyper('momentum', options.momentum, { min: 0, lessThan: 1 })));
  if (options.weightDecayRate !== undefined) {
    const wd = checkHyper('weightDecayRate', options.weightDecayRate, { min: 0 });
    const mask = options.weightDecayMask === undefined ? undefined : checkMask('weightDecayMask', options.weightDecayMask);
    rest.push(addDecayedWeights(wd, mask === undefined ? {} : { mask }));
  }
  rest.push(scale(-1));
  return optimizerFrom(chain(...txs, ...rest), 'adafactor', {
    config: { ...options, learningRate: lr, clippingThreshold: clipping, multiplyByParameterScale: byParamScale },
  });
}
