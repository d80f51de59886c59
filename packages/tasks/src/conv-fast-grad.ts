import * as tf from '@tensorflow/tfjs-core';
import { softmaxCrossEntropy } from './common.js';
import { handDerivedLoss, takesHandDerived, type GradPath } from './fast-grad.js';
import { DERIVATIVES, type ActivationDerivative } from './mlp-fast-grad.js';
import { activate, dense, type Activation, type DenseParams } from './nn.js';

// The conv classifier's loss (3x3 'same' convolutions with bias, the first with stride 2, each
// followed by the activation; average or max pooling over space; a linear head; softmax
// cross-entropy) with a hand-derived backward pass under one gradient tape (fast-grad.ts): the
// head's `pᵀ·dz`, the pooling's gradient, then per convolution the activation's derivative, one
// Conv2DBackpropFilter, a bias sum and one Conv2DBackpropInput (conv2dTranspose): the same kernels
// tfjs' autodiff runs, without recording and replaying the forward. Equal values.

/** The conv classifier's shape: the activation, the pooling, the number of classes. */
export interface ConvNetSpec {
  /** Number of convolutions (params `conv00` ... and `head`). */
  readonly numConvs: number;
  readonly activation: Activation;
  readonly pool: 'avg' | 'max';
  readonly numClasses: number;
}

/** Name of the `i`-th convolution's params. */
export function convName(i: number): string {
  return `conv${String(i).padStart(2, '0')}`;
}

/** Stride of the `i`-th convolution: 2 for the first, 1 after. */
function strideOf(i: number): number {
  return i === 0 ? 2 : 1;
}

/** Params of one convolution: filter `[3, 3, in, out]` and bias. */
export type ConvParams = { w: tf.Tensor4D; b: tf.Tensor1D };

/**
 * The conv classifier's mean softmax cross-entropy on `image` `[N, H, W, 1]`. `path`: `'auto'`
 * takes the hand-derived backward pass when exactly one tape records and the activation has a
 * hand-derived derivative (all but selu, gelu, leakyRelu), autodiff otherwise.
 */
export function convSoftmaxLoss(params: Record<string, ConvParams | DenseParams>, image: tf.Tensor4D, labels: tf.Tensor1D, spec: ConvNetSpec, path: GradPath = 'auto'): tf.Scalar {
  const derivative = DERIVATIVES[spec.activation];
  if (!takesHandDerived(path, derivative !== undefined)) return autodiffLoss(params, image, labels, spec);
  const leaves: tf.Tensor[] = [];
  for (let i = 0; i < spec.numConvs; i++) leaves.push((params[convName(i)] as ConvParams).w, (params[convName(i)] as ConvParams).b);
  const head = params.head as DenseParams;
  leaves.push(head.w, head.b);
  return handDerivedLoss(leaves, (ls) => {
    const hs: tf.Tensor4D[] = [image];
    const zs: tf.Tensor4D[] = [];
    for (let i = 0; i < spec.numConvs; i++) {
      const z = tf.add(tf.conv2d(hs[i] as tf.Tensor4D, ls[2 * i] as tf.Tensor4D, strideOf(i), 'same'), ls[2 * i + 1] as tf.Tensor) as tf.Tensor4D;
      zs.push(z);
      hs.push(activate(spec.activation, z) as tf.Tensor4D);
    }
    const last = hs[spec.numConvs] as tf.Tensor4D;
    const pooled = (spec.pool === 'avg' ? tf.mean(last, [1, 2]) : tf.max(last, [1, 2])) as tf.Tensor2D;
    const logp = tf.logSoftmax(tf.add(tf.matMul(pooled, ls[2 * spec.numConvs] as tf.Tensor2D), ls[2 * spec.numConvs + 1] as tf.Tensor) as tf.Tensor2D);
    const onehot = tf.oneHot(tf.cast(labels, 'int32'), spec.numClasses);
    return {
      value: tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), -1))) as tf.Scalar,
      saved: [onehot, logp, pooled, ...hs, ...zs, ...ls],
      backward: (dy, saved) => convBackward(dy, saved, spec, derivative as ActivationDerivative),
    };
  });
}

/** The autodiff path: the loss from tfjs ops, differentiated by the tape. */
function autodiffLoss(params: Record<string, ConvParams | DenseParams>, image: tf.Tensor4D, labels: tf.Tensor1D, spec: ConvNetSpec): tf.Scalar {
  let h: tf.Tensor4D = image;
  for (let i = 0; i < spec.numConvs; i++) {
    const layer = params[convName(i)] as ConvParams;
    h = tf.add(tf.conv2d(h, layer.w, strideOf(i), 'same'), layer.b) as tf.Tensor4D;
    h = activate(spec.activation, h) as tf.Tensor4D;
  }
  const pooled = (spec.pool === 'avg' ? tf.mean(h, [1, 2]) : tf.max(h, [1, 2])) as tf.Tensor2D;
  return softmaxCrossEntropy(dense(params.head as DenseParams, pooled), labels, spec.numClasses);
}

/** d loss / d (w0, b0, ..., head.w, head.b) from the saved `[onehot, logp, pooled, h0..hL, z0..z(L-1), leaves...]`. */
function convBackward(dy: tf.Tensor, saved: tf.Tensor[], spec: ConvNetSpec, derivative: ActivationDerivative): tf.Tensor[] {
  const L = spec.numConvs;
  const [onehot, logp, pooled] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  const hs = saved.slice(3, 4 + L) as tf.Tensor4D[];
  const zs = saved.slice(4 + L, 4 + 2 * L) as tf.Tensor4D[];
  const ls = saved.slice(4 + 2 * L);
  const [batch, channels] = pooled.shape;
  // d/dlogits of -mean(sum(onehot * logsoftmax)) = (softmax - onehot) / batch
  const dlogits = tf.mul(tf.sub(tf.exp(logp), onehot), tf.div(dy, batch)) as tf.Tensor2D;
  const grads: tf.Tensor[] = new Array<tf.Tensor>(2 * L + 2);
  grads[2 * L] = tf.matMul(pooled, dlogits, true, false);
  grads[2 * L + 1] = tf.sum(dlogits, 0);
  const dpooled = tf.reshape(tf.matMul(dlogits, ls[2 * L] as tf.Tensor2D, false, true), [batch, 1, 1, channels]);
  const last = hs[L] as tf.Tensor4D;
  // avg: dy / (H W) everywhere (broadcast below); max: dy at every position equal to the max (tfjs' Max gradient)
  let dh: tf.Tensor =
    spec.pool === 'avg'
      ? tf.div(dpooled, (last.shape[1] as number) * (last.shape[2] as number))
      : tf.mul(dpooled, tf.cast(tf.equal(last, tf.reshape(pooled, [batch, 1, 1, channels])), 'float32'));
  for (let i = L - 1; i >= 0; i--) {
    const dz = tf.mul(dh, derivative(zs[i] as tf.Tensor, hs[i + 1] as tf.Tensor)) as tf.Tensor4D;
    const w = ls[2 * i] as tf.Tensor4D;
    const stride = strideOf(i);
    grads[2 * i] = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: hs[i] as tf.Tensor4D, dy: dz }, { strides: stride, pad: 'same', dataFormat: 'NHWC', filterShape: w.shape }) as tf.Tensor;
    grads[2 * i + 1] = tf.sum(dz, [0, 1, 2]);
    if (i > 0) dh = tf.conv2dTranspose(dz, w, (hs[i] as tf.Tensor4D).shape, stride, 'same');
  }
  return grads;
}
