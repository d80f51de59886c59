import * as tf from '@tensorflow/tfjs-core';
import { describe, it } from 'vitest';
import { failFor } from './assertions.js';
import {
  advance,
  collectTensors,
  deserializeTree,
  disposeTree,
  foldIn,
  isLoptError,
  isTensor,
  key as makeKey,
  normal,
  serializeTree,
  treeLeaves,
  treePaths,
  treeStructure,
  type Key,
  type OptState,
  type Optimizer,
  type TensorTree,
  type UpdateContext,
} from '@lopt/core';

/**
 * Options of the optimizer conformance checks.
 *
 * The suite's state convention: `OptState.state` must be a tensor tree (objects and arrays
 * of tensors; counters as int32 scalar tensors), so a state checkpoints as
 * `serializeTree({ params, state }, { extra: { iteration } })`. Optimizers that keep plain
 * numbers in their state do not conform.
 */
export interface OptimizerConformanceOptions {
  /** Builds the parameters to train. Default: a 3x4 matrix, a 4-vector and a scalar in a nested tree. */
  readonly params?: (k: Key) => TensorTree;
  /** Seed of every key the checks use. Default 0. */
  readonly seed?: number;
  /** Steps before the checkpoint in the resume check (and after it). Default 10. */
  readonly resumeSteps?: number;
  /** Steps of the leak check. Default 100. */
  readonly leakSteps?: number;
  /** Steps of the shape/dtype/finiteness check. Default 5. */
  readonly steps?: number;
  /** Whether the optimizer needs `ctx.loss` (it is always given; this only documents it). */
  readonly needsLoss?: boolean;
}

const fail = (opt: Optimizer<unknown>, message: string): never => failFor('optimizer', opt, message);

function defaultParams(k: Key): TensorTree {
  const [a, b, c] = [foldIn(k, 1), foldIn(k, 2), foldIn(k, 3)];
  return { layer: { w: normal(a, [3, 4]), b: normal(b, [4], { std: 0.1 }) }, scale: [normal(c, [])] };
}

/**
 * Deterministic gradients and loss for step `i`: the gradient of `sum((p - 0.5)^2)` plus
 * noise from `foldIn(k, i)`; the loss is that sum. The caller owns the returned tensors.
 */
export function conformanceGradients(params: TensorTree, k: Key, i: number): { grads: TensorTree; loss: tf.Scalar } {
  const leaves = treeLeaves(params);
  const paths = treePaths(params);
  const noise = foldIn(k, 1000 + i);
  return tf.tidy(() => {
    let loss: tf.Tensor = tf.scalar(0);
    const map = new Map<string, tf.Tensor>();
    leaves.forEach((p, j) => {
      const d = tf.sub(p, 0.5);
      loss = tf.add(loss, tf.sum(tf.square(d)));
      map.set(paths[j] as string, tf.add(tf.mul(2, d), normal(foldIn(noise, j), p.shape, { std: 0.1 })));
    });
    const grads = rebuild(params, (path) => map.get(path) as tf.Tensor);
    return { grads, loss: loss as tf.Scalar } as unknown as tf.TensorContainer;
  }) as unknown as { grads: TensorTree; loss: tf.Scalar };
}

function rebuild(tree: TensorTree, leaf: (path: string) => tf.Tensor, path: string[] = []): TensorTree {
  if (isTensor(tree)) return leaf(path.length ? path.join('.') : '<root>');
  if (Array.isArray(tree)) return tree.map((c, i) => rebuild(c, leaf, [...path, String(i)]));
  const out: { [k: string]: TensorTree } = {};
  for (const k of Object.keys(tree).sort()) out[k] = rebuild(tree[k] as TensorTree, leaf, [...path, k]);
  return out;
}

function host(tree: unknown): Float32Array[] {
  return collectTensors(tree).map((t) => Float32Array.from(t.dataSync() as ArrayLike<number>));
}

function describeLeaves(tree: TensorTree): string[] {
  const paths = treePaths(tree);
  return treeLeaves(tree).map((t, i) => `${paths[i]}:${t.dtype}[${t.shape.join(',')}]`);
}

function stepOnce(opt: Optimizer<unknown>, state: OptState<unknown>, k: Key, i: number): OptState<unknown> {
  const { grads, loss } = conformanceGradients(state.params, k, i);
  const ctx: UpdateContext = { loss, key: foldIn(k, 5000 + i) };
  const next = advance(opt, state, grads, ctx);
  disposeTree(grads);
  loss.dispose();
  return next;
}

