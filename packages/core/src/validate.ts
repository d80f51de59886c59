import { LoptError } from './errors.js';
import type { Optimizer } from './contracts.js';
import type { TensorTree } from './tree.js';

/** Constraints for {@link checkNumber}. Bounds are inclusive unless marked exclusive. */
export interface NumberConstraints {
  /** Smallest allowed value (inclusive). */
  readonly min?: number;
  /** Largest allowed value (inclusive). */
  readonly max?: number;
  /** Values must be strictly greater than this. */
  readonly greaterThan?: number;
  /** Values must be strictly less than this. */
  readonly lessThan?: number;
  /** Require an integer. */
  readonly integer?: boolean;
  /** Allow +Infinity (for example a clipping bound that disables clipping). Default false. */
  readonly allowInfinity?: boolean;
}

function describe(c: NumberConstraints): string {
  const parts: string[] = [];
  if (c.integer) parts.push('an integer');
  else parts.push('a finite number');
  if (c.greaterThan !== undefined) parts.push(`> ${c.greaterThan}`);
  if (c.min !== undefined) parts.push(`>= ${c.min}`);
  if (c.lessThan !== undefined) parts.push(`< ${c.lessThan}`);
  if (c.max !== undefined) parts.push(`<= ${c.max}`);
  return parts.join(' ');
}

/**
 * Validates a numeric option and returns it. Throws `LoptError('INVALID_OPTION')` naming
 * the option and the allowed range when the value is not a number, NaN, infinite (unless
 * allowed), not an integer when required, or out of range.
 *
 * @example
 * ```ts
 * const lr = checkNumber('learningRate', options.learningRate ?? 1e-3, { min: 0 });
 * ```
 */
export function checkNumber(option: string, value: unknown, constraints: NumberConstraints = {}): number {
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (Number.isFinite(value) || (constraints.allowInfinity === true && value === Infinity)) &&
    (!constraints.integer || Number.isInteger(value)) &&
    (constraints.min === undefined || value >= constraints.min) &&
    (constraints.max === undefined || value <= constraints.max) &&
    (constraints.greaterThan === undefined || value > constraints.greaterThan) &&
    (constraints.lessThan === undefined || value < constraints.lessThan);
  if (!ok) {
    throw new LoptError(
      'INVALID_OPTION',
      `Option '${option}' must be ${describe(constraints)}, got ${formatValue(value)}.`,
      { option },
    );
  }
  return value as number;
}

/**
 * Validates that `value` is one of `allowed` and returns it; otherwise throws
 * `LoptError('INVALID_OPTION')` listing the allowed values.
 */
export function checkOneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new LoptError(
      'INVALID_OPTION',
      `Option '${option}' must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${formatValue(value)}.`,
      { option },
    );
  }
  return value as T;
}

/** Renders a value for an error message (strings quoted, objects as short JSON). */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) {
    return String(value);
  }
  try {
    const s = JSON.stringify(value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Keys refused in every options object: they would reach or replace an object's prototype. */
export const FORBIDDEN_OPTION_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

/**
 * Rejects option names a component does not know, so a typo (`learningrate`) or a stray key
 * (`bogus=1`) fails instead of being ignored, and refuses `__proto__`, `constructor` and
 * `prototype` (own keys, as `JSON.parse` creates them). Throws `LoptError('INVALID_OPTION')`
 * naming `where`, the key and the known options. `undefined` means no options.
 *
 * @example
 * ```ts
 * checkKnownKeys('quadraticTask', { dim: 4 }, ['dim']); // ok
 * checkKnownKeys('quadraticTask', { bogus: 1 }, ['dim']); // throws: unknown option 'bogus'
 * ```
 */
export function checkKnownKeys(where: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new LoptError('INVALID_OPTION', `${where}: options must be an object, got ${formatValue(options)}.`, { option: 'options' });
  }
  for (const k of Object.keys(options)) {
    if (FORBIDDEN_OPTION_KEYS.includes(k)) {
      throw new LoptError('INVALID_OPTION', `${where}: the option name '${k}' is not allowed.`, { option: k });
    }
    if (!known.includes(k)) {
      throw new LoptError('INVALID_OPTION', `${where}: unknown option '${k}'. Known options: ${known.length ? known.join(', ') : '(none)'}.`, { option: k });
    }
  }
}

/**
 * Validates a boolean option and returns it; `undefined` gives `fallback`. Throws
 * `LoptError('INVALID_OPTION')` naming the option otherwise.
 *
 * @example
 * ```ts
 * const nesterov = checkBoolean('nesterov', options.nesterov, false);
 * ```
 */
export function checkBoolean(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be a boolean, got ${formatValue(value)}.`, { option });
  }
  return value;
}

/**
 * True when `value` is an object with `init` and `update` functions: the shape shared by an
 * `Optimizer` and a `GradientTransformation`.
 */
export function hasInitAndUpdate(value: unknown): boolean {
  const v = value as { init?: unknown; update?: unknown } | null | undefined;
  return typeof v === 'object' && v !== null && typeof v.init === 'function' && typeof v.update === 'function';
}

/**
 * Validates that `value` has an optimizer's shape (an object with `init` and `update`
 * functions) and returns it typed. Throws `LoptError('INVALID_OPTION')` with option `option`;
 * `message` replaces the default message (`Option 'x' must be an Optimizer ...`).
 *
 * @example
 * ```ts
 * const inner = checkOptimizer<TensorTree>('inner', options.inner);
 * ```
 */
export function checkOptimizer<S = TensorTree>(option: string, value: unknown, message?: string): Optimizer<S> {
  if (!hasInitAndUpdate(value)) {
    throw new LoptError('INVALID_OPTION', message ?? `Option '${option}' must be an Optimizer (an object with init and update functions).`, { option });
  }
  return value as unknown as Optimizer<S>;
}
