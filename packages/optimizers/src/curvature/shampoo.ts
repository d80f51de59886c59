import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, type GradientTransformation } from '@lopt/core';
import { optimizerFrom, type TransformationOptimizer } from '../transformation.js';
import { perLeafTransformation, type LeafStepInput } from './per-leaf.js';
import { checkBoolean, checkKnownOptions, checkLearningRate, type LearningRate } from '../hyper.js';
import { contractFirstAxis, gramAlong, mergePartitions, mergeSmallDims, partition, splitSizes } from './kronecker-blocks.js';
import { inversePthRoot } from './symmetric-eigen.js';
import { graftingDirection, GRAFT_TYPES, type GraftType } from './grafting.js';

/** Options of {@link shampoo} (distributed Shampoo's, camelCased, with its defaults). */
export interface ShampooOptions {
  /** Step size or schedule. The reference has no default; 0.01 here. */
  readonly learningRate?: LearningRate;
  /** Axes longer than this are cut into blocks with their own statistics. Default 128 (the reference's advice). */
  readonly blockSize?: number;
  /** Momentum. Default 0.9. */
  readonly beta1?: number;
  /** Decay of the statistics and of RMSProp grafting; 1 sums them (Adagrad). Default 0.999. */
  readonly beta2?: number;
  /** Epsilon of Adagrad/RMSProp grafting. Default 1e-10. */
  readonly diagonalEpsilon?: number;
  /** Ridge added to each statistic before its inverse root (relative to its largest eigenvalue by default). Default 1e-6. */
  readonly matrixEpsilon?: number;
  /** Weight decay. Default 0. */
  readonly weightDecay?: number;
  /** Steps that use the grafting update before Shampoo's. Default 5. */
  readonly startPreconditioningStep?: number;
  /** Recompute the inverse roots every this many steps. Default 1. */
  readonly preconditioningComputeSteps?: number;
  /** Update the statistics every this many steps. Default 1. */
  readonly statisticsComputeSteps?: number;
  /** Merge small axes (`[1, 2, 512]` -> `[1024]`) up to `mergeSmallDimsBlockSize`. Default true. */
  readonly bestEffortShapeInterpretation?: boolean;
  /** Largest merged axis. Default 4096. */
  readonly mergeSmallDimsBlockSize?: number;
  /** The first-order method whose per-tensor step norm Shampoo's direction takes. Default 'sgd'. */
  readonly graftType?: GraftType;
  /** Nesterov momentum. Default true. */
  readonly nesterov?: boolean;
  /** Use this root instead of `2 * rank` (0 = off). Default 0. */
  readonly exponentOverride?: number;
  /** Momentum as an average (`(1 - beta1)` on the new term). Default false. */
  readonly movingAverageForMomentum?: boolean;
  /** Tensors with an axis longer than this use the grafting update only. Default 4096. */
  readonly skipPreconditioningDimSizeGt?: number;
  /** Tensors of rank below this use the grafting update only. Default 1. */
  readonly skipPreconditioningRankLt?: number;
  /** Clip RMSProp grafting's update to this RMS (off when absent). */
  readonly clipByScaledGradientNorm?: number;
  /** Ridge relative to the statistic's largest eigenvalue. Default true. */
  readonly relativeMatrixEpsilon?: boolean;
  /** Multiply the final update (rather than the grafting step) by the learning rate. Default true. */
  readonly decoupledLearningRate?: boolean;
  /** Add `lr * wd * p` after momentum instead of `wd * p` to both directions. Default false. */
  readonly decoupledWeightDecay?: boolean;
}

type Settings = Required<Omit<ShampooOptions, 'learningRate' | 'clipByScaledGradientNorm'>> & {
  learningRate: LearningRate;
  clipByScaledGradientNorm: number | undefined;
};

/** How one parameter is preconditioned: its merged shape, block sizes and root exponent. */
interface LeafPlan {
  readonly shape: number[];
  readonly merged: number[];
  readonly sizes: number[][];
  readonly skip: boolean;
  readonly exponent: number;
  /** One [n, n] statistic per axis of each block, blocks in partition order. */
  readonly statDims: number[];
}

/** Per-parameter state of {@link scaleByShampoo}. */
export type ShampooLeafState = {
  diagonalStatistics: tf.Tensor;
  momentum: tf.Tensor;
  diagonalMomentum: tf.Tensor;
  statistics: tf.Tensor2D[];
  preconditioners: tf.Tensor2D[];
};

