import { checkNumber, type GradientTransformation, type TensorTree } from '@lopt/core';
import { chain, identity, optimizerFrom, type TransformationOptimizer } from '../transformation.js';
import { checkKnownOptions, type LearningRate } from '../hyper.js';
import { warmupConstant } from '../schedules.js';
import { addDecayedWeights } from '../transforms/momentum.js';
import { scaleByRms } from '../transforms/rms.js';
import { scaleByLearningRate } from '../transforms/scale.js';
import { scheduleFree, scheduleFreeEvalParams, type ScheduleFreeState } from '../wrappers/schedule_free.js';

/** Options shared by {@link scheduleFreeSgd} and {@link scheduleFreeAdamw}. */
export interface ScheduleFreeCommonOptions {
  /** Linear warm-up from 0 to `learningRate` over this many steps (a positive integer). Default none. */
  readonly warmupSteps?: number;
  /** Interpolation weight `b1` in (0, 1]. Default 0.9. */
  readonly beta1?: number;
  /** Averaging weights are `max_lr^weightLrPower`. Default 2. */
  readonly weightLrPower?: number;
}

/** Options of {@link scheduleFreeSgd}. */
export interface ScheduleFreeSgdOptions extends ScheduleFreeCommonOptions {
  /** Learning rate (no decay needed). Default 1 (optax). */
  readonly learningRate?: number;
  /** Weight decay added to the gradient before the step (times the learning rate). Default none. */
  readonly weightDecay?: number;
}

/** Options of {@link scheduleFreeAdamw}. */
export interface ScheduleFreeAdamwOptions extends ScheduleFreeCommonOptions {
  /** Learning rate (no decay needed). Default 0.0025 (optax). */
  readonly learningRate?: number;
  /** Second-moment decay. Default 0.999. */
  readonly beta2?: number;
  /** Added to the root of the bias-corrected second moment. Default 1e-8. */
  readonly epsilon?: number;
  /** Decoupled weight decay times the learning rate. Default 0. */
  readonly weightDecay?: number;
}

function withWarmup(peak: number, warmupSteps: number | undefined): LearningRate {
  if (warmupSteps === undefined) return peak;
  const steps = checkNumber('warmupSteps', warmupSteps, { min: 1, integer: true });
  return warmupConstant({ initValue: 0, peakValue: peak, warmupSteps: steps });
}

function wrap(
  name: string,
  base: GradientTransformation<TensorTree[]>,
  lr: LearningRate,
  options: ScheduleFreeCommonOptions,
  config: Record<string, unknown>,
): TransformationOptimizer<ScheduleFreeState<TensorTree[]>> {
  const tx = scheduleFree(base, {
    learningRate: lr,
    ...(options.beta1 !== undefined ? { beta1: options.beta1 } : {}),
    ...(options.weightLrPower !== undefined ? { weightLrPower: options.weightLrPower } : {}),
  });
  const opt = optimizerFrom(tx, name, {
    config: { ...config, warmupSteps: options.warmupSteps, beta1: options.beta1 ?? 0.9, weightLrPower: options.weightLrPower ?? 2 },
  });
  return { ...opt, evalParams: (state) => scheduleFreeEvalParams(state) };
}

/**
 * Schedule-Free SGD (Defazio et al. 2024; optax contrib `schedule_free_sgd`): plain SGD
 * (optionally with weight decay added to the gradient) inside {@link scheduleFree}. The
 * returned parameters are the interpolation `y`, where gradients are taken; evaluate at
 * `scheduleFreeEvalParams(state)` (also the optimizer's `evalParams`).
 *
 * @example
 * ```ts
 * const opt = scheduleFreeSgd({ learningRate: 0.5, warmupSteps: 100 });
 * ```
 */
export function scheduleFreeSgd(options: ScheduleFreeSgdOptions = {}): TransformationOptimizer<ScheduleFreeState<TensorTree[]>> {
  checkKnownOptions('scheduleFreeSgd', options, ['learningRate', 'warmupSteps', 'beta1', 'weightDecay', 'weightLrPower']);
  const peak = checkNumber('learningRate', options.learningRate ?? 1, { min: 0 });
  const lr = withWarmup(peak, options.warmupSteps);
  const wd = options.weightDecay === undefined ? undefined : checkNumber('weightDecay', options.weightDecay, { min: 0 });
  const base = chain(wd === undefined ? identity() : addDecayedWeights(wd), scaleByLearningRate(lr));
  return wrap('scheduleFreeSgd', base, lr, options, { learningRate: peak, weightDecay: wd });
}

/**
 * Schedule-Free AdamW (Defazio et al. 2024, the AlgoPerf self-tuning winner; optax contrib
 * `schedule_free_adamw`): Adam without momentum (bias-corrected RMS scaling, epsilon outside
 * the root), decoupled weight decay and the learning rate, inside {@link scheduleFree}.
 * Evaluate the model at `scheduleFreeEvalParams(state)`.
 *
 * @example
 * ```ts
 * const opt = scheduleFreeAdamw({ learningRate: 3e-3, warmupSteps: 50, weightDecay: 1e-4 });
 * ```
 */
export function scheduleFreeAdamw(options: ScheduleFreeAdamwOptions = {}): TransformationOptimizer<ScheduleFreeState<TensorTree[]>> {
  checkKnownOptions('scheduleFreeAdamw', options, ['learningRate', 'warmupSteps', 'beta1', 'beta2', 'epsilon', 'weightDecay', 'weightLrPower']);
  const peak = checkNumber('learningRate', options.learningRate ?? 0.0025, { min: 0 });
  const lr = withWarmup(peak, options.warmupSteps);
  const beta2 = checkNumber('beta2', options.beta2 ?? 0.999, { min: 0, lessThan: 1 });
  const epsilon = checkNumber('epsilon', options.epsilon ?? 1e-8, { min: 0 });
  const wd = checkNumber('weightDecay', options.weightDecay ?? 0, { min: 0 });
  const base = chain(
    scaleByRms({ decay: beta2, epsilon, epsilonInSqrt: false, biasCorrection: true }),
    addDecayedWeights(wd),
    scaleByLearningRate(lr),
  );
  return wrap('scheduleFreeAdamw', base, lr, options, { learningRate: peak, beta2, epsilon, weightDecay: wd });
}
