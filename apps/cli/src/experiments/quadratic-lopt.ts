// A learned optimizer meta-trained with PES on a quadratic family: the subject of claims (a), (b) and (f).
import { disposeTree, foldIn, key as makeKey, split, type Key, type LearnedOptimizer, type Optimizer, type Task, type TaskFamily, type TensorTree } from '@lopt/core';
import { constantTruncation, lOptTruncatedStep, metaTrain, truncatedPES } from '@lopt/estimators';
import { adam } from '@lopt/optimizers';
import { fixedDimQuadraticFamily } from '@lopt/tasks';

/** The training family of the quickstart-style setting: 8-dimensional quadratics with condition number up to 10. */
export const QUADRATIC_FAMILY: TaskFamily = fixedDimQuadraticFamily({ dim: 8, maxCondition: 10 }) as TaskFamily;
/** Inner horizon of meta-training and evaluation. */
export const HORIZON = 30;

/** Held-out task `i` of the family: sampled from a key stream meta-training never uses (`tuning` streams are disjoint from evaluation ones). */
export function heldOutTask(i: number, stream: 'eval' | 'tuning' = 'eval'): Task {
  const [k] = split(foldIn(makeKey(stream === 'eval' ? 4242 : 777), i), 1) as [Key];
  return QUADRATIC_FAMILY.task(QUADRATIC_FAMILY.sample(k));
}

/** A meta-trained learned optimizer: its architecture, theta and the optimizer of a horizon. */
export interface MetaTrained {
  /** The architecture. */
  readonly lopt: LearnedOptimizer;
  /** Meta-trained theta (caller disposes with `dispose`). */
  readonly theta: TensorTree;
  /** Theta before meta-training (the planted negation: never meta-trained). */
  readonly theta0: TensorTree;
  /** Wall-clock seconds of meta-training. */
  readonly seconds: number;
  /** Frees both thetas. */
  dispose(): void;
}

/**
 * Meta-trains `lopt` with truncated PES (4 tasks, unroll 5, std 0.01, Adam 1e-2 outer) on
 * {@link QUADRATIC_FAMILY} for `outerSteps` steps from `seed`: the setting the estimators'
 * test of the same claim uses.
 */
export async function metaTrainQuadratic(lopt: LearnedOptimizer, outerSteps: number, seed = 1): Promise<MetaTrained> {
  const t0 = performance.now();
  const step = lOptTruncatedStep({ taskFamily: QUADRATIC_FAMILY, learnedOptimizer: lopt, truncation: constantTruncation(HORIZON), numTasks: 4, randomInitialIterationOffset: HORIZON });
  const theta0 = lopt.init(makeKey(seed));
  const r = await metaTrain({
    learnedOptimizer: lopt,
    estimators: [truncatedPES({ truncatedStep: step, unrollLength: 5, std: 0.01 })],
    outerOptimizer: adam({ learningRate: 1e-2 }),
    steps: outerSteps,
    key: makeKey(seed),
    theta: theta0,
  });
  return { lopt, theta: r.theta, theta0, seconds: (performance.now() - t0) / 1000, dispose: () => disposeTree([theta0, r.theta]) };
}

/** The optimizer of `theta` for `numSteps` steps. */
export function loptOptimizer(m: MetaTrained, theta: TensorTree, numSteps: number): Optimizer {
  return m.lopt.optimizer(theta as never, { numSteps }) as Optimizer;
}
