import * as tf from '@tensorflow/tfjs-core';
import { LoptError, assertSameStructure, treeFlatten, treeLeaves, treePaths, treeUnflatten, type OptState, type TensorTree, type UpdateContext, tidy } from '@lopt/core';
import { counter, evalSchedule, readCount, type LearningRate } from '../hyper.js';
import type { TransformationOptimizer } from '../transformation.js';
import { fusedAdamAvailable, fusedAdamLeaves } from './adam_kernel.js';

/** What the fused Adam/AdamW path needs to know about the optimizer's configuration. */
export interface FusedAdamConfig {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly epsilonRoot: number;
  readonly weightDecay: number;
  readonly learningRate: Exclude<LearningRate, tf.Scalar>;
  /** Whether the chain has an `addDecayedWeights` entry between Adam and the learning rate (AdamW). */
  readonly decayEntry: boolean;
}

/**
 * Wraps the composed `adam`/`adamw` optimizer with the fused path: on the `cpu` and `wasm`
 * backends, outside gradient tapes and for float32 leaves, one registered kernel call
 * computes the new parameters and moments in a single pass; otherwise (and with
 * `fused: false`) the composed transformations run. Both produce the same state tree
 * (`[{count, mu, nu}, (decay {}), lr state]`), so states move freely between the paths
 * and checkpoints do not depend on which ran.
 */
export function withFusedAdam(base: TransformationOptimizer<TensorTree[]>, cfg: FusedAdamConfig): TransformationOptimizer<TensorTree[]> {
  return {
    ...base,
    update(state: OptState<TensorTree[]>, grads: TensorTree, ctx?: UpdateContext): OptState<TensorTree[]> {
      if (!fusedAdamAvailable()) return base.update(state, grads, ctx);
      assertSameStructure(state.params, grads, { names: ['params', 'grads'], checkShapes: true });
      return tidy((): OptState<TensorTree[]> => fusedStep(state, grads, cfg));
    },
  };
}

function fusedStep(state: OptState<TensorTree[]>, grads: TensorTree, cfg: FusedAdamConfig): OptState<TensorTree[]> {
  const entries = state.state;
  const expected = cfg.decayEntry ? 3 : 2;
  if (!Array.isArray(entries) || entries.length !== expected) {
    throw new LoptError('TREE_MISMATCH', `adam state must be an array of ${expected} entries.`, { path: '<root>' });
  }
  const adamState = entries[0] as { count: tf.Scalar; mu: { [k: string]: TensorTree }; nu: TensorTree };
  const lrState = entries[expected - 1] as { count?: tf.Scalar };
  const t = readCount(adamState.count, '0.count') + 1;
  let lr: number;
  let nextLrState: TensorTree;
  if (typeof cfg.learningRate === 'function') {
    const step = readCount(lrState.count as tf.Scalar, `${expected - 1}.count`);
    lr = evalSchedule('learningRate', cfg.learningRate, step);
    nextLrState = { count: counter(step + 1) };
  } else {
    lr = cfg.learningRate;
    nextLrState = lrState as TensorTree;
  }
  const attrs = {
    beta1: cfg.beta1,
    beta2: cfg.beta2,
    epsilon: cfg.epsilon,
    epsilonRoot: cfg.epsilonRoot,
    bc1: 1 - cfg.beta1 ** t,
    bc2: 1 - cfg.beta2 ** t,
    weightDecay: cfg.weightDecay,
    learningRate: lr,
  };
  // moments pair with parameters by position (same structure, same shapes); one kernel call updates every leaf
  assertSameStructure(state.params, adamState.mu as TensorTree, { names: ['params', 'adam state mu'], checkShapes: true });
  assertSameStructure(state.params, adamState.nu, { names: ['params', 'adam state nu'], checkShapes: true });
  const { leaves: ps, structure } = treeFlatten(state.params);
  const gs = treeLeaves(grads);
  const bad = ps.findIndex((p, i) => p.dtype !== 'float32' || (gs[i] as tf.Tensor).dtype !== 'float32');
  if (bad >= 0) {
    const path = treePaths(state.params)[bad] as string;
    throw new LoptError('SHAPE_MISMATCH', `adam needs float32 parameters and gradients at '${path}'.`, { path });
  }
  const out = fusedAdamLeaves(ps, gs, treeLeaves(adamState.mu as TensorTree), treeLeaves(adamState.nu), attrs);
  const params = treeUnflatten(structure, out.params);
  const mu = treeUnflatten(structure, out.mu);
  const nu = treeUnflatten(structure, out.nu);
  const next: TensorTree[] = [{ count: counter(t), mu, nu }];
  if (cfg.decayEntry) next.push(entries[1] as TensorTree);
  next.push(nextLrState);
  return { params, state: next, iteration: state.iteration + 1 };
}
