import * as tf from '@tensorflow/tfjs-core';
import { handDerivedLoss, takesHandDerived, type GradPath } from './fast-grad.js';
import { DERIVATIVES, fastGradCovers, mlpBackward, mlpForward, mlpLeaves } from './mlp-fast-grad.js';
import { mlp, type Activation, type DenseParams } from './nn.js';

// The MLP autoencoder's reconstruction loss `mean((x - sigmoid(mlp(x)))^2)` with a hand-derived
// backward pass under one gradient tape (fast-grad.ts): the output layer's error is
// `-2 (x - out) / n * out (1 - out)`, then the MLP's per-layer `hᵀ·dz`, column sum, `dz·Wᵀ`
// and activation derivative (mlp-fast-grad.ts). Same forward ops as autodiff: equal values.

/**
 * The mean squared error between `x` `[N, D]` and `sigmoid(mlp(params, x))`. `path`: `'auto'`
 * takes the hand-derived backward pass when exactly one tape records and the activation is
 * relu, tanh or sigmoid (or the MLP has one layer), autodiff otherwise.
 */
export function mlpAutoencoderLoss(params: Record<string, DenseParams>, x: tf.Tensor2D, numLayers: number, act: Activation, path: GradPath = 'auto'): tf.Scalar {
  if (!takesHandDerived(path, fastGradCovers(numLayers, act))) {
    return tf.mean(tf.square(tf.sub(x, tf.sigmoid(mlp(params, x, numLayers, act)))));
  }
  const derivative = DERIVATIVES[act];
  return handDerivedLoss(mlpLeaves(params, numLayers), (ws) => {
    const { hs, zs } = mlpForward(x, ws, numLayers, act);
    const out = tf.sigmoid(zs[numLayers - 1] as tf.Tensor);
    const diff = tf.sub(x, out);
    return {
      value: tf.mean(tf.square(diff)),
      saved: [out, diff, ...hs, ...zs, ...ws],
      backward: (dy, saved) => {
        const [o, d] = saved as [tf.Tensor, tf.Tensor];
        // d/dout mean((x - out)^2) = -2 (x - out) / n; sigmoid'(z) = out (1 - out)
        const dout = tf.mul(tf.div(dy, -d.size / 2), d);
        return mlpBackward(tf.mul(dout, tf.mul(o, tf.sub(1, o))), saved.slice(2), numLayers, derivative);
      },
    };
  });
}
