import * as tf from '@tensorflow/tfjs-core';
import type { Key } from './random.js';
import type { TensorTree } from './tree.js';

/**
 * Where one dense layer's parameters live in a parameter tree: the dotted paths that
 * `treePaths` gives (`layer00.w`, `layer00.b`). The weight is `[in, out]` and the layer
 * computes `x W + b`.
 */
export interface DenseLayerRef {
  /** Path of the `[in, out]` weight. */
  readonly weight: string;
  /** Path of the `[out]` bias, when the layer has one. */
  readonly bias?: string;
}

/**
 * Called by a task for every dense layer during a forward pass, with the layer's input
 * `[N, in]` and pre-activation `[N, out]`; the task continues with the pre-activation the tap
 * returns (the same values: taps observe, they never change the loss).
 */
export type LayerTap = (layer: DenseLayerRef, input: tf.Tensor2D, preactivation: tf.Tensor2D) => tf.Tensor2D;

/**
 * An optional capability of a `Task`: it can report its dense layers, so curvature methods
 * (K-FAC, FOOF, mini-block Fisher) can use per-layer quantities. Tasks without it are
 * unaffected.
 */
export interface DenseLayerTapping<B = TensorTree> {
  /** The dense layers, in forward order. */
  readonly dense: readonly DenseLayerRef[];
  /** The task's loss (the same value as `Task.loss`), calling `tap` once per dense layer. */
  loss(params: TensorTree, batch: B, tap: LayerTap, key?: Key): tf.Scalar;
}

/**
 * What a curvature method needs of one dense layer for one batch (`UpdateContext.layers`).
 */
export interface DenseLayerStatistics extends DenseLayerRef {
  /** The layer's inputs `a`, `[N, in]`. */
  readonly inputs: tf.Tensor2D;
  /**
   * The gradient of the batch loss with respect to the layer's pre-activations, `[N, out]`.
   * For a mean over N examples, row n is `1/N` times example n's own gradient.
   */
  readonly outputGrads: tf.Tensor2D;
}
