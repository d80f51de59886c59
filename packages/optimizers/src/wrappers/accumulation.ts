import * as tf from '@tensorflow/tfjs-core';
import { checkOptimizer, assertSameStructure, checkNumber, treeMap, treeZerosLike, type OptState, type Optimizer, type TensorTree, tidy } from '@lopt/core';
import { checkKnownOptions, counter, readCount } from '../hyper.js';

/** Options of {@link gradientAccumulation}. */
export interface GradientAccumulationOptions {
  /** Number of gradients to average per inner step (>= 1). */
  readonly every: number;
}

/** State of {@link gradientAccumulation}: inner state, gradient sum, loss sum, mini-steps since the last inner step. */
export type GradientAccumulationState<S> = { inner: S; gradSum: TensorTree; lossSum: tf.Scalar; miniStep: tf.Scalar };

/**
 * Averages `every` consecutive gradients (and losses, when given) and applies `inner` once
 * per `every` calls (learned_optimization `GradientAccumulator`, optax `MultiSteps`);
 * in between, the parameters are unchanged. The inner optimizer's `numSteps` is divided
 * by `every`, and its iteration counts inner steps.
 */
export function gradientAccumulation<S>(
  inner: Optimizer<S>,
  options: GradientAccumulationOptions,
): Optimizer<GradientAccumulationState<S>> {
  checkOptimizer('inner', inner, 'gradientAccumulation needs an Optimizer to wrap.');
  checkKnownOptions('gradientAccumulation', options, ['every']);
  const every = checkNumber('every', options?.every, { min: 1, integer: true });
  return {
    name: `gradientAccumulation(${inner.name})`,
    init(params, opts) {
      return tidy<OptState<GradientAccumulationState<S>>>(() => {
        const innerOpts = { ...opts, ...(opts?.numSteps !== undefined ? { numSteps: Math.max(1, Math.floor(opts.numSteps / every)) } : {}) };
        const s = inner.init(params, innerOpts);
        return {
          params,
          state: { inner: s.state, gradSum: treeZerosLike(params), lossSum: tf.scalar(0), miniStep: counter(0) },
          iteration: 0,
        };
      });
    },
    update(state, grads, ctx) {
      assertSameStructure(state.params, grads, { names: ['params', 'grads'], checkShapes: true });
      return tidy<OptState<GradientAccumulationState<S>>>(() => {
        const mini = readCount(state.state.miniStep, 'miniStep') + 1;
        const gradSum = treeMap((a, g) => tf.add(a, g), state.state.gradSum, grads);
        const lossSum: tf.Scalar = ctx?.loss ? tf.add(state.state.lossSum, ctx.loss) : state.state.lossSum;
        if (mini < every) {
          return {
            params: state.params,
            state: { inner: state.state.inner, gradSum, lossSum, miniStep: counter(mini) },
            iteration: state.iteration + 1,
          };
        }
        const mean = treeMap((a) => tf.div(a, every), gradSum);
        const innerCtx = ctx?.loss ? { ...ctx, loss: tf.div(lossSum, every) as tf.Scalar } : ctx;
        const next = inner.update(
          { params: state.params, state: state.state.inner, iteration: Math.floor(state.iteration / every) },
          mean,
          innerCtx,
        );
        return {
          params: next.params,
          state: { inner: next.state, gradSum: treeZerosLike(gradSum), lossSum: tf.scalar(0), miniStep: counter(0) },
          iteration: state.iteration + 1,
        };
      });
    },
  };
}