function run(opt: Optimizer<unknown>, params: TensorTree, k: Key, steps: number, from?: OptState<unknown>): OptState<unknown> {
  let state = from ?? opt.init(params, { numSteps: 100, key: foldIn(k, 77) });
  const start = state.iteration;
  for (let i = 0; i < steps; i++) state = stepOnce(opt, state, k, start + i);
  return state;
}

function disposeState(state: OptState<unknown>): void {
  tf.dispose(collectTensors([state.params, state.state]));
}

/** Checks that `init` keeps the parameters (no copy), starts at iteration 0, and returns a finite tensor-tree state. */
export function checkOptimizerInit(opt: Optimizer<unknown>, options: OptimizerConformanceOptions = {}): void {
  const k = makeKey(options.seed ?? 0);
  const params = (options.params ?? defaultParams)(k);
  const state = opt.init(params, { numSteps: 100, key: foldIn(k, 77) });
  if (state.params !== params) fail(opt, 'init must hold the given params tree itself');
  if (state.iteration !== 0) fail(opt, `init iteration is ${state.iteration}, expected 0`);
  try {
    treeStructure(state.state as TensorTree);
  } catch (e) {
    fail(opt, `state is not a tensor tree (${(e as Error).message})`);
  }
  for (const [i, v] of host(state.state).entries()) if (!v.every(Number.isFinite)) fail(opt, `state leaf ${i} is not finite after init`);
  disposeState(state);
}

/**
 * Checks over a few steps that parameters keep their shapes and dtypes, the state keeps
 * its structure, shapes and dtypes, the iteration counts up, and everything stays finite.
 */
export function checkOptimizerShapes(opt: Optimizer<unknown>, options: OptimizerConformanceOptions = {}): void {
  const k = makeKey(options.seed ?? 0);
  const params = (options.params ?? defaultParams)(k);
  const paramSig = describeLeaves(params).join(' ');
  let state = opt.init(params, { numSteps: 100, key: foldIn(k, 77) });
  const stateSig = describeLeaves(state.state as TensorTree).join(' ');
  const steps = options.steps ?? 5;
  for (let i = 0; i < steps; i++) {
    state = stepOnce(opt, state, k, i);
    if (state.iteration !== i + 1) fail(opt, `iteration is ${state.iteration} after ${i + 1} updates`);
    const ps = describeLeaves(state.params).join(' ');
    if (ps !== paramSig) fail(opt, `params changed shape/dtype at step ${i + 1}: ${ps} vs ${paramSig}`);
    const ss = describeLeaves(state.state as TensorTree).join(' ');
    if (ss !== stateSig) fail(opt, `state changed structure/shape/dtype at step ${i + 1}: ${ss} vs ${stateSig}`);
    for (const [j, v] of host(state.params).entries()) if (!v.every(Number.isFinite)) fail(opt, `param leaf ${j} not finite at step ${i + 1}`);
    for (const [j, v] of host(state.state).entries()) if (!v.every(Number.isFinite)) fail(opt, `state leaf ${j} not finite at step ${i + 1}`);
  }
  disposeState(state);
}

