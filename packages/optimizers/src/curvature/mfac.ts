import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, treeLeaves, treeStructure, treeUnflatten, type GradientTransformation, type TensorTree } from '@lopt/core';
import { chain, identity, optimizerFrom, type TransformationOptimizer } from '../transformation.js';
import { checkKnownOptions, checkLearningRate, counter, readCount, type LearningRate } from '../hyper.js';
import { addDecayedWeights } from '../transforms/momentum.js';
import { scaleByLearningRate } from '../transforms/scale.js';
import { woodburyCoefficients, woodburyWeights } from './woodbury.js';

/** Options of {@link scaleByMfac}. */
export interface ScaleByMfacOptions {
  /** Number of gradients in the sliding window (m). Default 32 (the reference's 1024 is sized for GPUs). */
  readonly numGradients?: number;
  /** Damping λ of `F = λ I + (1/m) sum g g^T`. Default 1e-5 (reference). */
  readonly damping?: number;
  /** Momentum on the preconditioned direction, `v = μ v + (1 - μ) F^-1 g`. Default 0 (reference). */
  readonly momentum?: number;
}

/**
 * State of {@link scaleByMfac}: the window of flattened gradients `[m, d]` (a ring buffer,
 * zeros until filled, as in the reference), its Gram matrix `[m, m]`, the slot the next
 * gradient replaces, and the momentum buffer `[d]` when momentum is on.
 */
export type ScaleByMfacState = { grads: tf.Tensor2D; dots: tf.Tensor2D; next: tf.Scalar; velocity?: tf.Tensor1D };

function flatten(tree: TensorTree): tf.Tensor1D {
  return tf.concat(treeLeaves(tree).map((t) => tf.reshape(t, [-1]))) as tf.Tensor1D;
}

function unflattenLike(flat: tf.Tensor1D, like: TensorTree): TensorTree {
  const leaves = treeLeaves(like);
  const parts = tf.split(flat, leaves.map((t) => t.size));
  return treeUnflatten(treeStructure(like), parts.map((p, i) => tf.reshape(p, (leaves[i] as tf.Tensor).shape)));
}

/** Replaces row `slot` of `grads` by `g` and the matching row and column of `dots` by `G g`. */
function insertGradient(state: ScaleByMfacState, g: tf.Tensor1D, slot: number, m: number): { grads: tf.Tensor2D; dots: tf.Tensor2D; gx: tf.Tensor1D } {
  const oneHot = tf.reshape(tf.oneHot(tf.tensor1d([slot], 'int32'), m), [m, 1]);
  const keep = tf.sub(1, oneHot);
  const grads = tf.add(tf.mul(state.grads, keep), tf.mul(oneHot, tf.reshape(g, [1, -1]))) as tf.Tensor2D;
  const gx = tf.reshape(tf.matMul(grads, tf.reshape(g, [-1, 1])), [m]) as tf.Tensor1D;
  const oneHotRow = tf.reshape(oneHot, [1, m]);
  const column = tf.mul(keep, tf.reshape(gx, [m, 1])); // G g without the slot's own entry
  const dots = tf.add(tf.add(tf.mul(state.dots, tf.mul(keep, tf.sub(1, oneHotRow))), tf.mul(oneHot, tf.reshape(gx, [1, m]))), tf.mul(column, oneHotRow)) as tf.Tensor2D;
  return { grads, dots, gx };
}

/**
 * M-FAC's dynamic algorithm (Frantar, Kurtic & Alistarh 2021; the authors' `optim.MFAC`):
 * all leaves are flattened into one vector g of d numbers, g replaces the oldest of the m
 * window gradients, and the update is the inverse of the damped empirical Fisher
 * `F = λ I + (1/m) sum_i g_i g_i^T` of the window applied to g (then optional momentum).
 * The O(m^3) Woodbury coefficients are computed on the host in float64 each step; the two
 * O(dm) products run on the backend. Memory: m + 2 vectors of d floats.
 */
export function scaleByMfac(options: ScaleByMfacOptions = {}): GradientTransformation<ScaleByMfacState> {
  checkKnownOptions('scaleByMfac', options, ['numGradients', 'damping', 'momentum']);
  const m = checkNumber('numGradients', options.numGradients ?? 32, { min: 1, max: 4096, integer: true });
  const damp = checkNumber('damping', options.damping ?? 1e-5, { greaterThan: 0 });
  const mu = checkNumber('momentum', options.momentum ?? 0, { min: 0, lessThan: 1 });
  return {
    init(params) {
      const d = treeLeaves(params).reduce((s, t) => s + t.size, 0);
      const state: ScaleByMfacState = { grads: tf.zeros([m, d]), dots: tf.zeros([m, m]), next: counter(0) };
      return mu > 0 ? { ...state, velocity: tf.zeros([d]) } : state;
    },
    update(updates, state) {
      const slot = readCount(state.next, 'next');
      const g = flatten(updates);
      const { grads, dots, gx } = insertGradient(state, g, slot, m);
      const c = woodburyCoefficients(dots.dataSync(), m, damp);
      const w = woodburyWeights(c, gx.dataSync());
      const direction = tf.sub(tf.mul(g, 1 / damp), tf.reshape(tf.matMul(tf.tensor2d(Array.from(w), [1, m]), grads), [-1])) as tf.Tensor1D;
      const next: ScaleByMfacState = { grads, dots, next: counter((slot + 1) % m) };
      if (state.velocity === undefined) return { updates: unflattenLike(direction, updates), state: next };
      const velocity = tf.add(tf.mul(mu, state.velocity), tf.mul(1 - mu, direction)) as tf.Tensor1D;
      return { updates: unflattenLike(velocity, updates), state: { ...next, velocity } };
    },
  };
}

/** Options of {@link mfac}. */
export interface MfacOptions extends ScaleByMfacOptions {
  /** Step size or schedule. Default 1e-3 (reference). */
  readonly learningRate?: LearningRate;
  /** Added to the gradient (`g + wd p`) before it enters the window, as the reference. Default 0. */
  readonly weightDecay?: number;
}

/**
 * The M-FAC optimizer: `chain(addDecayedWeights(wd), scaleByMfac(...), scaleByLearningRate(lr))`,
 * i.e. `p -= lr * F^-1 (g + wd p)` (with momentum on the direction when set). With the
 * reference damping 1e-5 the first steps scale the gradient by 1e5 until the window fills:
 * pair it with a small learning rate, or raise the damping.
 *
 * @example
 * ```ts
 * const opt = mfac({ learningRate: 1e-4, numGradients: 16, damping: 1e-3 });
 * ```
 */
export function mfac(options: MfacOptions = {}): TransformationOptimizer<TensorTree[]> {
  checkKnownOptions('mfac', options, ['learningRate', 'weightDecay', 'numGradients', 'damping', 'momentum']);
  const lr = checkLearningRate('learningRate', options.learningRate ?? 1e-3);
  const wd = checkNumber('weightDecay', options.weightDecay ?? 0, { min: 0 });
  const { learningRate: _lr, weightDecay: _wd, ...rest } = options;
  const tx = chain(wd > 0 ? addDecayedWeights(wd) : identity(), scaleByMfac(rest), scaleByLearningRate(lr));
  return optimizerFrom(tx, 'mfac', {
    config: { learningRate: lr, weightDecay: wd, numGradients: rest.numGradients ?? 32, damping: rest.damping ?? 1e-5, momentum: rest.momentum ?? 0 },
  });
}
