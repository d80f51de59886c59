import { LoptError } from '@lopt/core';
import type { Schedule } from './hyper.js';
import { cosineDecay, exponentialDecay, linear, piecewiseConstant, polynomial, warmupConstant, warmupCosineDecay } from './schedules.js';

/**
 * The schedules that take one options object, by name: what configs and command lines name
 * (`{ "schedule": "cosineDecay", "initValue": 0.01, "decaySteps": 300 }`). Each builds the
 * schedule with the options as its factory takes them (and validates them).
 */
export const NAMED_SCHEDULES = {
  linear,
  polynomial,
  exponentialDecay,
  cosineDecay,
  warmupCosineDecay,
  warmupConstant,
  piecewiseConstant,
} as const;

/** The name of a schedule in {@link NAMED_SCHEDULES}. */
export type ScheduleName = keyof typeof NAMED_SCHEDULES;

/** Whether `name` is a key of {@link NAMED_SCHEDULES}. */
export function isScheduleName(name: unknown): name is ScheduleName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(NAMED_SCHEDULES, name);
}

/**
 * Builds the schedule `name` of {@link NAMED_SCHEDULES} from its options. Throws
 * `LoptError('UNKNOWN_NAME')` listing the names for an unknown one; the schedule's own factory
 * validates the options.
 *
 * @example
 * ```ts
 * const lr = scheduleByName('cosineDecay', { initValue: 0.01, decaySteps: 300 });
 * lr(0); // 0.01
 * ```
 */
export function scheduleByName(name: string, options: Readonly<Record<string, unknown>>): Schedule {
  if (!isScheduleName(name)) {
    throw new LoptError('UNKNOWN_NAME', `No schedule named '${String(name)}'. Schedules: ${Object.keys(NAMED_SCHEDULES).join(', ')}.`, { option: 'schedule' });
  }
  return (NAMED_SCHEDULES[name] as (o: Readonly<Record<string, unknown>>) => Schedule)(options);
}
