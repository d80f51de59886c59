import { has, register, type FactoryOptions, type Optimizer } from '@lopt/core';
import { divergenceGuard, type DivergenceGuardOptions } from './divergenceGuard.js';
import { lossGuarded, type LossGuardedOptions } from './lossGuarded.js';
import { safeguarded, type SafeguardedOptions } from './safeguarded.js';

/**
 * The guards {@link registerAll} registers (as `optimizer` factories), in display order: the
 * option that takes the guarded optimizer (the other one is `fallback`) and the function the
 * guard evaluates (`lossFn`, or `residualFn` for `safeguarded`). Applications look guards up here
 * and build them with `create('optimizer', name, { [guarded]: opt, fallback, [evaluates]: fn })`.
 */
export const GUARDS = {
  lossGuarded: { guarded: 'learned', evaluates: 'lossFn' },
  divergenceGuard: { guarded: 'opt', evaluates: 'lossFn' },
  safeguarded: { guarded: 'learned', evaluates: 'residualFn' },
} as const satisfies Record<string, { readonly guarded: 'learned' | 'opt'; readonly evaluates: 'lossFn' | 'residualFn' }>;

/** The name of a guard in {@link GUARDS}. */
export type GuardName = keyof typeof GUARDS;

/** The guard's own options: `o` without the two optimizers it combines (each guard validates them). */
function guardOptions<T>(o: FactoryOptions, first: 'learned' | 'opt'): T {
  const { [first]: _first, fallback: _fallback, ...rest } = o;
  return rest as T;
}

const lossGuardedFactory = (o: FactoryOptions): Optimizer =>
  lossGuarded(o['learned'] as Optimizer, o['fallback'] as Optimizer, guardOptions<LossGuardedOptions>(o, 'learned')) as unknown as Optimizer;
const safeguardedFactory = (o: FactoryOptions): Optimizer =>
  safeguarded(o['learned'] as Optimizer, o['fallback'] as Optimizer, guardOptions<SafeguardedOptions>(o, 'learned')) as unknown as Optimizer;
const divergenceGuardFactory = (o: FactoryOptions): Optimizer =>
  divergenceGuard(o['opt'] as Optimizer, o['fallback'] as Optimizer, guardOptions<DivergenceGuardOptions>(o, 'opt')) as unknown as Optimizer;

/**
 * Registers the guards as `optimizer` factories: `lossGuarded`, `safeguarded` and
 * `divergenceGuard`. Their options are the guard's options plus the optimizers to combine
 * (`learned` and `fallback`; `opt` and `fallback` for `divergenceGuard`). Idempotent.
 *
 * @example
 * ```ts
 * registerAll();
 * const opt = create('optimizer', 'lossGuarded', { learned, fallback: sgd({ learningRate: 0.1 }), lossFn });
 * ```
 */
export function registerAll(): void {
  if (!has('optimizer', 'lossGuarded')) {
    register('optimizer', 'lossGuarded', lossGuardedFactory, 'LGL2O loss guard: keeps the lower-loss of a learned and a fallback step');
  }
  if (!has('optimizer', 'safeguarded')) {
    register('optimizer', 'safeguarded', safeguardedFactory, 'GL2O / Safe-L2O: accepts learned steps that shrink the residual, else the fallback');
  }
  if (!has('optimizer', 'divergenceGuard')) {
    register('optimizer', 'divergenceGuard', divergenceGuardFactory, 'Rolls back non-finite or loss-jumping steps to a fallback step');
  }
}
