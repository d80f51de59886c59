import { LoptError, create, register, type FactoryOptions, type Optimizer } from '@lopt/core';
import { hypergradient, type HypergradientOptions } from './hypergradient.js';
import { metaOptimize, type MetaOptimizeOptions } from './meta-optimize.js';

function named(options: FactoryOptions, key: string, fallback?: string): Optimizer<unknown> {
  const name = options[key] ?? fallback;
  if (typeof name !== 'string') {
    throw new LoptError('INVALID_OPTION', `Option '${key}' must name a registered optimizer (e.g. 'sgd').`, { option: key });
  }
  const inner = options[`${key}Options`];
  if (inner !== undefined && (typeof inner !== 'object' || inner === null || Array.isArray(inner))) {
    throw new LoptError('INVALID_OPTION', `Option '${key}Options' must be an object.`, { option: `${key}Options` });
  }
  return create('optimizer', name, (inner ?? {}) as FactoryOptions) as Optimizer<unknown>;
}

function rest(options: FactoryOptions, ...keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...options };
  for (const k of keys) delete out[k];
  return out;
}

/** Registry factory of {@link hypergradient}: `{ optimizer, optimizerOptions, hyperOptimizer, hyperOptimizerOptions, tune, spaces, method, trajectoryLength }`. */
const hypergradientFactory = (o: FactoryOptions): Optimizer =>
  hypergradient(named(o, 'optimizer'), {
    ...(rest(o, 'optimizer', 'optimizerOptions', 'hyperOptimizer', 'hyperOptimizerOptions') as Omit<HypergradientOptions, 'hyperOptimizer'>),
    hyperOptimizer: named(o, 'hyperOptimizer'),
  }) as unknown as Optimizer;

/** Registry factory of {@link metaOptimize}: `{ base, baseOptions, metaOptimizer, metaStepSize, gamma, blocks, alpha0, trajectoryLength }`. */
const metaOptimizeFactory = (o: FactoryOptions): Optimizer =>
  metaOptimize(named(o, 'base', 'adamw'), rest(o, 'base', 'baseOptions') as MetaOptimizeOptions) as unknown as Optimizer;

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
