import * as tf from '@tensorflow/tfjs-core';
import { treeMap, treeZerosLike, type GradientTransformation, type TensorTree } from '@lopt/core';
import { checkBoolean, checkHyper, checkKnownOptions, type Hyper } from '../hyper.js';
import type { EmptyState } from '../transformation.js';
import { checkMask, masked, type Mask } from './masked.js';

/** Options of {@link trace}. */
export interface TraceOptions {
  /** Momentum decay. Default 0.9; in [0, 1]. */
  readonly decay?: Hyper;
  /** Nesterov momentum. Default false. */
  readonly nesterov?: boolean;
}

/** State of {@link trace}: the momentum buffer. */
export type TraceState = { trace: TensorTree };

/**
 * Heavy-ball momentum (optax `trace`): `t = g + decay * t`; the update is `t`, or
 * `g + decay * t` with `nesterov` (the accumulated form, as optax and PyTorch; not the
 * paper's look-ahead gradient).
 */
export function trace(options: TraceOptions = {}): GradientTransformation<TraceState> {
  checkKnownOptions('trace', options, ['decay', 'nesterov']);
  const decay = checkHyper('decay', options.decay ?? 0.9, { min: 0, max: 1 });
  const nesterov = checkBoolean('nesterov', options.nesterov, false);
  return {
    init: (params) => ({ trace: treeZerosLike(params) }),
    update(updates, state) {
      const t = treeMap((g, m) => tf.add(g, tf.mul(decay, m)), updates, state.trace);
      const out = nesterov ? treeMap((g, m) => tf.add(g, tf.mul(decay, m)), updates, t) : t;
      return { updates: out, state: { trace: t } };
    },
  };
}

/** Options of {@link addDecayedWeights}. */
export interface AddDecayedWeightsOptions {
  /** Restrict the decay to the leaves the mask selects (others pass through unchanged). */
  readonly mask?: Mask;
}

/**
 * Adds `weightDecay * params` to the updates (optax `add_decayed_weights`). Placed before
 * the learning-rate scaling in a chain, this is decoupled weight decay multiplied by the
 * learning rate (AdamW, the PyTorch convention).
 */
export function addDecayedWeights(
  weightDecay: Hyper = 0,
  options: AddDecayedWeightsOptions = {},
): GradientTransformation<EmptyState> {
  const wd = checkHyper('weightDecay', weightDecay, { min: 0 });
  const tx: GradientTransformation<EmptyState> = {
    init: () => ({}),
    update: (updates, state, params) => ({
      updates: wd === 0 ? updates : treeMap((u, p) => tf.add(u, tf.mul(wd, p)), updates, params),
      state,
    }),
  };
  return options.mask === undefined ? tx : masked(tx, checkMask('mask', options.mask));
}
