import * as tf from '@tensorflow/tfjs-core';
import { LoptError, assertSameStructure, isTensor, treeMapWithPath, type OptState, type TensorTree, type UpdateContext, tidy } from '@lopt/core';
import { counter, evalSchedule, readCount, type LearningRate } from '../hyper.js';
import type { TransformationOptimizer } from '../transformation.js';
import { fusedAdamAvailable, fusedAdamLeaf } from './adam_kernel.js';

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
 * backends, outside gradient tapes and for float32 leaves, one registered kernel per leaf
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
  const mus = new Map<string, tf.Tensor>();
  const nus = new Map<string, tf.Tensor>();
  const muLeaves = leafMap(adamState.mu as TensorTree);
  const nuLeaves = leafMap(adamState.nu);
  const params = treeMapWithPath((path, p, g) => {
    const m = muLeaves.get(path);
    const v = nuLeaves.get(path);
    if (!m || !v) throw new LoptError('TREE_MISMATCH', `adam state has no moments for '${path}'.`, { path });
    if (p.dtype !== 'float32' || (g as tf.Tensor).dtype !== 'float32') {
      throw new LoptError('SHAPE_MISMATCH', `adam needs float32 parameters and gradients at '${path}'.`, { path });
    }
    const [pn, mn, vn] = fusedAdamLeaf(p, g as tf.Tensor, m, v, attrs);
    mus.set(path, mn);
    nus.set(path, vn);
    return pn;
  }, state.params, grads);
  const mu = treeMapWithPath((path) => mus.get(path) as tf.Tensor, state.params);
  const nu = treeMapWithPath((path) => nus.get(path) as tf.Tensor, state.params);
  const next: TensorTree[] = [{ count: counter(t), mu, nu }];
  if (cfg.decayEntry) next.push(entries[1] as TensorTree);
  next.push(nextLrState);
  return { params, state: next, iteration: state.iteration + 1 };
}

function leafMap(tree: TensorTree): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  treeMapWithPath((path, x) => {
    if (isTensor(x)) out.set(path, x);
    return x;
  }, tree);
  return out;
}
