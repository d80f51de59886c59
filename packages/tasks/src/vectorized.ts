import * as tf from '@tensorflow/tfjs-core';
import { LoptError, type TensorTree, type VectorizedTask } from '@lopt/core';
import { checkRecord, stopGradient } from './common.js';
import { handDerivedLoss, tapeDepth } from './fast-grad.js';
import { fusedStackedMlpLossGrad, type FUSED_MLP_ACTIVATIONS } from './fused/mlp-kernel.js';
import { fusedCovers, mlpLeaves } from './mlp-fast-grad.js';
import type { ImageMlpConfig } from './families.js';
import { MNIST_CLASSES, type ImageBatch } from './mnist.js';
import { activate, mlpLayerName, type Activation, type DenseParams } from './nn.js';
import type { NoisyQuadraticConfig, QuadraticConfig } from './quadratics.js';

// Batched versions of the families' tasks (core's VectorizedTask): leaves and batches carry a
// leading copy axis K, and every mean or sum of a copy's loss runs over that copy's own axes.

/** Validates a non-empty list of configuration records (`cfgs[i]` named in the message). */
function checkConfigs(cfgs: unknown): Record<string, unknown>[] {
  if (!Array.isArray(cfgs) || cfgs.length === 0) {
    throw new LoptError('INVALID_OPTION', "Option 'cfgs' must be a non-empty array of task configurations.", { option: 'cfgs' });
  }
  return cfgs.map((c, i) => checkRecord(`cfgs[${i}]`, c));
}

/** True when every configuration has the same JSON value for each of `fields`. */
function sameFields(cfgs: readonly Record<string, unknown>[], fields: readonly string[]): boolean {
  const first = cfgs[0] as Record<string, unknown>;
  return cfgs.every((c) => fields.every((f) => JSON.stringify(c[f]) === JSON.stringify(first[f])));
}

/**
 * The per-copy losses `[K]` through the fused kernel on the stacked operands (one kernel call
 * for all K copies): without a tape the losses alone; with one, a custom-gradient node whose
 * gradient (each copy's, scaled by its `dy`) the kernel computed in the forward call.
 */
function fusedBatchedLoss(params: Record<string, DenseParams>, x: tf.Tensor3D, labels: tf.Tensor2D, numLayers: number, act: Activation): tf.Tensor1D {
  const kernelAct = numLayers === 1 ? 'relu' : (act as (typeof FUSED_MLP_ACTIVATIONS)[number]);
  const leaves = mlpLeaves(params, numLayers);
  if (tapeDepth() === 0) return fusedStackedMlpLossGrad(x, labels, leaves, kernelAct, false)[0] as tf.Tensor1D;
  const k = x.shape[0];
  const perCopy = (dy: tf.Tensor, g: tf.Tensor): tf.Tensor => tf.mul(g, tf.reshape(dy, [k, ...g.shape.slice(1).map(() => 1)]));
  return handDerivedLoss(leaves, (ls) => {
    const [value, ...grads] = fusedStackedMlpLossGrad(x, labels, ls, kernelAct, true);
    return { value: value as tf.Scalar, saved: grads, backward: (dy, saved) => saved.map((g) => perCopy(dy, g)) };
  }) as unknown as tf.Tensor1D;
}

/**
 * Per-copy mean softmax cross-entropy `[K]` of K MLPs: `x` `[K, B, D]`, `labels` `[K, B]`,
 * layer `i`'s weights `[K, in, out]` and biases `[K, out]`. Copy `i`'s value is
 * `softmaxCrossEntropy(mlp(params[i], x[i]), labels[i])`. With at most one gradient tape and a
 * model the fused kernel covers (cpu/wasm, as the per-task `mlpSoftmaxLoss`), the fused kernel
 * computes all K copies in one call (`path: 'auto'`); `'autodiff'` forces the composed ops.
 */
export function batchedMlpSoftmaxLoss(
  params: Record<string, DenseParams>,
  x: tf.Tensor3D,
  labels: tf.Tensor2D,
  numLayers: number,
  act: Activation,
  numClasses: number,
  path: 'auto' | 'autodiff' = 'auto',
): tf.Tensor1D {
  if (path === 'auto' && tapeDepth() <= 1 && fusedCovers(params, x, numLayers, act)) return tf.tidy(() => fusedBatchedLoss(params, x, labels, numLayers, act));
  return tf.tidy(() => {
    let h: tf.Tensor = x;
    for (let i = 0; i < numLayers; i++) {
      const p = params[mlpLayerName(i)] as DenseParams;
      const z = tf.add(tf.matMul(h as tf.Tensor3D, p.w as unknown as tf.Tensor3D), tf.expandDims(p.b, 1));
      h = i + 1 < numLayers ? activate(act, z) : z;
    }
    const logp = tf.logSoftmax(h);
    const onehot = tf.oneHot(tf.cast(labels, 'int32'), numClasses);
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), -1), -1)) as tf.Tensor1D;
  });
}

