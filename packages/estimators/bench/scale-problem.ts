// The meta-training problem of `pnpm bench:scale` (learner and pool workers build the same one).
import type { GradientEstimator, LearnedOptimizer } from '@lopt/core';
import { adafacMlpLOpt } from '@lopt/learned';
import { imageMlpFamily } from '@lopt/tasks';
import { constantTruncation, lOptTruncatedStep, truncatedPES } from '../src/index.ts';
import { perParameterMlpLOpt } from '../test/problems/learned-optimizers.ts';
import { quadraticTaskFamily } from '../test/problems/quadratic-family.ts';

/** PES on an 8-dim quadratic family, 8 tasks, unrolls of 10; `slots` independent estimator copies. */
export function scaleProblem(slots: number): { learnedOptimizer: LearnedOptimizer; estimators: GradientEstimator[] } {
  const learnedOptimizer = perParameterMlpLOpt({ hidden: 8 });
  const truncatedStep = lOptTruncatedStep({ taskFamily: quadraticTaskFamily({ dim: 8 }), learnedOptimizer, truncation: constantTruncation(50), numTasks: 8, randomInitialIterationOffset: 50 });
  return { learnedOptimizer, estimators: Array.from({ length: slots }, () => truncatedPES({ truncatedStep, unrollLength: 10, std: 0.01 }) as GradientEstimator) };
}

/**
 * The quickstart's estimator (apps/cli presets.ts `quickstart`: PES on 8 softmax regressions
 * of 8x8 MNIST, batch 64, adafac, unrolls of 10) as `slots` independent copies: what
 * `lopt meta-train --preset quickstart` computes per estimator, so that the pool's overhead is
 * weighed against a real estimate's cost.
 */
export function quickstartProblem(slots: number): { learnedOptimizer: LearnedOptimizer; estimators: GradientEstimator[] } {
  const learnedOptimizer = adafacMlpLOpt({ stepMult: 0.03, expMult: 1 });
  const taskFamily = imageMlpFamily({ maxLayers: 0, imageSizeRange: [8, 8], batchSizeRange: [64, 64] });
  const truncatedStep = lOptTruncatedStep({ taskFamily, learnedOptimizer, truncation: constantTruncation(100), numTasks: 8, randomInitialIterationOffset: 100 });
  return { learnedOptimizer, estimators: Array.from({ length: slots }, () => truncatedPES({ truncatedStep, unrollLength: 10, std: 0.01 }) as GradientEstimator) };
}

/** The pool benchmarks' problems by name. */
export const poolProblems = { quadratic: scaleProblem, quickstart: quickstartProblem } as const;
