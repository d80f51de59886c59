import type * as tf from '@tensorflow/tfjs-core';
import { treeLeaves, treeStructure, treeUnflatten, type GradientTransformation, type TensorTree } from '@lopt/core';
import { counter, learningRateAt, readCount, type Hyper, type LearningRate } from '../hyper.js';

/** What a per-leaf preconditioner does with one leaf at one step. */
export interface LeafStepInput<L> {
  readonly g: tf.Tensor;
  readonly p: tf.Tensor;
  readonly leaf: L;
  /** Steps taken before this one. */
  readonly step: number;
  /** The learning rate at this step. */
  readonly lr: Hyper;
}

/** State of a {@link perLeafTransformation}: a step counter and one state per parameter leaf. */
export type PerLeafState<L> = { count: tf.Scalar; leaves: L[] };

/** How {@link perLeafTransformation} starts and steps each leaf. */
export interface PerLeafSpec<L> {
  /** The learning rate (or schedule) the step reads, and the option name its errors use. */
  readonly learningRate: LearningRate;
  /** A leaf's state before the first step. */
  readonly initLeaf: (p: tf.Tensor) => L;
  /** One leaf's update (added to the parameters) and next state. */
  readonly stepLeaf: (input: LeafStepInput<L>) => { update: tf.Tensor; state: L };
}

/**
 * A transformation that keeps one state per parameter leaf and a step counter (Shampoo,
 * SOAP): `init` builds each leaf's state, `update` reads the step and its learning rate,
 * steps every leaf independently and counts the step.
 */
export function perLeafTransformation<L>(spec: PerLeafSpec<L>): GradientTransformation<PerLeafState<L>> {
  return {
    init: (params) => ({ count: counter(0), leaves: treeLeaves(params).map((p) => spec.initLeaf(p)) }),
    update(updates, state, params) {
      const step = readCount(state.count);
      const lr = learningRateAt('learningRate', spec.learningRate, step);
      const ps = treeLeaves(params);
      const out = treeLeaves(updates).map((g, i) => spec.stepLeaf({ g, p: ps[i] as tf.Tensor, leaf: state.leaves[i] as L, step, lr }));
      const tree = treeUnflatten(treeStructure(updates), out.map((o) => o.update));
      return { updates: tree as TensorTree, state: { count: counter(step + 1), leaves: out.map((o) => o.state) } };
    },
  };
}