/**
 * The image-MLP tasks of `cfgs` ({@link imageMlpFamily}) as one batched computation, or
 * undefined unless they share the dataset, image size, hidden widths, activation and batch
 * size (initializers may differ: they only shape `init`). Covers every depth, softmax
 * regression (no hidden layer) included.
 */
export function vectorizedImageMlp(cfgs: readonly ImageMlpConfig[]): VectorizedTask | undefined {
  const list = checkConfigs(cfgs);
  // the activation matters only between layers: softmax regressions batch across activations
  const hasHidden = Array.isArray(list[0]?.hidden) && (list[0]?.hidden as unknown[]).length > 0;
  if (!sameFields(list, ['dataset', 'imageSize', 'hidden', 'batchSize', ...(hasHidden ? ['activation'] : [])])) return undefined;
  const c = cfgs[0] as ImageMlpConfig;
  const k = cfgs.length;
  const inputs = c.imageSize * c.imageSize;
  const numLayers = c.hidden.length + 1;
  return {
    name: `image-mlp-${c.dataset}${c.imageSize}-${c.hidden.join('x') || 'linear'}-${hasHidden ? c.activation : 'none'}-bs${c.batchSize} x ${k}`,
    size: k,
    loss: (params: TensorTree, batch: TensorTree) =>
      tf.tidy(() => {
        const { image, label } = batch as unknown as ImageBatch;
        const x = tf.reshape(image, [k, -1, inputs]) as tf.Tensor3D;
        return batchedMlpSoftmaxLoss(params as Record<string, DenseParams>, x, tf.reshape(label, [k, -1]) as tf.Tensor2D, numLayers, c.activation, MNIST_CLASSES);
      }),
  };
}

/** Stacked per-copy constants `[K, dim]` from a numeric field of each configuration. */
function stackedField(cfgs: readonly Record<string, unknown>[], field: string): tf.Tensor2D {
  return tf.tensor2d(cfgs.map((c) => c[field] as number[]));
}

/**
 * Copies of a task on one vector `[dim]` (configurations with a `dim`), batched as
 * `${name}-${dim} x K` with per-copy losses `loss(configs, stacked params, batch)` (run in a
 * tidy), or undefined unless they have the same dimension.
 */
function sameDimension(cfgs: readonly { readonly dim: number }[], name: string, loss: (list: Record<string, unknown>[], params: tf.Tensor, batch: TensorTree) => tf.Tensor1D): VectorizedTask | undefined {
  const list = checkConfigs(cfgs);
  if (!sameFields(list, ['dim'])) return undefined;
  return {
    name: `${name}-${(cfgs[0] as { readonly dim: number }).dim} x ${cfgs.length}`,
    size: cfgs.length,
    loss: (params: TensorTree, batch: TensorTree) => tf.tidy(() => loss(list, params as tf.Tensor, batch)),
  };
}

/**
 * The scaled quadratics of `cfgs` ({@link quadraticFromConfig}: `sum(scale (p - target)^2)`
 * per copy) as one batched computation, or undefined unless they have the same dimension.
 */
export function vectorizedQuadratics(cfgs: readonly QuadraticConfig[]): VectorizedTask | undefined {
  return sameDimension(cfgs, 'scaled-quadratic', (list, p) => {
    const diff = tf.sub(p, stackedField(list, 'target'));
    return tf.sum(tf.mul(stackedField(list, 'scale'), tf.square(diff)), -1) as tf.Tensor1D;
  });
}

/**
 * The noisy quadratics of `cfgs` ({@link noisyQuadraticFromConfig}) as one batched
 * computation (batch `{ noise: [K, dim] }`), or undefined unless they have the same dimension.
 */
export function vectorizedNoisyQuadratics(cfgs: readonly NoisyQuadraticConfig[]): VectorizedTask | undefined {
  return sameDimension(cfgs, 'noisy-quadratic', (list, p, batch) => {
    const noise = (batch as { noise?: tf.Tensor } | undefined)?.noise;
    if (!noise) throw new LoptError('MISSING_CONTEXT', 'The noisy quadratic loss needs a stacked batch { noise }.', { option: 'batch' });
    const clean = tf.sum(tf.square(tf.mul(stackedField(list, 'scale'), tf.sub(stackedField(list, 'center'), p))), -1);
    const noisyTerm = tf.mul(tf.mul(noise, tf.tensor2d(cfgs.map((c) => [c.noiseStd]))), p);
    return tf.add(clean, tf.sum(tf.sub(noisyTerm, stopGradient(noisyTerm)), -1)) as tf.Tensor1D;
  });
}
