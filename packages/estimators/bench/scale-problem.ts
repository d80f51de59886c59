// The meta-training problem of `pnpm bench:scale` (learner and pool workers build the same one).
import type { GradientEstimator, LearnedOptimizer } from '@lopt/core';
import { constantTruncation, lOptTruncatedStep, truncatedPES } from '../src/index.ts';
import { perParameterMlpLOpt } from '../test/problems/learned-optimizers.ts';
import { quadraticTaskFamily } from '../test/problems/quadratic-family.ts';

/** PES on an 8-dim quadratic family, 8 tasks, unrolls of 10; `slots` independent estimator copies. */
export function scaleProblem(slots: number): { learnedOptimizer: LearnedOptimizer; estimators: GradientEstimator[] } {
  const learnedOptimizer = perParameterMlpLOpt({ hidden: 8 });
  const truncatedStep = lOptTruncatedStep({ taskFamily: quadraticTaskFamily({ dim: 8 }), learnedOptimizer, truncation: constantTruncation(50), numTasks: 8, randomInitialIterationOffset: 50 });
  return { learnedOptimizer, estimators: Array.from({ length: slots }, () => truncatedPES({ truncatedStep, unrollLength: 10, std: 0.01 }) as GradientEstimator) };
}
