import * as tf from '@tensorflow/tfjs-core';
import { softmaxCrossEntropy } from './common.js';
import { activate, mlp, mlpLayerName, type Activation, type DenseParams } from './nn.js';
import { FUSED_MLP_ACTIVATIONS, fusedMlpImplementation, fusedMlpLossGrad, unpackMlpGrads, type FusedMlpHead } from './fused/mlp-kernel.js';
import { handDerivedLoss, tapeDepth } from './fast-grad.js';

// The softmax-cross-entropy loss of an MLP with a hand-derived backward pass. Under one
// gradient tape (plain training, evaluation, ES/PES inner steps) the loss is one custom-gradient
// node: the backward pass is a few large ops (per layer xᵀ·dz, a column sum, dz·Wᵀ and the
// activation's derivative) instead of tfjs recording and replaying every forward op. Its
// forward ops are not recorded, so it cannot be differentiated twice: under nested tapes
// (TBPTT, anything differentiating through an inner gradient) the plain autodiff path runs.
// On the cpu and wasm backends, small models go further: loss and gradient are ONE fused
// kernel call (fused/mlp-kernel.ts), and without a tape the fused kernel computes the loss alone.

/** d act(z) / dz from the pre-activation `z` and the activation `h`. */
export type ActivationDerivative = (z: tf.Tensor, h: tf.Tensor) => tf.Tensor;

/** {@link ActivationDerivative}s of the activations the hand-derived backward passes cover (MLP, autoencoder, conv): all but selu, gelu and leakyRelu. */
export const DERIVATIVES: Partial<Record<Activation, ActivationDerivative>> = {
  relu: (z) => tf.step(z), // tfjs' Relu gradient: dy * step(x), 0 at x = 0
  tanh: (_z, h) => tf.sub(1, tf.square(h)),
  sigmoid: (_z, h) => tf.mul(h, tf.sub(1, h)),
  // the hand-derived (tfjs-op) paths only; the fused kernel implements relu, tanh and sigmoid
  relu6: (z) => tf.mul(tf.step(z), tf.cast(tf.lessEqual(z, 6), 'float32')), // tfjs' Relu6 gradient: 1 on [0, 6] except 0 at 0
  elu: (_z, h) => tf.add(tf.minimum(h, 0), 1), // tfjs' EluGrad: h + 1 where h < 0, else 1
  softplus: (z) => tf.sigmoid(z),
  sin: (z) => tf.cos(z),
  cos: (z) => tf.neg(tf.sin(z)),
  silu: (z) => {
    const s = tf.sigmoid(z);
    return tf.mul(s, tf.add(1, tf.mul(z, tf.sub(1, s)))); // d/dz z sigmoid(z) = s (1 + z (1 - s))
  },
};

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
 * Forward matmul FLOPs per example up to which `'auto'` takes the fused kernel. Measured on
 * WASM (2026-12-04, load 7.9, gradient only, batch 128): 784-128-10 (0.2 MFLOP) fused 3.4 ms
 * vs tfjs ops 7.2 ms; 784-512-10 (0.8 MFLOP) 19.1 vs 20.9; 3072-256-10 (1.6 MFLOP) 56 vs 54;
 * 784-1024-1024-10 (3.7 MFLOP) 131 vs 116: beyond ~1 MFLOP XNNPACK's blocked matmuls win.
 */
export const FUSED_MAX_FLOPS_PER_EXAMPLE = 1_000_000;

/** Forward matmul FLOPs per example of the MLP `params`. */
function flopsPerExample(params: Record<string, DenseParams>, numLayers: number): number {
  let total = 0;
  for (let i = 0; i < numLayers; i++) {
    // the last two axes: `[in, out]`, or `[K, in, out]` for K stacked copies
    const w = (params[mlpLayerName(i)] as DenseParams).w;
    total += 2 * (w.shape[w.rank - 2] as number) * (w.shape[w.rank - 1] as number);
  }
  return total;
}

/** Whether the fused kernel covers this MLP (`params` on `x`, `numLayers` layers, activation `act`; or K stacked ones) on the active backend now. */
export function fusedCovers(params: Record<string, DenseParams>, x: tf.Tensor, numLayers: number, act: Activation): boolean {
  return (
    x.dtype === 'float32' &&
    (numLayers === 1 || (FUSED_MLP_ACTIVATIONS as readonly string[]).includes(act)) &&
    fusedMlpImplementation() !== 'none' &&
    flopsPerExample(params, numLayers) <= FUSED_MAX_FLOPS_PER_EXAMPLE
  );
}

/** Gradient path of {@link mlpSoftmaxLoss}. */
export type MlpLossPath = 'auto' | 'fused' | 'fast' | 'autodiff';

/**
 * The mean softmax cross-entropy of `mlp(params, x)` against `labels`, the same value as
 * `softmaxCrossEntropy(mlp(...))`. `path`: `'auto'` (default) takes the fused kernel for small
 * models on cpu/wasm (with one tape: loss and gradient in one call; with none: the loss alone),
 * else the hand-derived backward pass when {@link takesFastGrad}, autodiff otherwise;
 * `'fused'` / `'fast'` / `'autodiff'` force one (tests compare them).
 */
export function mlpSoftmaxLoss(
  params: Record<string, DenseParams>,
  x: tf.Tensor2D,
  labels: tf.Tensor1D,
  numLayers: number,
  act: Activation,
  numClasses: number,
  path: MlpLossPath = 'auto',
): tf.Scalar {
  const depth = tapeDepth();
  const auto = path === 'auto' && depth <= 1 && fusedCovers(params, x, numLayers, act);
  if (path === 'fused' || auto) return fusedLoss(params, x, labels, numLayers, act, depth === 0);
  const fast = path === 'fast' || (path === 'auto' && takesFastGrad(numLayers, act));
  if (!fast) return softmaxCrossEntropy(mlp(params, x, numLayers, act), labels, numClasses);
  return handDerivedSoftmaxLoss(params, x, labels, numLayers, act, numClasses);
}

