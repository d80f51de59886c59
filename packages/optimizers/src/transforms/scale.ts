import * as tf from '@tensorflow/tfjs-core';
import { LoptError, treeMap, type GradientTransformation } from '@lopt/core';
import type { EmptyState } from '../transformation.js';
import {
  checkBoolean,
  checkHyper,
  checkLearningRate,
  counter,
  learningRateAt,
  negHyper,
  readCount,
  type Hyper,
  type LearningRate,
  type Schedule,
} from '../hyper.js';

/** Multiplies the updates by a constant `step` (optax `scale`). */
export function scale(step: Hyper): GradientTransformation<EmptyState> {
  const s = checkHyper('step', step);
  return {
    init: () => ({}),
    update: (updates, state) => ({ updates: treeMap((u) => tf.mul(u, s), updates), state }),
  };
}

/** State of {@link scaleBySchedule}: the number of updates so far (int32 scalar). */
export type ScheduleState = { count: tf.Scalar };

/**
 * Multiplies the updates by `schedule(count)`, where count is the number of previous
 * updates (so the first update uses `schedule(0)`, as optax's `scale_by_schedule`).
 */
export function scaleBySchedule(schedule: Schedule, option = 'schedule'): GradientTransformation<ScheduleState> {
  if (typeof schedule !== 'function') {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be a function of the step.`, { option });
  }
  return {
    init: () => ({ count: counter(0) }),
    update(updates, state) {
      const step = readCount(state.count);
      const s = learningRateAt(option, schedule, step);
      return { updates: treeMap((u) => tf.mul(u, s), updates), state: { count: counter(step + 1) } };
    },
  };
}

/** Options of {@link scaleByLearningRate}. */
export interface ScaleByLearningRateOptions {
  /** Multiply by `-learningRate` (descent) rather than `+learningRate`. Default true. */
  readonly flipSign?: boolean;
}

/**
 * Multiplies the updates by `-learningRate` (optax `scale_by_learning_rate`). A schedule is
 * evaluated at the number of previous updates (0 on the first update) and keeps a counter
 * in its state; a constant or a scalar tensor keeps no state.
 */
export function scaleByLearningRate(
  learningRate: LearningRate,
  options: ScaleByLearningRateOptions = {},
): GradientTransformation<ScheduleState | EmptyState> {
  const lr = checkLearningRate('learningRate', learningRate);
  const flip = checkBoolean('flipSign', options.flipSign, true);
  if (typeof lr === 'function') {
    const sched: Schedule = flip ? (t) => -lr(t) : lr;
    return scaleBySchedule(sched, 'learningRate') as GradientTransformation<ScheduleState | EmptyState>;
  }
  return {
    init: () => ({}),
    update: (updates, state) => {
      const s = flip ? negHyper(lr) : lr;
      return { updates: treeMap((u) => tf.mul(u, s), updates), state };
    },
  };
}