/** State of {@link scaleByShampoo}: the step counter and one entry per parameter leaf, in tree order. */
export type ShampooState = { count: tf.Scalar; leaves: ShampooLeafState[] };

const KEYS = [
  'learningRate', 'blockSize', 'beta1', 'beta2', 'diagonalEpsilon', 'matrixEpsilon', 'weightDecay',
  'startPreconditioningStep', 'preconditioningComputeSteps', 'statisticsComputeSteps', 'bestEffortShapeInterpretation',
  'mergeSmallDimsBlockSize', 'graftType', 'nesterov', 'exponentOverride', 'movingAverageForMomentum',
  'skipPreconditioningDimSizeGt', 'skipPreconditioningRankLt', 'clipByScaledGradientNorm', 'relativeMatrixEpsilon',
  'decoupledLearningRate', 'decoupledWeightDecay',
] as const;

function settings(o: ShampooOptions): Settings {
  checkKnownOptions('shampoo', o, KEYS);
  const int = (name: string, v: unknown, d: number, min: number) => checkNumber(name, v ?? d, { min, integer: true });
  const graftType = o.graftType ?? 'sgd';
  if (!GRAFT_TYPES.includes(graftType)) {
    throw new LoptError('INVALID_OPTION', `Option 'graftType' must be one of ${GRAFT_TYPES.join(', ')}; got ${String(graftType)}.`, { option: 'graftType' });
  }
  return {
    learningRate: checkLearningRate('learningRate', o.learningRate ?? 0.01),
    blockSize: int('blockSize', o.blockSize, 128, 1),
    beta1: checkNumber('beta1', o.beta1 ?? 0.9, { min: 0, lessThan: 1 }),
    beta2: checkNumber('beta2', o.beta2 ?? 0.999, { greaterThan: 0, max: 1 }),
    diagonalEpsilon: checkNumber('diagonalEpsilon', o.diagonalEpsilon ?? 1e-10, { min: 0 }),
    matrixEpsilon: checkNumber('matrixEpsilon', o.matrixEpsilon ?? 1e-6, { greaterThan: 0 }),
    weightDecay: checkNumber('weightDecay', o.weightDecay ?? 0, { min: 0 }),
    startPreconditioningStep: int('startPreconditioningStep', o.startPreconditioningStep, 5, 0),
    preconditioningComputeSteps: int('preconditioningComputeSteps', o.preconditioningComputeSteps, 1, 1),
    statisticsComputeSteps: int('statisticsComputeSteps', o.statisticsComputeSteps, 1, 1),
    bestEffortShapeInterpretation: checkBoolean('bestEffortShapeInterpretation', o.bestEffortShapeInterpretation, true),
    mergeSmallDimsBlockSize: int('mergeSmallDimsBlockSize', o.mergeSmallDimsBlockSize, 4096, 1),
    graftType,
    nesterov: checkBoolean('nesterov', o.nesterov, true),
    exponentOverride: int('exponentOverride', o.exponentOverride, 0, 0),
    movingAverageForMomentum: checkBoolean('movingAverageForMomentum', o.movingAverageForMomentum, false),
    skipPreconditioningDimSizeGt: int('skipPreconditioningDimSizeGt', o.skipPreconditioningDimSizeGt, 4096, 1),
    skipPreconditioningRankLt: int('skipPreconditioningRankLt', o.skipPreconditioningRankLt, 1, 0),
    clipByScaledGradientNorm:
      o.clipByScaledGradientNorm === undefined ? undefined : checkNumber('clipByScaledGradientNorm', o.clipByScaledGradientNorm, { greaterThan: 0 }),
    relativeMatrixEpsilon: checkBoolean('relativeMatrixEpsilon', o.relativeMatrixEpsilon, true),
    decoupledLearningRate: checkBoolean('decoupledLearningRate', o.decoupledLearningRate, true),
    decoupledWeightDecay: checkBoolean('decoupledWeightDecay', o.decoupledWeightDecay, false),
  };
}