/** The leaves `[w0, b0, w1, b1, ...]` of an MLP's params in layer order. */
export function mlpLeaves(params: Record<string, DenseParams>, numLayers: number): tf.Tensor[] {
  const leaves: tf.Tensor[] = [];
  for (let i = 0; i < numLayers; i++) {
    const p = params[mlpLayerName(i)] as DenseParams;
    leaves.push(p.w, p.b);
  }
  return leaves;
}

/**
 * The loss through the fused kernel (`head`: softmax cross-entropy against `labels`, or the MSE
 * of sigmoid(output) against `labels` as targets): with `lossOnly` the loss alone, else one
 * custom-gradient node whose gradient the kernel computed in the forward call.
 */
export function fusedLoss(
  params: Record<string, DenseParams>,
  x: tf.Tensor2D,
  labels: tf.Tensor1D | tf.Tensor2D,
  numLayers: number,
  act: Activation,
  lossOnly: boolean,
  head: FusedMlpHead = 'softmax-xent',
): tf.Scalar {
  const kernelAct = numLayers === 1 ? 'relu' : (act as (typeof FUSED_MLP_ACTIVATIONS)[number]);
  const leaves = mlpLeaves(params, numLayers);
  if (lossOnly) return fusedMlpLossGrad(x, labels, leaves, kernelAct, false, head)[0] as tf.Scalar;
  const sizes = [x.shape[1], ...leaves.filter((_, i) => i % 2 === 0).map((w) => w.shape[1] as number)];
  // the gradient travels as one packed tensor: one saved clone and one unpacking kernel in the backward pass
  return handDerivedLoss(leaves, (ls) => {
    const [value, packed] = fusedMlpLossGrad(x, labels, ls, kernelAct, 'packed', head) as [tf.Scalar, tf.Tensor];
    return { value, saved: [packed], backward: (dy, saved) => unpackMlpGrads(saved[0] as tf.Tensor, dy, sizes) };
  });
}

/** The loss with the hand-derived backward pass as a few large tfjs ops. */
function handDerivedSoftmaxLoss(params: Record<string, DenseParams>, x: tf.Tensor2D, labels: tf.Tensor1D, numLayers: number, act: Activation, numClasses: number): tf.Scalar {
  const derivative = DERIVATIVES[act];
  return handDerivedLoss(mlpLeaves(params, numLayers), (ws) => {
    const onehot = tf.oneHot(tf.cast(labels, 'int32'), numClasses);
    const { hs, zs } = mlpForward(x, ws, numLayers, act);
    const logp = tf.logSoftmax(zs[numLayers - 1] as tf.Tensor2D);
    return {
      value: tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), -1))) as tf.Scalar,
      saved: [onehot, logp, ...hs, ...zs, ...ws],
      backward: (dy, saved) => {
        const [savedOnehot, savedLogp] = saved as [tf.Tensor, tf.Tensor];
        const batch = savedOnehot.shape[0] as number;
        // d/dlogits of -mean(sum(onehot * logsoftmax)) = (softmax - onehot) / batch
        const dz = tf.mul(tf.sub(tf.exp(savedLogp), savedOnehot), tf.div(dy, batch));
        return mlpBackward(dz, saved.slice(2), numLayers, derivative);
      },
    };
  });
}

/**
 * The forward pass of an MLP on its leaves `ws = [w0, b0, w1, b1, ...]`: the layer inputs
 * `hs` (`x` first) and the pre-activations `zs` (the last one is the output, not activated).
 */
export function mlpForward(x: tf.Tensor, ws: readonly tf.Tensor[], numLayers: number, act: Activation): { hs: tf.Tensor[]; zs: tf.Tensor[] } {
  const hs: tf.Tensor[] = [x];
  const zs: tf.Tensor[] = [];
  for (let i = 0; i < numLayers; i++) {
    const z = tf.add(tf.matMul(hs[i] as tf.Tensor2D, ws[2 * i] as tf.Tensor2D), ws[2 * i + 1] as tf.Tensor);
    zs.push(z);
    if (i + 1 < numLayers) hs.push(activate(act, z));
  }
  return { hs, zs };
}

/**
 * d loss / d (w0, b0, w1, b1, ...) of an MLP from `dz` = d loss / d (last pre-activation) and
 * `[h0..h(L-1), z0..z(L-1), w0, b0, ...]` as {@link mlpForward} made them: per layer `hᵀ·dz`,
 * a column sum, `dz·Wᵀ` and the activation's derivative.
 */
export function mlpBackward(dzLast: tf.Tensor, saved: readonly tf.Tensor[], numLayers: number, derivative: ActivationDerivative | undefined): tf.Tensor[] {
  const hs = saved.slice(0, numLayers);
  const zs = saved.slice(numLayers, 2 * numLayers);
  const ws = saved.slice(2 * numLayers);
  let dz = dzLast;
  const grads: tf.Tensor[] = new Array<tf.Tensor>(2 * numLayers);
  for (let i = numLayers - 1; i >= 0; i--) {
    grads[2 * i] = tf.matMul(hs[i] as tf.Tensor2D, dz as tf.Tensor2D, true, false);
    grads[2 * i + 1] = tf.sum(dz, 0);
    if (i > 0) dz = tf.mul(tf.matMul(dz as tf.Tensor2D, ws[2 * i] as tf.Tensor2D, false, true), derivative!(zs[i - 1] as tf.Tensor, hs[i] as tf.Tensor));
  }
  return grads;
}
