import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  checkKnownKeys,
  lossAndGrads as coreLossAndGrads,
  checkNumber,
  checkOneOf,
  collectTensors,
  foldIn,
  treeLeaves,
  type OptState,
  type OptimizerInitOptions,
  type TensorTree,
  type UpdateContext,
} from '@lopt/core';
export { checkOptimizer } from '@lopt/core';
import type { AdvancePolicy, EvalInfo, LossFn } from './types.js';

/** Throws unless `value` is a function. */
export function checkFunction<F>(option: string, value: unknown): F {
  if (typeof value !== 'function') {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be a function, got ${value === undefined ? 'undefined' : typeof value}.`, { option });
  }
  return value as F;
}

/**
 * Throws unless `value` is undefined or a plain object (the options bag of a guard) whose
 * keys are all in `known` (core's `checkKnownKeys`: unknown keys and `__proto__` are refused).
 */
export function checkOptionsObject(fn: string, value: unknown, known: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  checkKnownKeys(fn, value, known);
  return value as Record<string, unknown>;
}

/** Validates `every` (a positive integer; default 1). */
export function checkEvery(value: unknown): number {
  return checkNumber('every', value ?? 1, { min: 1, integer: true });
}

/** Validates an {@link AdvancePolicy}. */
export function checkAdvance(value: unknown, dflt: AdvancePolicy): AdvancePolicy {
  return checkOneOf<AdvancePolicy>('advance', value ?? dflt, ['both', 'taken']);
}

/** Validates an optional `name`. */
export function checkName(value: unknown, dflt: string): string {
  if (value === undefined) return dflt;
  if (typeof value !== 'string' || value.length === 0) {
    throw new LoptError('INVALID_OPTION', "Option 'name' must be a non-empty string.", { option: 'name' });
  }
  return value;
}

/** Calls a user callback and checks that it returned a rank-0 tensor. */
export function evalScalar(what: string, fn: (p: TensorTree, info: EvalInfo) => tf.Scalar, params: TensorTree, info: EvalInfo): tf.Scalar {
  const out = fn(params, info) as unknown;
  if (!(out instanceof tf.Tensor) || out.rank !== 0) {
    const got = out instanceof tf.Tensor ? `a tensor of shape [${out.shape.join(', ')}]` : typeof out;
    throw new LoptError('SHAPE_MISMATCH', `${what} must return a scalar (rank-0) tensor, got ${got}.`, { option: what });
  }
  return out as tf.Scalar;
}

/** Loss and gradients of `lossFn` at `params` (gradients have the structure of `params`). */
export function lossAndGrads(lossFn: LossFn, params: TensorTree, info: EvalInfo): { value: tf.Scalar; grads: TensorTree } {
  return coreLossAndGrads((p) => evalScalar('lossFn', lossFn, p, info), params);
}

/**
 * A scalar that is finite exactly when every leaf of `tree` is finite (the sum of all
 * elements; a sum that overflows float32 also counts as non-finite, which only happens for
 * parameters that have already diverged). One reduction per leaf.
 */
export function finiteProbe(tree: TensorTree): tf.Scalar {
  return tf.tidy(() => {
    const sums = treeLeaves(tree).map((x) => tf.sum(x.dtype === 'float32' ? x : tf.cast(x, 'float32')));
    if (sums.length === 0) return tf.scalar(0);
    return (sums.length === 1 ? sums[0] : tf.addN(sums)) as tf.Scalar;
  });
}

/** `x` as a float32 scalar, without a kernel when it already is one. */
export function asFloatScalar(x: tf.Tensor): tf.Scalar {
  const s = x.rank === 0 ? x : tf.reshape(x, []);
  return (s.dtype === 'float32' ? s : tf.cast(s, 'float32')) as tf.Scalar;
}

/** Reads several scalars with one device read. */
export function readScalars(values: readonly tf.Scalar[]): number[] {
  if (values.length === 0) return [];
  return Array.from(tf.tidy(() => tf.stack(values.map((v) => asFloatScalar(v))).dataSync()));
}

/** The inner optimizer state a guard passes to one of its branches. */
export function innerState<S>(params: TensorTree, state: S, iteration: number): OptState<S> {
  return { params, state, iteration };
}

/** The update context a branch sees: the same loss, with its own key (folded with the branch index). */
export function branchContext(ctx: UpdateContext | undefined, branch: 0 | 1): UpdateContext | undefined {
  if (ctx === undefined || ctx.key === undefined) return ctx;
  return { ...ctx, key: foldIn(ctx.key, branch) };
}

/** Init options for a branch: its own key (folded with the branch index). */
export function branchInitOptions(opts: OptimizerInitOptions | undefined, branch: 0 | 1): OptimizerInitOptions | undefined {
  if (opts === undefined || opts.key === undefined) return opts;
  return { ...opts, key: foldIn(opts.key, branch) };
}

/**
 * Disposes the tensors of `unused` values (rejected candidates, probes) that the kept values
 * do not hold. Keeps memory flat when `update` runs outside `tf.tidy`, and lowers the peak
 * inside it.
 */
export function disposeUnused(unused: readonly unknown[], kept: readonly unknown[]): void {
  const keep = new Set(collectTensors(kept as unknown[]).map((t) => t.id));
  for (const t of collectTensors(unused as unknown[])) {
    if (!keep.has(t.id) && !t.isDisposed) {
      keep.add(t.id);
      t.dispose();
    }
  }
}

/** True when `x` is a finite number. */
export const isFiniteNumber = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);