function planFor(shape: number[], s: Settings): LeafPlan {
  const skip = shape.length < s.skipPreconditioningRankLt || shape.some((d) => d > s.skipPreconditioningDimSizeGt);
  const merged = s.bestEffortShapeInterpretation ? mergeSmallDims(shape, s.mergeSmallDimsBlockSize) : [...shape];
  const sizes = splitSizes(merged, s.blockSize);
  const statDims: number[] = [];
  if (!skip) {
    const blocks = sizes.reduce((combos, axis) => combos.flatMap((c) => axis.map((d) => [...c, d])), [[]] as number[][]);
    for (const b of blocks) statDims.push(...b);
  }
  return { shape, merged, sizes, skip, exponent: s.exponentOverride || 2 * merged.length, statDims };
}

/** Updates the statistics `w1 S + w2 X X^T` of every block and axis. */
function updatedStatistics(g: tf.Tensor, leaf: ShampooLeafState, plan: LeafPlan, s: Settings): tf.Tensor2D[] {
  const w1 = s.beta2;
  const w2 = s.beta2 === 1 ? 1 : 1 - s.beta2;
  const blocks = partition(tf.reshape(g, plan.merged), plan.sizes);
  const rank = plan.merged.length;
  return blocks.flatMap((b, i) =>
    plan.merged.map((_, axis) => tf.add(tf.mul(w1, leaf.statistics[i * rank + axis] as tf.Tensor2D), tf.mul(w2, gramAlong(b, axis))) as tf.Tensor2D),
  );
}

/** Inverse roots of the statistics in float64 on the host; a failed one keeps the previous preconditioner. */
function computePreconditioners(stats: tf.Tensor2D[], previous: tf.Tensor2D[], exponent: number, s: Settings): tf.Tensor2D[] {
  return stats.map((st, i) => {
    const n = st.shape[0];
    const root = inversePthRoot(st.dataSync(), n, exponent, s.matrixEpsilon, s.relativeMatrixEpsilon);
    return root.every(Number.isFinite) ? tf.tensor2d(Float32Array.from(root), [n, n]) : tf.clone(previous[i] as tf.Tensor2D);
  });
}

/** `P_0 ... g ... P_r` block by block: each axis of each block contracted with its preconditioner. */
function preconditioned(g: tf.Tensor, preconditioners: tf.Tensor2D[], plan: LeafPlan): tf.Tensor {
  const rank = plan.merged.length;
  const blocks = partition(tf.reshape(g, plan.merged), plan.sizes).map((b, i) => {
    let out = b;
    for (let axis = 0; axis < rank; axis++) out = contractFirstAxis(out, preconditioners[i * rank + axis] as tf.Tensor2D);
    return out;
  });
  return tf.reshape(mergePartitions(blocks, plan.sizes), plan.shape);
}

/** A leaf state with its keys in sorted order (the order a restored checkpoint has). */
function leafState(
  diagonalStatistics: tf.Tensor,
  momentum: tf.Tensor,
  diagonalMomentum: tf.Tensor,
  statistics: tf.Tensor2D[],
  preconditioners: tf.Tensor2D[],
): ShampooLeafState {
  return { diagonalMomentum, diagonalStatistics, momentum, preconditioners, statistics };
}

interface LeafStep extends LeafStepInput<ShampooLeafState> {
  readonly plan: LeafPlan;
}

/** One parameter's update and new state (distributed Shampoo's `_transform_grad`). */
function transformLeaf({ g, p, leaf, plan, step, lr }: LeafStep, s: Settings): { update: tf.Tensor; state: ShampooLeafState } {
  const graft = graftingDirection(g, leaf.diagonalStatistics, s);
  const graftUpdate = s.decoupledLearningRate ? graft.update : tf.mul(graft.update, lr);
  const precond = plan.skip ? graftUpdate : preconditioned(g, leaf.preconditioners, plan);
  const multiplier = tf.div(tf.norm(graftUpdate), tf.add(tf.norm(precond), 1e-16));
  const coupledWd = (u: tf.Tensor) => (s.weightDecay !== 0 && !s.decoupledWeightDecay ? tf.add(u, tf.mul(s.weightDecay, p)) : u);
  const shampooWd = coupledWd(tf.mul(precond, multiplier));
  const graftWd = coupledWd(graftUpdate);
  const w = s.movingAverageForMomentum ? 1 - s.beta1 : 1;
  const momentum = tf.add(tf.mul(leaf.momentum, s.beta1), tf.mul(w, shampooWd));
  const diagonalMomentum = tf.add(tf.mul(leaf.diagonalMomentum, s.beta1), tf.mul(w, graftWd));
  const run = step >= s.startPreconditioningStep;
  let update = run ? momentum : diagonalMomentum;
  if (s.nesterov) update = tf.add(tf.mul(w, run ? shampooWd : graftWd), tf.mul(s.beta1, update));
  if (s.weightDecay !== 0 && s.decoupledWeightDecay) update = tf.add(update, tf.mul(tf.mul(lr, s.weightDecay), p));
  const scaled = tf.mul(update, s.decoupledLearningRate ? tf.neg(lr) : -1);
  return { update: scaled, state: leafState(graft.statistics, momentum, diagonalMomentum, leaf.statistics ?? [], leaf.preconditioners ?? []) };
}

