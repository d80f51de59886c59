import * as tf from '@tensorflow/tfjs-core';
import type { Key } from './random.js';
import { collectTensors, disposeReplaced } from './advance.js';
import { requireBackend } from './backend-check.js';
import { LoptError } from './errors.js';
import { assertSameStructure, isTensor, treeFlatten, treeUnflatten, type TensorTree } from './tree.js';

// K inner problems of one shape as one batched computation (learned_optimization's
// `jax.vmap` over tasks and theta). Every stacked tree holds copy `i`'s leaf `[...shape]` at
// index `i` of a leaf `[K, ...shape]`; every per-copy reduction (a mean over a batch, a
// per-tensor normalization, a factored row/column accumulator) reduces over that copy's
// own axes, never across the leading K axis.

/**
 * K tasks of identical parameter and batch shapes evaluated as one batched computation.
 * Returned by {@link TaskFamily.vectorized}. The consistency guarantee: for stacked
 * `params` and a stacked `batch` (copy `i`'s batch from task `i`'s own dataset, stacked
 * leafwise), `loss(params, batch)[i]` equals `task_i.loss(params[i], batch[i])` to float32
 * round-off, and the gradient of `sum(loss(...))` with respect to `params` holds each
 * copy's own gradient at index `i`.
 */
export interface VectorizedTask<B = TensorTree> {
  /** A short name (for messages and benchmarks). */
  readonly name: string;
  /** Number of copies K. */
  readonly size: number;
  /** Per-copy losses `[K]` at stacked `params` on the stacked `batch` (undefined for data-free tasks). */
  loss(params: TensorTree, batch: B, keys?: readonly Key[]): tf.Tensor1D;
}

/**
 * The state of K copies of an optimizer: each copy's {@link OptState} stacked. `params` and
 * `state` are the copies' trees stacked leafwise (leaf `[K, ...]`); the per-copy iteration
 * counts stay on the host.
 */
export interface VectorizedOptState<S = TensorTree> {
  /** Stacked parameters `[K, ...]`. */
  readonly params: TensorTree;
  /** Stacked optimizer states (same structure as one copy's state, leaves `[K, ...]`). */
  readonly state: S;
  /** Each copy's number of updates so far. */
  readonly iterations: readonly number[];
}

/** Per-step information for a {@link VectorizedOptimizer}: the per-copy versions of `UpdateContext`'s fields. */
export interface VectorizedUpdateContext {
  /** Each copy's training loss `[K]` at the parameters the gradients were taken at. */
  readonly losses?: tf.Tensor1D;
  /** One PRNG key per copy. */
  readonly keys?: readonly Key[];
}

/**
 * K copies of a learned optimizer, each with its own theta (stacked `[K, ...]`: PES's
 * antithetic copies run at `theta +/- eps_i`), updated as one batched computation. Returned by
 * {@link LearnedOptimizer.vectorized}. The consistency guarantee: `update` of the stacked
 * states and gradients equals, copy by copy, `learnedOptimizer.optimizer(theta_i).update`
 * of copy `i`'s state and gradients (to float32 round-off). Initial states come from the
 * per-copy optimizers' `init`, stacked with {@link stackTrees}.
 */
export interface VectorizedOptimizer<S = TensorTree> {
  /** A short name, e.g. `adafacMlpLOpt x 16`. */
  readonly name: string;
  /** Number of copies K. */
  readonly size: number;
  /** One update of every copy; pure (never mutates or disposes its inputs). */
  update(state: VectorizedOptState<S>, grads: TensorTree, ctx?: VectorizedUpdateContext): VectorizedOptState<S>;
}

/** Options of {@link LearnedOptimizer.vectorized}. */
export interface VectorizedOptimizerOptions {
  /** Each copy's inner-training length (as `LearnedOptimizerOptions.numSteps`), or null where unknown. */
  readonly numSteps?: readonly (number | null)[];
}

