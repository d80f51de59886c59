import { chain, identity, optimizerFrom, type TransformationOptimizer } from '../transformation.js';
import { checkBoolean, checkHyper, checkKnownOptions, checkLearningRate, type Hyper, type LearningRate } from '../hyper.js';
import { trace } from '../transforms/momentum.js';
import { scaleByLearningRate } from '../transforms/scale.js';
import type { TensorTree } from '@lopt/core';

/** Options of {@link sgd}. */
export interface SgdOptions {
  /** Step size, a number or a schedule of the step. Default 0.01 (learned_optimization's SGD). */
  readonly learningRate?: LearningRate;
  /** Heavy-ball momentum decay in [0, 1]; omitted means no momentum (no state). */
  readonly momentum?: Hyper;
  /** Nesterov momentum (needs `momentum`). Default false. */
  readonly nesterov?: boolean;
}

/**
 * Stochastic gradient descent, optionally with (Nesterov) momentum (optax `sgd`):
 * `chain(trace(momentum, nesterov), scaleByLearningRate(lr))`, i.e.
 * `t = g + momentum * t; p -= lr * t` (Nesterov: `p -= lr * (g + momentum * t)`).
 * This matches `tf.train.momentum` and PyTorch's SGD.
 *
 * @example
 * ```ts
 * const opt = sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true });
 * ```
 */
export function sgd(options: SgdOptions = {}): TransformationOptimizer<TensorTree[]> {
  checkKnownOptions('sgd', options, ['learningRate', 'momentum', 'nesterov']);
  const lr = checkLearningRate('learningRate', options.learningRate ?? 0.01);
  const momentum = options.momentum === undefined ? undefined : checkHyper('momentum', options.momentum, { min: 0, max: 1 });
  const nesterov = checkBoolean('nesterov', options.nesterov, false);
  if (nesterov && momentum === undefined) {
    checkHyper('momentum', options.momentum, { min: 0, max: 1 });
  }
  const tx = chain(momentum === undefined ? identity() : trace({ decay: momentum, nesterov }), scaleByLearningRate(lr));
  return optimizerFrom(tx, 'sgd', { config: { learningRate: lr, momentum, nesterov } });
}