/** Checks that `update` neither mutates nor disposes its inputs (state, params, grads, context). */
export function checkOptimizerPurity(opt: Optimizer<unknown>, options: OptimizerConformanceOptions = {}): void {
  const k = makeKey(options.seed ?? 0);
  const state = run(opt, (options.params ?? defaultParams)(k), k, 2);
  const { grads, loss } = conformanceGradients(state.params, k, 2);
  const inputs = [state.params, state.state, grads, loss];
  const before = host(inputs);
  const first = tf.tidy(() => host(opt.update(state, grads, { loss })));
  const after = host(inputs);
  for (const t of collectTensors(inputs)) if (t.isDisposed) fail(opt, 'update disposed one of its inputs');
  if (before.length !== after.length || before.some((b, i) => !sameBits(b, after[i] as Float32Array))) fail(opt, 'update mutated one of its inputs');
  const second = tf.tidy(() => host(opt.update(state, grads, { loss })));
  if (first.length !== second.length || first.some((b, i) => !sameBits(b, second[i] as Float32Array))) {
    fail(opt, 'two updates from the same inputs differ (update is not a pure function)');
  }
  disposeTree(grads);
  loss.dispose();
  disposeState(state);
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/**
 * Checks that stepping with `advance` keeps `tf.memory().numTensors` flat. The count may
 * legitimately oscillate with a period (lookahead shares the fast and slow weights right
 * after a sync; gradient accumulation changes state at every k-th step), so the highest
 * count over a window of 12 steps at the end must not exceed the highest over the first
 * such window (after 3 warm-up steps); a leak of one tensor per step grows it by ~`leakSteps`.
 */
export function checkOptimizerNoLeak(opt: Optimizer<unknown>, options: OptimizerConformanceOptions = {}): void {
  const k = makeKey(options.seed ?? 0);
  const n = Math.max(options.leakSteps ?? 100, 30);
  const window = 12;
  let state = opt.init((options.params ?? defaultParams)(k), { numSteps: 100, key: foldIn(k, 77) });
  const counts: number[] = [];
  for (let i = 0; i < 3 + n; i++) {
    state = stepOnce(opt, state, k, i);
    if (i >= 3) counts.push(tf.memory().numTensors);
  }
  disposeState(state);
  const first = Math.max(...counts.slice(0, window));
  const last = Math.max(...counts.slice(-window));
  if (last > first) fail(opt, `tf.memory().numTensors grew by ${last - first} over ${n} steps`);
}

/**
 * Checks that a checkpoint resumes bit-exactly: N steps, `serializeTree({params, state})`
 * with the iteration in the metadata, `deserializeTree`, N more steps must equal 2N
 * uninterrupted steps, bit for bit.
 */
export function checkOptimizerResume(opt: Optimizer<unknown>, options: OptimizerConformanceOptions = {}): void {
  const k = makeKey(options.seed ?? 0);
  const n = options.resumeSteps ?? 10;
  const make = options.params ?? defaultParams;
  const straight = run(opt, make(k), k, 2 * n);
  const half = run(opt, make(k), k, n);
  const bytes = serializeTree({ params: half.params, state: half.state as TensorTree }, {
    kind: 'optimizer-state',
    name: opt.name,
    extra: { iteration: half.iteration },
  });
  disposeState(half);
  const loaded = deserializeTree(bytes, { kind: 'optimizer-state', name: opt.name });
  const tree = loaded.tree as { params: TensorTree; state: TensorTree };
  const restored: OptState<unknown> = { params: tree.params, state: tree.state, iteration: loaded.metadata.extra.iteration as number };
  const resumed = run(opt, restored.params, k, n, restored);
  if (resumed.iteration !== straight.iteration) fail(opt, `resumed iteration ${resumed.iteration} vs ${straight.iteration}`);
  const a = host([straight.params, straight.state]);
  const b = host([resumed.params, resumed.state]);
  if (a.length !== b.length) fail(opt, 'resumed state has a different number of tensors');
  a.forEach((x, i) => {
    if (!sameBits(x, b[i] as Float32Array)) fail(opt, `resumed run differs from the uninterrupted one in tensor ${i}`);
  });
  disposeState(straight);
  disposeState(resumed);
}

/** Checks that a gradient tree of another structure throws a `LoptError` naming the path. */
export function checkOptimizerRejectsMismatch(opt: Optimizer<unknown>, options: OptimizerConformanceOptions = {}): void {
  const k = makeKey(options.seed ?? 0);
  const state = opt.init((options.params ?? defaultParams)(k), { numSteps: 100, key: foldIn(k, 77) });
  const bad = { notAParam: tf.zeros([2]) };
  let err: unknown;
  try {
    tf.tidy(() => {
      opt.update(state, bad);
    });
  } catch (e) {
    err = e;
  }
  bad.notAParam.dispose();
  disposeState(state);
  if (!isLoptError(err)) fail(opt, `a mismatched gradient tree must throw LoptError, got ${String(err)}`);
  if (!/notAParam|layer|scale/.test((err as Error).message)) fail(opt, `the error should name the differing path: ${(err as Error).message}`);
}

/**
 * Registers the optimizer conformance suite as vitest tests: init, shapes/dtypes/finite
 * values over steps, purity, no tensor leaks, bit-exact checkpoint resume and rejection of
 * a mismatched gradient tree. `makeOptimizer` is called once per check.
 *
 * @example
 * ```ts
 * describeOptimizerConformance('adam', () => adam({ learningRate: 1e-2 }));
 * ```
 */
export function describeOptimizerConformance(
  name: string,
  makeOptimizer: () => Optimizer<unknown>,
  options: OptimizerConformanceOptions = {},
): void {
  describe(`optimizer conformance: ${name}`, () => {
    it('init holds the params and a finite tensor-tree state', () => checkOptimizerInit(makeOptimizer(), options));
    it('updates keep shapes, dtypes, structure and finiteness', () => checkOptimizerShapes(makeOptimizer(), options));
    it('update is pure: inputs neither mutated nor disposed', () => checkOptimizerPurity(makeOptimizer(), options));
    it('advance leaks no tensors', () => checkOptimizerNoLeak(makeOptimizer(), options));
    it('checkpoint resume is bit-exact', () => checkOptimizerResume(makeOptimizer(), options));
    it('a mismatched gradient tree throws LoptError', () => checkOptimizerRejectsMismatch(makeOptimizer(), options));
  });
}
