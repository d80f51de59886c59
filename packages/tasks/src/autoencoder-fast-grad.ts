import * as tf from '@tensorflow/tfjs-core';
import { handDerivedLoss, takesHandDerived, tapeDepth, type GradPath } from './fast-grad.js';
import { DERIVATIVES, fastGradCovers, fusedCovers, fusedLoss, mlpBackward, mlpForward, mlpLeaves } from './mlp-fast-grad.js';
import { mlp, type Activation, type DenseParams } from './nn.js';

// The MLP autoencoder's reconstruction loss `mean((x - sigmoid(mlp(x)))^2)` with a hand-derived
// backward pass under one gradient tape (fast-grad.ts): the output layer's error is
// `-2 (x - out) / n * out (1 - out)`, then the MLP's per-layer `hᵀ·dz`, column sum, `dz·Wᵀ`
// and activation derivative (mlp-fast-grad.ts). Same forward ops as autodiff: equal values.
// On the cpu and wasm backends, small models go further: loss and gradient are ONE call of the
// fused MLP kernel with its sigmoid-MSE head (fused/mlp-kernel.ts), as for the MLP classifier.

/** Gradient path of {@link mlpAutoencoderLoss}: a {@link GradPath}, or `'fused'` (force the fused kernel). */
export type AutoencoderLossPath = GradPath | 'fused';

/**
 * The mean squared error between `x` `[N, D]` and `sigmoid(mlp(params, x))`. `path`: `'auto'`
 * takes the fused kernel for small relu/tanh/sigmoid models on cpu/wasm when at most one tape
 * records (none: the loss alone), else the hand-derived backward pass when exactly one tape
 * records and the activation has a hand-derived derivative (all but selu, gelu, leakyRelu),
 * autodiff otherwise.
 */
export function mlpAutoencoderLoss(params: Record<string, DenseParams>, x: tf.Tensor2D, numLayers: number, act: Activation, path: AutoencoderLossPath = 'auto'): tf.Scalar {
  const depth = tapeDepth();
  if (path === 'fused' || (path === 'auto' && depth <= 1 && fusedCovers(params, x, numLayers, act))) {
    return fusedLoss(params, x, x, numLayers, act, depth === 0, 'sigmoid-mse');
  }
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