/** A leaf's state before the first step: zero moments, statistics `matrixEpsilon * I`, identity preconditioners. */
function initialLeafState(p: tf.Tensor, s: Settings): ShampooLeafState {
  const plan = planFor([...p.shape], s);
  return leafState(
    tf.zerosLike(p),
    tf.zerosLike(p),
    tf.zerosLike(p),
    plan.statDims.map((n) => tf.mul(tf.eye(n), s.matrixEpsilon) as tf.Tensor2D),
    plan.statDims.map((n) => tf.eye(n) as tf.Tensor2D),
  );
}

/**
 * Shampoo as distributed Shampoo computes it (Gupta et al. 2018; Anil et al. 2020,
 * google-research `scalable_shampoo`): per block of each (merged) parameter, statistics
 * `L_i = beta2 L_i + (1 - beta2) G_(i) G_(i)^T` for every axis i, preconditioners
 * `L_i^(-1/(2 rank))`, the preconditioned gradient rescaled to the norm of a grafted
 * first-order step (SGD, Adagrad, RMSProp, their normalized forms, or sign), Nesterov
 * momentum, and the grafted step alone for the first `startPreconditioningStep` steps.
 * Divergence: the inverse roots come from a float64 eigendecomposition on the host rather than
 * the coupled Newton iteration, and the ridge uses the exact largest eigenvalue rather than
 * 100 power iterations; a root that fails (non-finite) keeps the previous preconditioner, as
 * the reference's failure threshold does.
 */
export function scaleByShampoo(options: ShampooOptions = {}): GradientTransformation<ShampooState> {
  const s = settings(options);
  return perLeafTransformation({ learningRate: s.learningRate, initLeaf: (p) => initialLeafState(p, s), stepLeaf: (input) => shampooLeafStep(input, s) });
}

/** One leaf's Shampoo step: statistics and preconditioners refreshed on their schedules, then the preconditioned, grafted step. */
function shampooLeafStep(input: LeafStepInput<ShampooLeafState>, s: Settings): { update: tf.Tensor; state: ShampooLeafState } {
  const { g, step } = input;
  let leaf = input.leaf;
  const plan = planFor([...g.shape], s);
  if (!plan.skip) {
    const statistics = step % s.statisticsComputeSteps === 0 ? updatedStatistics(g, leaf, plan, s) : leaf.statistics;
    const preconditioners =
      step % s.preconditioningComputeSteps === 0 ? computePreconditioners(statistics, leaf.preconditioners, plan.exponent, s) : leaf.preconditioners;
    leaf = leafState(leaf.diagonalStatistics, leaf.momentum, leaf.diagonalMomentum, statistics, preconditioners);
  }
  return transformLeaf({ ...input, leaf, plan }, s);
}

/**
 * The Shampoo optimizer: {@link scaleByShampoo} applied to the parameters (the learning rate
 * is inside the transformation, as in the reference).
 *
 * @example
 * ```ts
 * const opt = shampoo({ learningRate: 0.05, blockSize: 64, graftType: 'rmsprop', preconditioningComputeSteps: 10 });
 * ```
 */
export function shampoo(options: ShampooOptions = {}): TransformationOptimizer<ShampooState> {
  const tx = scaleByShampoo(options);
  const s = settings(options);
  const { learningRate: _lr, ...rest } = s;
  return optimizerFrom(tx, 'shampoo', { config: { ...rest, learningRate: typeof s.learningRate === 'number' ? s.learningRate : undefined } });
}
