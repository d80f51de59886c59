import * as tf from '@tensorflow/tfjs-core';
import { treeMap, type GradientTransformation } from '@lopt/core';
import { checkHyper, checkKnownOptions, type Hyper } from '../hyper.js';
import type { EmptyState } from '../transformation.js';

/** Options of {@link scaleByTrustRatio}. */
export interface ScaleByTrustRatioOptions {
  /** Lower bound applied to both norms. Default 0. */
  readonly minNorm?: Hyper;
  /** Multiplier of the ratio (LARS uses 1e-3). Default 1. */
  readonly trustCoefficient?: Hyper;
  /** Added to the update norm. Default 0. */
  readonly epsilon?: Hyper;
}

/**
 * Layer-wise trust ratio (LARS/LAMB; optax `scale_by_trust_ratio`): each leaf's update is
 * multiplied by `coeff * ||p|| / (||u|| + eps)`, or by 1 when either norm is 0 (norms are
 * clipped below at `minNorm`).
 */
export function scaleByTrustRatio(options: ScaleByTrustRatioOptions = {}): GradientTransformation<EmptyState> {
  checkKnownOptions('scaleByTrustRatio', options, ['minNorm', 'trustCoefficient', 'epsilon']);
  const minNorm = checkHyper('minNorm', options.minNorm ?? 0, { min: 0 });
  const coeff = checkHyper('trustCoefficient', options.trustCoefficient ?? 1, { min: 0 });
  const eps = checkHyper('epsilon', options.epsilon ?? 0, { min: 0 });
  return {
    init: () => ({}),
    update: (updates, state, params) => ({
      updates: treeMap(
        (u, p) => {
          const pn = tf.maximum(tf.norm(p), minNorm);
          const un = tf.maximum(tf.norm(u), minNorm);
          const ratio = tf.div(tf.mul(coeff, pn), tf.add(un, eps));
          const zero = tf.logicalOr(tf.equal(pn, 0), tf.equal(un, 0));
          return tf.mul(u, tf.where(zero, tf.onesLike(ratio), ratio));
        },
        updates,
        params,
      ),
      state,
    }),
  };
}
