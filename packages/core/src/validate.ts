import { LoptError } from './errors.js';

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
