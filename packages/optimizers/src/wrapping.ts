// Registry factories of wrappers and self-tuning optimizers: the inner optimizer they build by
// registered name, and the options they pass on.
import { LoptError, create, has, isLoptError, type FactoryOptions, type Optimizer } from '@lopt/core';

/**
 * The registered optimizer that `options[key]` names (or `fallback`), created with the object
 * `options[key + 'Options']`; throws `LoptError` naming the option when either is malformed, or
 * `UNKNOWN_NAME` naming `key` (with the closest registered name) when no optimizer has that name.
 */
export function innerOptimizer(options: FactoryOptions, key: string, fallback?: string): Optimizer<unknown> {
  const name = options[key] ?? fallback;
  if (typeof name !== 'string') {
    throw new LoptError('INVALID_OPTION', `Option '${key}' must name a registered optimizer (e.g. 'adam').`, { option: key });
  }
  const inner = options[`${key}Options`];
  if (inner !== undefined && (typeof inner !== 'object' || inner === null || Array.isArray(inner))) {
    throw new LoptError('INVALID_OPTION', `Option '${key}Options' must be an object.`, { option: `${key}Options` });
  }
  try {
    return create('optimizer', name, (inner ?? {}) as FactoryOptions) as Optimizer<unknown>;
  } catch (e) {
    if (isLoptError(e) && e.code === 'UNKNOWN_NAME' && !has('optimizer', name)) {
      throw new LoptError('UNKNOWN_NAME', `Option '${key}': ${e.message}`, { option: key, cause: e });
    }
    throw e;
  }
}

/** A shallow copy of `options` without `keys` (the options a factory consumed itself). */
export function withoutKeys(options: FactoryOptions, ...keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...options };
  for (const k of keys) delete out[k];
  return out;
}