/** Throws `LoptError('INVALID_OPTION')` unless `k` is an integer >= 1. */
function checkCount(option: string, k: unknown): number {
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be an integer >= 1, got ${String(k)}.`, { option });
  }
  return k;
}

/**
 * Stacks trees of one structure and shapes leafwise into one tree whose leaves have a new
 * leading axis (`[K, ...shape]`). Throws `LoptError` (`INVALID_OPTION` for an empty list,
 * `TREE_MISMATCH` / `SHAPE_MISMATCH` naming the path) when the trees differ.
 */
export function stackTrees(trees: readonly TensorTree[]): TensorTree {
  if (!Array.isArray(trees) || trees.length === 0) {
    throw new LoptError('INVALID_OPTION', "Option 'trees' must be a non-empty array of tensor trees.", { option: 'trees' });
  }
  const first = trees[0] as TensorTree;
  for (let i = 1; i < trees.length; i++) assertSameStructure(first, trees[i] as TensorTree, { names: ['trees[0]', `trees[${i}]`], checkShapes: true });
  const { structure } = treeFlatten(first);
  const columns = trees.map((t) => treeFlatten(t).leaves);
  return treeUnflatten(structure, columns[0]!.map((_, j) => tf.stack(columns.map((c) => c[j] as tf.Tensor))));
}

/**
 * Splits a stacked tree (leaves `[K, ...shape]`) into K trees (leaves `[...shape]`), the
 * inverse of {@link stackTrees}. Throws `LoptError('SHAPE_MISMATCH')` naming the leaf
 * whose leading dimension is not `k`.
 */
export function unstackTree(tree: TensorTree, k: number): TensorTree[] {
  checkCount('k', k);
  const { leaves, structure } = treeFlatten(tree);
  const parts = leaves.map((x, j) => {
    if (x.rank === 0 || x.shape[0] !== k) {
      throw new LoptError('SHAPE_MISMATCH', `Stacked leaf ${j} has shape [${x.shape.join(', ')}], expected a leading dimension of ${k}.`, { path: String(j) });
    }
    // tf.unstack's gradient fails for a length-1 axis (tfjs 4.22); one copy is a reshape.
    return k === 1 ? [tf.reshape(x, x.shape.slice(1))] : tf.unstack(x, 0);
  });
  return Array.from({ length: k }, (_, i) => treeUnflatten(structure, parts.map((p) => p[i] as tf.Tensor)));
}

/**
 * One memory-safe step of a {@link VectorizedOptimizer}, as `advance` is for one optimizer:
 * runs `update` inside `tf.tidy`, then disposes the tensors of the old state that the new
 * one does not reuse (the old state is consumed; `grads` and `ctx` stay the caller's).
 */
export function advanceVectorized<S>(
  opt: VectorizedOptimizer<S>,
  state: VectorizedOptState<S>,
  grads: TensorTree,
  ctx?: VectorizedUpdateContext,
): VectorizedOptState<S> {
  requireBackend('advanceVectorized');
  if (!Array.isArray(state?.iterations) || state.iterations.length !== opt.size) {
    throw new LoptError('INVALID_OPTION', `Option 'state' must hold ${opt.size} iteration counts (one per copy).`, { option: 'state' });
  }
  const inputIds = new Set(collectTensors([grads, ctx?.losses]).map((t) => t.id));
  let iterations: readonly number[] = [];
  const next = tf.tidy(() => {
    const out = opt.update(state, grads, ctx);
    if (typeof out !== 'object' || out === null || !('params' in out)) {
      throw new LoptError('INTERNAL', `Vectorized optimizer '${opt.name}' returned no state from update().`);
    }
    iterations = out.iterations;
    // the new state never aliases the caller's gradients or losses
    const params = cloneIf(out.params, inputIds);
    const st = cloneIf(out.state as unknown as TensorTree, inputIds);
    return { params, state: st } as unknown as tf.TensorContainer;
  }) as unknown as { params: TensorTree; state: S };
  const result: VectorizedOptState<S> = { params: next.params, state: next.state, iterations };
  disposeReplaced(state, result);
  return result;
}

function cloneIf(tree: TensorTree, ids: Set<number>): TensorTree {
  if (ids.size === 0) return tree;
  const { leaves, structure } = treeFlatten(tree);
  return treeUnflatten(structure, leaves.map((x) => (isTensor(x) && ids.has(x.id) ? tf.clone(x) : x)));
}
