import { LoptError } from '@lopt/core';

/**
 * Validates a `[step][coordinate]` matrix of finite numbers (the plain-array form of an
 * {@link UpdateTrace}'s `grads` or `updates`): at least `minRows` rows, all of one length > 0.
 * Throws `INVALID_OPTION` naming `option` and the offending row/column.
 */
export function checkMatrix(option: string, value: unknown, minRows = 1): number[][] {
  if (!Array.isArray(value) || value.length < minRows) {
    throw new LoptError('INVALID_OPTION', `'${option}' must be an array of at least ${minRows} rows (one per step) of numbers.`, { option });
  }
  const width = Array.isArray(value[0]) ? (value[0] as unknown[]).length : 0;
  value.forEach((row: unknown, t) => {
    if (!Array.isArray(row) || row.length !== width || width === 0) {
      throw new LoptError('INVALID_OPTION', `'${option}[${t}]' must be a non-empty array of ${width || 'the same number of'} numbers, like '${option}[0]'.`, { option: `${option}[${t}]` });
    }
    row.forEach((v: unknown, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new LoptError('INVALID_OPTION', `'${option}[${t}][${i}]' must be a finite number, got ${String(v)}.`, { option: `${option}[${t}][${i}]` });
      }
    });
  });
  return value as number[][];
}

/** Validates that two matrices have the same shape (`a` and `b` name them). */
export function checkSameShape(a: string, x: number[][], b: string, y: number[][]): void {
  if (x.length !== y.length || (x[0] as number[]).length !== (y[0] as number[]).length) {
    throw new LoptError(
      'INVALID_OPTION',
      `'${a}' (${x.length} x ${(x[0] as number[]).length}) and '${b}' (${y.length} x ${(y[0] as number[]).length}) must have the same shape.`,
      { option: b },
    );
  }
}

/** Validates a non-empty array of finite numbers. */
export function checkVector(option: string, value: unknown): number[] {
  if (!Array.isArray(value) || value.length === 0) throw new LoptError('INVALID_OPTION', `'${option}' must be a non-empty array of numbers.`, { option });
  value.forEach((v: unknown, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new LoptError('INVALID_OPTION', `'${option}[${i}]' must be a finite number, got ${String(v)}.`, { option: `${option}[${i}]` });
    }
  });
  return value as number[];
}

/** Throws `INVALID_OPTION` when every update is zero (nothing to fit). */
export function checkNonZero(option: string, sumSquares: number): void {
  if (!(sumSquares > 0)) throw new LoptError('INVALID_OPTION', `'${option}' are all zero: the optimizer did not move, so no behaviour can be fitted.`, { option });
}

/**
 * Heavy-ball momentum of a `[step][coordinate]` gradient series: `m[t] = beta m[t-1] + g[t]`,
 * `m[-1] = 0` (optax `trace`, the state of SGD with momentum).
 */
export function heavyBall(grads: readonly (readonly number[])[], beta: number): number[][] {
  const out: number[][] = [];
  let m = (grads[0] as readonly number[]).map(() => 0);
  for (const g of grads) {
    m = g.map((v, i) => beta * (m[i] as number) + v);
    out.push(m);
  }
  return out;
}
