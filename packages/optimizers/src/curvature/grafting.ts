import * as tf from '@tensorflow/tfjs-core';

/**
 * Grafting (Agarwal et al. 2020) as distributed Shampoo uses it: a first-order method whose
 * per-tensor step norm the preconditioned direction takes over.
 * `sgd`: the gradient; `adagrad`/`rmsprop`: the gradient over the root of the summed or
 * averaged squares (+ epsilon); their `Normalized` forms first divide the gradient by its
 * norm; `sqrtN`: the sign of the gradient.
 */
export type GraftType = 'sgd' | 'adagrad' | 'rmsprop' | 'rmspropNormalized' | 'adagradNormalized' | 'sqrtN';

/** Every {@link GraftType}. */
export const GRAFT_TYPES: readonly GraftType[] = ['sgd', 'adagrad', 'rmsprop', 'rmspropNormalized', 'adagradNormalized', 'sqrtN'];

/** What grafting needs of the optimizer's settings. */
export interface GraftSettings {
  readonly graftType: GraftType;
  readonly beta2: number;
  readonly diagonalEpsilon: number;
  readonly clipByScaledGradientNorm: number | undefined;
}

/** The grafting update for gradient `g` and the new diagonal statistics. */
export function graftingDirection(g: tf.Tensor, statistics: tf.Tensor, s: GraftSettings): { update: tf.Tensor; statistics: tf.Tensor } {
  switch (s.graftType) {
    case 'sgd':
      return { update: g, statistics };
    case 'sqrtN':
      return { update: tf.sign(g), statistics };
    case 'adagrad':
    case 'adagradNormalized': {
      const sg = s.graftType === 'adagrad' ? g : tf.div(g, tf.add(tf.norm(g), 1e-16));
      const next = tf.add(statistics, tf.square(sg));
      return { update: tf.div(sg, tf.add(tf.sqrt(next), s.diagonalEpsilon)), statistics: next };
    }
    default: {
      const sg = s.graftType === 'rmsprop' ? g : tf.div(g, tf.add(tf.norm(g), 1e-16));
      const w2 = s.beta2 === 1 ? 1 : 1 - s.beta2;
      const next = tf.add(tf.mul(s.beta2, statistics), tf.mul(w2, tf.square(sg)));
      let update = tf.div(sg, tf.add(tf.sqrt(next), s.diagonalEpsilon));
      if (s.clipByScaledGradientNorm !== undefined) {
        const scaledNorm = tf.div(tf.norm(update), Math.sqrt(update.size));
        update = tf.div(update, tf.maximum(1, tf.div(scaledNorm, s.clipByScaledGradientNorm)));
      }
      return { update, statistics: next };
    }
  }
}
