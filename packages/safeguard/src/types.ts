import type * as tf from '@tensorflow/tfjs-core';
import type { TensorTree } from '@lopt/core';
import type { GuardStatsTree } from './stats.js';

/**
 * What the guard tells a loss or residual callback about the evaluation it asks for, so
 * that the caller can choose the batch. Within one step every evaluation gets the same
 * `iteration`; a deterministic callback (same batch for the same `iteration` and
 * `lookaheadStep`) makes the two branches' estimates comparable.
 */
export interface EvalInfo {
  /** The guard's iteration (the outer `OptState.iteration` of the step being decided). */
  readonly iteration: number;
  /** Which point is evaluated: a branch's candidate, or the current parameters. */
  readonly branch: 'learned' | 'fallback' | 'current';
  /** 0 for the candidate itself; `j` for the `j`-th simulated lookahead step after it. */
  readonly lookaheadStep: number;
}

/**
 * A scalar loss of the parameters, computed with tfjs ops (it is differentiated when a
 * guard looks ahead). Must return a rank-0 tensor; the guard disposes it.
 */
export type LossFn = (params: TensorTree, info: EvalInfo) => tf.Scalar;

/**
 * The fixed-point residual `||S(x)|| = ||x - T(x)||` of GL2O (Heaton et al.), for example
 * the gradient norm (see `gradientNormResidual`). Must return a rank-0 tensor >= 0; the
 * guard disposes it.
 */
export type ResidualFn = (params: TensorTree, info: EvalInfo) => tf.Scalar;

/**
 * Which inner optimizer states advance on a step:
 * - `'both'`: both optimizers compute their update from the shared parameters on every
 *   step, and each one whose candidate is finite advances its state (moments, hidden state,
 *   iteration), whichever candidate becomes the new parameters. Both optimizers therefore
 *   see the gradient history of the trajectory actually followed, so the one that takes
 *   over after a switch has fresh statistics (an Adam fallback does not restart from
 *   zeroed moments). Costs one extra update computation per step.
 * - `'taken'`: only the optimizer whose candidate becomes the new parameters advances; the
 *   other's state is frozen until its step is taken again. Cheapest: the fallback update is
 *   computed only when it is needed.
 */
export type AdvancePolicy = 'both' | 'taken';

/**
 * The `state` of a guarded optimizer (the part of `OptState` besides params and iteration):
 * the two inner optimizers' own states and the switching counters. Every field is a tensor
 * tree when the inner states are, so the whole guard state checkpoints with
 * `serializeTree`. The inner optimizers' iterations are the counters
 * `stats.learnedIteration` and `stats.fallbackIteration`.
 */
export interface GuardState<SL = TensorTree, SF = TensorTree> {
  /** The learned (wrapped) optimizer's state. */
  readonly learned: SL;
  /** The fallback optimizer's state. */
  readonly fallback: SF;
  /** Switching statistics and evaluation counts (see `GUARD_STAT_NAMES`). */
  readonly stats: GuardStatsTree;
}
