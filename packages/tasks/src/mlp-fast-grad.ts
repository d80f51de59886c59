import * as tf from '@tensorflow/tfjs-core';
import { softmaxCrossEntropy } from './common.js';
import { activate, mlp, mlpLayerName, type Activation, type DenseParams } from './nn.js';

// The softmax-cross-entropy loss of an MLP with a hand-derived backward pass. Under one
// gradient tape (plain training, evaluation, ES/PES inner steps) the loss is one custom-gradient
// node: the backward pass is a few large ops (per layer xᵀ·dz, a column sum, dz·Wᵀ and the
// activation's derivative) instead of tfjs recording and replaying every forward op. Its
// forward ops are not recorded, so it cannot be differentiated twice: under nested tapes
// (TBPTT, anything differentiating through an inner gradient) the plain autodiff path runs.

/** d act(z) / dz from the pre-activation `z` and the activation `h`, for the activations the fast path covers. */
const DERIVATIVES: Partial<Record<Activation, (z: tf.Tensor, h: tf.Tensor) => tf.Tensor>> = {
  relu: (z) => tf.step(z), // tfjs' Relu gradient: dy * step(x), 0 at x = 0
  tanh: (_z, h) => tf.sub(1, tf.square(h)),
  sigmoid: (_z, h) => tf.mul(h, tf.sub(1, h)),
};

/** Gradient tapes recording now (tfjs-core's engine state; 0 outside tf.grad, 2+ when nested). */
function tapeDepth(): number {
  return (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth;
}

/** Whether the hand-derived backward pass covers an MLP with `numLayers` layers and activation `act`. */
export function fastGradCovers(numLayers: number, act: Activation): boolean {
  return numLayers === 1 || DERIVATIVES[act] !== undefined;
}

/**
 * Whether {@link mlpSoftmaxLoss} takes the hand-derived backward pass now: exactly one gradient
 * tape records (none: no gradient is taken, so the plain forward is cheaper; two or more: an
 * outer tape may differentiate through this gradient) and {@link fastGradCovers} the model.
 */
export function takesFastGrad(numLayers: number, act: Activation): boolean {
  return tapeDepth() === 1 && fastGradCovers(numLayers, act);
}

/**
 * The mean softmax cross-entropy of `mlp(params, x)` against `labels`, the same value as
 * `softmaxCrossEntropy(mlp(...))`. `path`: `'auto'` (default) takes the hand-derived backward
 * pass when {@link takesFastGrad}, autodiff otherwise; `'fast'` / `'autodiff'` force one (tests compare them).
 */
export function mlpSoftmaxLoss(
  params: Record<string, DenseParams>,
  x: tf.Tensor2D,
  labels: tf.Tensor1D,
  numLayers: number,
  act: Activation,
  numClasses: number,
  path: 'auto' | 'fast' | 'autodiff' = 'auto',
): tf.Scalar {
  const fast = path === 'fast' || (path === 'auto' && takesFastGrad(numLayers, act));
  if (!fast) return softmaxCrossEntropy(mlp(params, x, numLayers, act), labels, numClasses);
  const leaves: tf.Tensor[] = [];
  for (let i = 0; i < numLayers; i++) {
    const p = params[mlpLayerName(i)] as DenseParams;
    leaves.push(p.w, p.b);
  }
  const derivative = DERIVATIVES[act];
  const loss = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const ws = args as tf.Tensor[];
    const onehot = tf.oneHot(tf.cast(labels, 'int32'), numClasses);
    const hs: tf.Tensor[] = [x];
    const zs: tf.Tensor[] = [];
    for (let i = 0; i < numLayers; i++) {
      const z = tf.add(tf.matMul(hs[i] as tf.Tensor2D, ws[2 * i] as tf.Tensor2D), ws[2 * i + 1] as tf.Tensor);
      zs.push(z);
      if (i + 1 < numLayers) hs.push(activate(act, z));
    }
    const logp = tf.logSoftmax(zs[numLayers - 1] as tf.Tensor2D);
    // everything the backward pass reads is saved: inputs may be temporaries of a caller's tidy
    save([onehot, logp, ...hs, ...zs, ...ws]);
    return {
      value: tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), -1))) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(dy, saved, numLayers, derivative),
    };
  });
  return loss(...leaves) as tf.Scalar;
}

/** d loss / d (w0, b0, w1, b1, ...) from the saved `[onehot, logp, h0..h(L-1), z0..z(L-1), w0, b0, ...]`. */
function backward(dy: tf.Tensor, saved: tf.Tensor[], numLayers: number, derivative: ((z: tf.Tensor, h: tf.Tensor) => tf.Tensor) | undefined): tf.Tensor[] {
  const [onehot, logp] = saved as [tf.Tensor, tf.Tensor];
  const hs = saved.slice(2, 2 + numLayers);
  const zs = saved.slice(2 + numLayers, 2 + 2 * numLayers);
  const ws = saved.slice(2 + 2 * numLayers);
  const batch = onehot.shape[0] as number;
  // d/dlogits of -mean(sum(onehot * logsoftmax)) = (softmax - onehot) / batch
  let dz = tf.mul(tf.sub(tf.exp(logp), onehot), tf.div(dy, batch));
  const grads: tf.Tensor[] = new Array<tf.Tensor>(2 * numLayers);
  for (let i = numLayers - 1; i >= 0; i--) {
    grads[2 * i] = tf.matMul(hs[i] as tf.Tensor2D, dz as tf.Tensor2D, true, false);
    grads[2 * i + 1] = tf.sum(dz, 0);
    if (i > 0) dz = tf.mul(tf.matMul(dz as tf.Tensor2D, ws[2 * i] as tf.Tensor2D, false, true), derivative!(zs[i - 1] as tf.Tensor, hs[i] as tf.Tensor));
  }
  return grads;
}
