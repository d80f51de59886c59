import * as tf from '@tensorflow/tfjs-core';
import { LoptError } from './errors.js';
import type { DenseLayerStatistics, DenseLayerTapping, LayerTap } from './layers.js';
import type { Key } from './random.js';
import { treeLeaves, treePaths, treeStructure, treeUnflatten, type TensorTree } from './tree.js';

/** The result of {@link valueAndLayerGrads}; the caller owns every tensor in it. */
export interface LayerGradients {
  /** The batch loss. */
  readonly loss: tf.Scalar;
  /** Gradients of the loss with respect to every parameter (same structure as the parameters). */
  readonly grads: TensorTree;
  /** Inputs and pre-activation gradients of every dense layer, in forward order. */
  readonly layers: DenseLayerStatistics[];
}

/**
 * One forward and backward pass that also returns, for every dense layer a task reports
 * through its {@link DenseLayerTapping}, the layer's inputs and the gradient of the loss with
 * respect to its pre-activations (captured by an identity with a custom gradient, so the pass
 * costs what `tf.valueAndGrads` costs). Use it to feed `UpdateContext.layers`.
 *
 * @example
 * ```ts
 * const { loss, grads, layers } = valueAndLayerGrads(task.layers!, params, batch);
 * state = advance(kfac(), state, grads, { loss, layers });
 * disposeLayerGradients({ loss, grads, layers });
 * ```
 */
export function valueAndLayerGrads<B>(tapping: DenseLayerTapping<B>, params: TensorTree, batch: B, key?: Key): LayerGradients {
  if (typeof tapping !== 'object' || tapping === null || typeof tapping.loss !== 'function' || !Array.isArray(tapping.dense)) {
    throw new LoptError('INVALID_OPTION', 'valueAndLayerGrads needs a task\'s `layers` capability ({ dense, loss }); this task does not report its dense layers.', {
      option: 'tapping',
    });
  }
  const known = new Set(treePaths(params));
  const captured: { ref: DenseLayerStatistics['weight']; bias?: string; inputs: tf.Tensor2D; outputGrads?: tf.Tensor2D }[] = [];
  const tap: LayerTap = (layer, input, preactivation) => {
    for (const path of [layer.weight, layer.bias]) {
      if (path !== undefined && !known.has(path)) {
        throw new LoptError('TREE_MISMATCH', `A tapped layer names '${path}', which is not a parameter path.`, { path });
      }
    }
    const record: (typeof captured)[number] = { ref: layer.weight, ...(layer.bias !== undefined ? { bias: layer.bias } : {}), inputs: tf.keep(tf.clone(input)) };
    captured.push(record);
    const identity = tf.customGrad(((x: tf.Tensor) => ({
      value: tf.clone(x),
      gradFunc: (dy: tf.Tensor) => {
        record.outputGrads = tf.keep(tf.clone(dy)) as tf.Tensor2D;
        return dy;
      },
    })) as unknown as Parameters<typeof tf.customGrad>[0]);
    return identity(preactivation) as tf.Tensor2D;
  };
  const structure = treeStructure(params);
  const { value, grads } = tf.valueAndGrads((...leaves: tf.Tensor[]) => tapping.loss(treeUnflatten(structure, leaves), batch, tap, key))(treeLeaves(params));
  const layers = captured.map((c) => {
    if (c.outputGrads === undefined) {
      throw new LoptError('INTERNAL', `Layer '${c.ref}' was tapped but received no gradient (is its output used in the loss?).`, { path: c.ref });
    }
    return { weight: c.ref, ...(c.bias !== undefined ? { bias: c.bias } : {}), inputs: c.inputs, outputGrads: c.outputGrads };
  });
  return { loss: value as tf.Scalar, grads: treeUnflatten(structure, grads), layers };
}

/** Disposes everything a {@link valueAndLayerGrads} call returned. */
export function disposeLayerGradients(g: LayerGradients): void {
  tf.dispose([g.loss, ...treeLeaves(g.grads), ...g.layers.flatMap((l) => [l.inputs, l.outputGrads])]);
}
