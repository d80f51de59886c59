import { register, type FactoryOptions, type Optimizer } from '@lopt/core';
import { innerOptimizer, withoutKeys } from '../wrapping.js';
import { hypergradient, type HypergradientOptions } from './hypergradient.js';
import { metaOptimize, type MetaOptimizeOptions } from './meta-optimize.js';

/** Registry factory of {@link hypergradient}: `{ optimizer, optimizerOptions, hyperOptimizer, hyperOptimizerOptions, tune, spaces, method, trajectoryLength }`. */
const hypergradientFactory = (o: FactoryOptions): Optimizer =>
  hypergradient(innerOptimizer(o, 'optimizer'), {
    ...(withoutKeys(o, 'optimizer', 'optimizerOptions', 'hyperOptimizer', 'hyperOptimizerOptions') as Omit<HypergradientOptions, 'hyperOptimizer'>),
    hyperOptimizer: innerOptimizer(o, 'hyperOptimizer'),
  }) as unknown as Optimizer;

/** Registry factory of {@link metaOptimize}: `{ base, baseOptions, metaOptimizer, metaStepSize, gamma, blocks, alpha0, trajectoryLength }`. */
const metaOptimizeFactory = (o: FactoryOptions): Optimizer =>
  metaOptimize(innerOptimizer(o, 'base', 'adamw'), withoutKeys(o, 'base', 'baseOptions') as MetaOptimizeOptions) as unknown as Optimizer;

/** Names {@link registerSelfTuning} registers. */
export const SELF_TUNING_NAMES: readonly string[] = ['hypergradient', 'metaOptimize'];

/**
 * Registers the self-tuning optimizers with the `@lopt/core` registry. They build their
 * inner optimizers by registered name when created, so call `registerAll()` too (this
 * function does not, so that `registerAll` may call it). Idempotent. Towers nest by name:
 *
 * @example
 * ```ts
 * registerAll();
 * registerSelfTuning();
 * const opt = create('optimizer', 'hypergradient', {
 *   optimizer: 'adam', optimizerOptions: { learningRate: 1e-3 },
 *   hyperOptimizer: 'hypergradient',
 *   hyperOptimizerOptions: { optimizer: 'sgd', optimizerOptions: { learningRate: 1e-2 }, hyperOptimizer: 'sgd', hyperOptimizerOptions: { learningRate: 1e-3 } },
 * });
 * const mo = create('optimizer', 'metaOptimize', { base: 'adamw', baseOptions: { learningRate: 1e-3, weightDecay: 0.1 }, blocks: 'layer' });
 * ```
 */
export function registerSelfTuning(): void {
  register('optimizer', 'hypergradient', hypergradientFactory, 'Hypergradient descent on a registered optimizer\'s hyperparameters (towers nest): { optimizer, optimizerOptions, hyperOptimizer, hyperOptimizerOptions, tune, spaces, method }');
  register('optimizer', 'metaOptimize', metaOptimizeFactory, 'MetaOptimize per-block step sizes over sgd/rmsprop/adam/adamw/lion: { base, baseOptions, metaOptimizer, metaStepSize, gamma, blocks, alpha0 }');
}
