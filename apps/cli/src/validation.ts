import { foldIn, key as makeKey, type LearnedOptimizer, type TensorTree } from '@lopt/core';
import { buildTasks, VALIDATION_TASKS, type EvalTarget } from './evaluate.js';
import { mean } from './stats.js';
import { trainOnTask } from '@lopt/eval';

/** Settings of checkpoint selection on validation tasks (the config's `validation` section). */
export interface ValidationSettings {
  /** Validate every this many outer steps (outer steps that are multiples of it; a run stopped and resumed validates the same steps). */
  readonly every: number;
  /** Validation tasks (family samples, or seeds of a single task). */
  readonly tasks: number;
  /** Inner training steps per validation run. */
  readonly steps: number;
  /** Batches averaged for each task's final train loss. */
  readonly evalBatches: number;
  /** Seed of the validation tasks' key stream (disjoint from evaluation and tuning by salt). */
  readonly seed: number;
}

/** Scores meta-parameters on fixed validation tasks. */
export interface Validator {
  /**
   * Trains a fresh model on each validation task with the learned optimizer of `theta` and
   * returns the mean final train loss (Infinity when any run diverges). `theta` is only read.
   */
  score(theta: TensorTree): number;
}

/** Salt of the validation runs' keys (initial parameters, batches), apart from the tasks' own stream. */
const VALIDATION_RUNS = 0x5e1f;

/**
 * A validator over `settings.tasks` tasks of `target`, sampled once from a key stream that
 * neither meta-training (its own key), evaluation nor Adam's tuning uses, so selecting the
 * best theta on them does not leak the held-out evaluation tasks. Every call trains on the
 * same tasks, initial parameters and batches, so scores of different thetas compare.
 */
export function createValidator(target: EvalTarget, learnedOptimizer: LearnedOptimizer, settings: ValidationSettings): Validator {
  const tasks = buildTasks(target, settings.seed, VALIDATION_TASKS, settings.tasks);
  const runKey = (i: number) => foldIn(foldIn(makeKey(settings.seed), VALIDATION_RUNS), i);
  return {
    score(theta: TensorTree): number {
      const optimizer = learnedOptimizer.optimizer(theta, { numSteps: settings.steps });
      const finals = tasks.map(({ task }, i) =>
        trainOnTask(task, optimizer, { steps: settings.steps, key: runKey(i), evalEvery: settings.steps, evalBatches: settings.evalBatches, lossCap: Infinity }).finalTrainLoss,
      );
      return finals.some((f) => !Number.isFinite(f)) ? Infinity : mean(finals);
    },
  };
}
