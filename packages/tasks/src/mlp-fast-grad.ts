import * as tf from '@tensorflow/tfjs-core';
import { softmaxCrossEntropy } from './common.js';
import { activate, mlp, mlpLayerName, type Activation, type DenseParams } from './nn.js';
import { FUSED_MLP_ACTIVATIONS, fusedMlpImplementation, fusedMlpLossGrad } from './fused/mlp-kernel.js';

// The softmax-cross-entropy loss of an MLP with a hand-derived backward pass. Under one
// gradient tape (plain training, evaluation, ES/PES inner steps) the loss is one custom-gradient
// node: the backward pass is a few large ops (per layer xᵀ·dz, a column sum, dz·Wᵀ and the
// activation's derivative) instead of tfjs recording and replaying every forward op. Its
// forward ops are not recorded, so it cannot be differentiated twice: under nested tapes
// (TBPTT, anything differentiating through an inner gradient) the plain autodiff path runs.
// On the cpu and wasm backends, small models go further: loss and gradient are ONE fused
// kernel call (fused/mlp-kernel.ts), and without a tape the fused kernel computes the loss alone.

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
    const w = (params[mlpLayerName(i)] as DenseParams).w;
    total += 2 * (w.shape[0] as number) * (w.shape[1] as number);
  }
  return total;
}

/** Whether the fused kernel covers this model on the active backend now. */
function fusedCovers(params: Record<string, DenseParams>, x: tf.Tensor, numLayers: number, act: Activation): boolean {
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
  return handDerivedLoss(params, x, labels, numLayers, act, numClasses);
}

function leavesOf(params: Record<string, DenseParams>, numLayers: number): tf.Tensor[] {
  const leaves: tf.Tensor[] = [];
  for (let i = 0; i < numLayers; i++) {
    const p = params[mlpLayerName(i)] as DenseParams;
    leaves.push(p.w, p.b);
  }
  return leaves;
}

/** The loss through the fused kernel: one custom-gradient node whose gradient the kernel computed in the forward call. */
function fusedLoss(params: Record<string, DenseParams>, x: tf.Tensor2D, labels: tf.Tensor1D, numLayers: number, act: Activation, lossOnly: boolean): tf.Scalar {
  const kernelAct = numLayers === 1 ? 'relu' : (act as (typeof FUSED_MLP_ACTIVATIONS)[number]);
  const leaves = leavesOf(params, numLayers);
  if (lossOnly) return fusedMlpLossGrad(x, labels, leaves, kernelAct, false)[0] as tf.Scalar;
  const loss = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [value, ...grads] = fusedMlpLossGrad(x, labels, args as tf.Tensor[], kernelAct, true);
    save(grads as tf.Tensor[]);
    return { value: value as tf.Scalar, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => saved.map((g) => tf.mul(g, dy)) };
  });
  return loss(...leaves) as tf.Scalar;
}

/** The loss with the hand-derived backward pass as a few large tfjs ops. */
function handDerivedLoss(params: Record<string, DenseParams>, x: tf.Tensor2D, labels: tf.Tensor1D, numLayers: number, act: Activation, numClasses: number): tf.Scalar {
  const leaves = leavesOf(params, numLayers);
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
