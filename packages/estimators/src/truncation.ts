import { LoptError, checkNumber, uniformArray, type Key } from '@lopt/core';

/**
 * The state of a truncation schedule for one inner training: the length of the current
 * episode in inner steps, or `null` when the episode never ends. Plain JSON, so it is
 * stored with worker-state checkpoints.
 */
export interface TruncationState {
  /** Episode length in training steps; `null` for a never-ending episode. */
  readonly length: number | null;
}

/**
 * Decides how long each inner training (episode) runs. `init` draws the first length;
 * `next` is called after every step with the inner-step counter and says whether the
 * episode is done; a schedule that samples lengths draws the next episode's length
 * when it reports done (learned_optimization's `TruncationSchedule`).
 */
export interface TruncationSchedule {
  /** A short name, e.g. `constant(100)`. */
  readonly name: string;
  /** The state for a new episode. */
  init(key: Key): TruncationState;
  /** After a step that reached inner step `step`: the next state and whether the episode is done. */
  next(state: TruncationState, step: number, key: Key): { state: TruncationState; isDone: boolean };
}

/** Episodes of a fixed `length` inner steps. */
export function constantTruncation(length: number): TruncationSchedule {
  const len = checkNumber('length', length, { integer: true, min: 1 });
  const state: TruncationState = Object.freeze({ length: len });
  return {
    name: `constant(${len})`,
    init: () => state,
    next: (s, step) => ({ state: s, isDone: step >= len }),
  };
}

/**
 * Episode lengths `floor(exp(u))` with `u ~ U[log min, log max)`, drawn afresh whenever an
 * episode ends (learned_optimization's `LogUniformLengthSchedule`: more short episodes than
 * long ones). Lengths fall in `[min, max)` (`max` itself only when `min === max`).
 */
export function logUniformTruncation(min: number, max: number): TruncationSchedule {
  const lo = checkNumber('min', min, { integer: true, min: 1 });
  const hi = checkNumber('max', max, { integer: true, min: lo });
  const draw = (key: Key): TruncationState => {
    if (lo === hi) return { length: lo };
    const u = uniformArray(key, 1)[0] as number;
    const len = Math.floor(Math.exp(Math.log(lo) + u * (Math.log(hi) - Math.log(lo))));
    return { length: Math.min(hi, Math.max(lo, len)) };
  };
  return {
    name: `logUniform(${lo}, ${hi})`,
    init: draw,
    next: (s, step, key) => {
      if (s.length === null) throw new LoptError('INTERNAL', 'logUniformTruncation state has no length.');
      const isDone = step >= s.length;
      return { state: isDone ? draw(key) : s, isDone };
    },
  };
}

/** Episodes that never end (infinite-horizon unrolls; also what `fullES` unrolls use). */
export function neverEnding(): TruncationSchedule {
  const state: TruncationState = Object.freeze({ length: null });
  return { name: 'neverEnding', init: () => state, next: (s) => ({ state: s, isDone: false }) };
}

/** Validates that `value` looks like a {@link TruncationSchedule}. */
export function checkTruncationSchedule(option: string, value: unknown): TruncationSchedule {
  const v = value as Partial<TruncationSchedule> | null;
  if (typeof v !== 'object' || v === null || typeof v.init !== 'function' || typeof v.next !== 'function') {
    throw new LoptError(
      'INVALID_OPTION',
      `Option '${option}' must be a truncation schedule (constantTruncation, logUniformTruncation or neverEnding).`,
      { option },
    );
  }
  return v as TruncationSchedule;
}
