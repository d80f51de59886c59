import type { TensorTree } from '@lopt/core';
import { chain, optimizerFrom, type TransformationOptimizer } from '../transformation.js';
import { checkHyper, checkKnownOptions, checkLearningRate, type Hyper, type LearningRate } from '../hyper.js';
import { scaleByLion } from '../transforms/adam_variants.js';
import { addDecayedWeights } from '../transforms/momentum.js';
import { checkMask, type Mask } from '../transforms/masked.js';
import { scaleByLearningRate } from '../transforms/scale.js';

/** Options of {@link lion}. */
export interface LionOptions {
  /** Step size or schedule. Default 1e-4 (3-10x below AdamW's, as the paper advises). */
  readonly learningRate?: LearningRate;
  /** Default 0.9. */
  readonly beta1?: Hyper;
  /** Default 0.99. */
  readonly beta2?: Hyper;
  /** Decoupled weight decay times the learning rate. Default 1e-3 (optax). */
  readonly weightDecay?: Hyper;
  /** Leaves to decay. */
  readonly mask?: Mask;
}

/**
 * Lion (Chen et al. 2023; optax `lion`): `p -= lr (sign((1-b1) g + b1 m) + wd p)`,
 * then `m = b2 m + (1-b2) g`.
 */
export function lion(options: LionOptions = {}): TransformationOptimizer<TensorTree[]> {
  checkKnownOptions('lion', options, ['learningRate', 'beta1', 'beta2', 'weightDecay', 'mask']);
  const lr = checkLearningRate('learningRate', options.learningRate ?? 1e-4);
  const wd = checkHyper('weightDecay', options.weightDecay ?? 1e-3, { min: 0 });
  const mask = options.mask === undefined ? undefined : checkMask('mask', options.mask);
  const tx = chain(
    scaleByLion({ ...(options.beta1 !== undefined ? { beta1: options.beta1 } : {}), ...(options.beta2 !== undefined ? { beta2: options.beta2 } : {}) }),
    addDecayedWeights(wd, mask === undefined ? {} : { mask }),
    scaleByLearningRate(lr),
  );
  return optimizerFrom(tx, 'lion', { config: { learningRate: lr, beta1: options.beta1, beta2: options.beta2, weightDecay: wd, ...(mask === undefined ? {} : { mask }) } });
}
