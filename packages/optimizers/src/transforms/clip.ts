import * as tf from '@tensorflow/tfjs-core';
import { globalNorm, treeMap, type GradientTransformation } from '@lopt/core';
import { checkHyper, type Hyper } from '../hyper.js';
import type { EmptyState } from '../transformation.js';

/** Clips every update elementwise to `[-maxDelta, maxDelta]` (optax `clip`). */
export function clip(maxDelta: Hyper): GradientTransformation<EmptyState> {
  const m = checkHyper('maxDelta', maxDelta, { min: 0 });
  return {
    init: () => ({}),
    update: (updates, state) => ({
      updates: treeMap((u) => (typeof m === 'number' ? tf.clipByValue(u, -m, m) : tf.minimum(tf.maximum(u, tf.neg(m)), m)), updates),
      state,
    }),
  };
}

/**
 * Rescales the updates so their global L2 norm is at most `maxNorm` (optax
 * `clip_by_global_norm`): unchanged when `norm < maxNorm`, else `u * maxNorm / norm`.
 * Uses a select rather than a max, as optax, so gradients through it stay correct.
 */
export function clipByGlobalNorm(maxNorm: Hyper): GradientTransformation<EmptyState> {
  const m = checkHyper('maxNorm', maxNorm, { greaterThan: 0 });
  return {
    init: () => ({}),
    update(updates, state) {
      const n = globalNorm(updates);
      const below = tf.less(n, m);
      const factor = tf.where(below, tf.onesLike(n), tf.div(m, tf.where(below, tf.onesLike(n), n)));
      return { updates: treeMap((u) => tf.mul(u, factor), updates), state };
    },
  };
}
