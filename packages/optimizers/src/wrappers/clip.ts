import * as tf from '@tensorflow/tfjs-core';
import { checkOptimizer, checkNumber, treeMap, type Optimizer, tidy } from '@lopt/core';
import { checkKnownOptions } from '../hyper.js';

/** Options of {@link gradientClip}. */
export interface GradientClipOptions {
  /** Clip each gradient element to `[-max, max]`. Default 3 (learned_optimization). */
  readonly max?: number;
}

/**
 * Clips gradients elementwise to `[-max, max]` before `inner` sees them
 * (learned_optimization `GradientClipOptimizer`). The state is `inner`'s.
 */
export function gradientClip<S>(inner: Optimizer<S>, options: GradientClipOptions = {}): Optimizer<S> {
  checkOptimizer('inner', inner, 'gradientClip needs an Optimizer to wrap.');
  checkKnownOptions('gradientClip', options, ['max']);
  const max = checkNumber('max', options.max ?? 3, { greaterThan: 0 });
  return {
    name: `gradientClip(${inner.name})`,
    init: (params, opts) => inner.init(params, opts),
    update(state, grads, ctx) {
      return tidy<ReturnType<Optimizer<S>['update']>>(() => {
        const clipped = treeMap((g) => tf.clipByValue(g, -max, max), grads);
        return inner.update(state, clipped, ctx);
      });
    },
  };
}
