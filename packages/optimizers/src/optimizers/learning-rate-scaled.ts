import type { GradientTransformation, TensorTree } from '@lopt/core';
import { checkKnownOptions, checkLearningRate, type LearningRate } from '../hyper.js';
import { scaleByLearningRate } from '../transforms/scale.js';
import { chain, optimizerFrom, type TransformationOptimizer } from '../transformation.js';

/** The `learningRate` option (a step size or a schedule) of the optimizers built by {@link learningRateScaled}; each documents its default. */
export interface LearningRateOption {
  /** Step size or schedule (the optimizer's documentation gives the default). */
  readonly learningRate?: LearningRate;
}

/**
 * The optimizer `chain(scale(rest), scaleByLearningRate(lr))` named `name`, where `rest` is
 * `options` without `learningRate` (default `defaultLearningRate`) and `known` lists the
 * accepted option names (`learningRate` first). Its config is `rest` plus the learning rate.
 * Shared by the built-ins that are a scaling followed by the learning rate.
 */
export function learningRateScaled<O extends { readonly learningRate?: LearningRate }, S>(
  name: string,
  options: O,
  spec: {
    readonly known: readonly string[];
    readonly defaultLearningRate: number;
    readonly scale: (rest: Omit<O, 'learningRate'>) => GradientTransformation<S>;
  },
): TransformationOptimizer<TensorTree[]> {
  checkKnownOptions(name, options, spec.known);
  const lr = checkLearningRate('learningRate', options.learningRate ?? spec.defaultLearningRate);
  const { learningRate: _lr, ...rest } = options;
  return optimizerFrom(chain(spec.scale(rest), scaleByLearningRate(lr)), name, { config: { ...rest, learningRate: lr } });
}
