import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  advance,
  disposeTree,
  foldIn,
  split,
  treeFlatten,
  treeUnflatten,
  type Key,
  type LearnedOptimizer,
  type Optimizer,
  type OptState,
  type Task,
  type TaskFamily,
  type TensorTree,
} from '@lopt/core';
import { disposeExcept } from './state.js';
import type { TruncationSchedule, TruncationState } from './truncation.js';

// The named parts of one inner step of lOptTruncatedStep, shared by its per-task loop and its
// vectorized (batched) unroll: keys, a reset, a training step, the episode bookkeeping and
// the conversion of the raw losses into the unroll's output.

/** Which loss of a training step is the meta-loss (see `MetaLossKind` in lopt-truncated-step). */
export type MetaLoss = 'preUpdate' | 'sameData' | 'train' | 'innerValid' | 'outerValid' | 'test';
/** A data split. */
export type Split = 'train' | 'innerValid' | 'outerValid' | 'test';

/** Milliseconds an lOptTruncatedStep spent, accumulated over calls (mutable). */
export interface UnrollTimings {
  /** Task loss and gradient at the current parameters (batch sampling included). */
  taskGradient: number;
  /** `optimizer.update` (through `advance`). */
  optimizerUpdate: number;
  /** Extra meta-loss evaluations (`metaLoss` other than `preUpdate`). */
  metaLoss: number;
  /** Resets (new task, parameters, optimizer state). */
  reset: number;
  /** Whole `unroll` calls. */
  unroll: number;
  /** Training steps taken (over all tasks). */
  trainSteps: number;
  /** Of `trainSteps`, those taken inside batched (vectorized) computations. */
  batchedTrainSteps: number;
}

/** One inner training inside an lOptTruncatedStep state. */
export interface LOptTaskState {
  /** The task configuration (JSON, from `taskFamily.sample`). */
  readonly cfg: unknown;
  /** The inner optimizer's state (parameters, optimizer state, iteration). */
  readonly optState: OptState<unknown>;
  /** Training steps taken in the current episode. */
  readonly innerStep: number;
  /** The truncation schedule's state (the current episode's length). */
  readonly truncation: TruncationState;
  /** True after the episode's last training step: the next step resets. */
  readonly isDone: boolean;
}

/** What the step's parts share: the validated options and the task cache. */
export interface StepContext {
  readonly taskFamily: TaskFamily;
  readonly learnedOptimizer: LearnedOptimizer;
  readonly truncation: TruncationSchedule;
  readonly metaLoss: MetaLoss;
  readonly timings: UnrollTimings | undefined;
  /** The (cached) task of a configuration. */
  taskOf(cfg: unknown): Task;
}

/** Wall clock in milliseconds. */
export const clock = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** A batch of `task`'s split for `key` (undefined for data-free tasks); throws naming `metaLoss` when the split is missing. */
export function sampleBatch(task: Task, splitName: Split, key: Key): unknown {
  const ds = task.datasets;
  if (ds === undefined) return undefined;
  const d = ds[splitName];
  if (d === undefined) {
    throw new LoptError('INVALID_OPTION', `Task '${task.name}' has no '${splitName}' dataset, which option 'metaLoss' (or 'outerDataSplit') asks for.`, { option: 'metaLoss' });
  }
  return d.sample(key);
}

/** Disposes a batch (no-op for undefined). */
export function disposeBatch(batch: unknown): void {
  if (batch !== undefined) disposeExcept(batch);
}

/** The keys of task `i` at step `t`: `kStep` (reset or training) and `kTrunc` (truncation schedule). */
export function stepKeys(key: Key, t: number, i: number): { kStep: Key; kTrunc: Key } {
  const [kStep, kTrunc] = split(foldIn(foldIn(key, t), i), 2) as [Key, Key];
  return { kStep, kTrunc };
}

/** The keys of a training step from its `kStep`: data, loss, optimizer and meta-loss. */
export function trainKeys(kStep: Key): { kData: Key; kLoss: Key; kOpt: Key; kMeta: Key } {
  const [kData, kLoss, kOpt, kMeta] = split(kStep, 4) as [Key, Key, Key, Key];
  return { kData, kLoss, kOpt, kMeta };
}

/** Optimizers built from each copy's theta, cached per episode length (for one unroll call). */
export function optimizerCache(lopt: LearnedOptimizer, thetaOf: (i: number) => TensorTree): (i: number, numSteps: number | null) => Optimizer<unknown> {
  const built = new Map<string, Optimizer<unknown>>();
  return (i, numSteps) => {
    const id = `${i}:${numSteps}`;
    let opt = built.get(id);
    if (opt === undefined) {
      opt = lopt.optimizer(thetaOf(i), numSteps === null ? {} : { numSteps }) as Optimizer<unknown>;
      built.set(id, opt);
    }
    return opt;
  };
}

/**
 * Resets one task (a new configuration, parameters and optimizer state from `kStep`); the
 * optimizer is told `len` steps. Disposes the old optimizer state unless `keepOld`.
 */
export function resetTask(ctx: StepContext, cur: LOptTaskState, kStep: Key, opt: Optimizer<unknown>, len: number | null, keepOld: boolean): LOptTaskState {
  const t0 = ctx.timings ? clock() : 0;
  const [kCfg, kInit, kOpt] = split(kStep, 3) as [Key, Key, Key];
  const cfg = ctx.taskFamily.sample(kCfg);
  const params = ctx.taskOf(cfg).init(kInit);
  const optState = opt.init(params, len === null ? { key: kOpt } : { numSteps: len, key: kOpt });
  if (!keepOld) disposeExcept(cur.optState, optState);
  if (ctx.timings) ctx.timings.reset += clock() - t0;
  return { cfg, optState, innerStep: 0, truncation: cur.truncation, isDone: false };
}

/** Value and gradients of a task's loss with respect to its parameter tree. */
export function lossAndGrads(task: Task, params: TensorTree, batch: unknown, key: Key): { loss: tf.Scalar; grads: TensorTree } {
  const { leaves, structure } = treeFlatten(params);
  const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch as TensorTree, key))(leaves);
  return { loss: value as tf.Scalar, grads: treeUnflatten(structure, grads) };
}

const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

/**
 * One training step of one task: loss and gradient on a `train` batch, the optimizer update,
 * the meta-loss. With `diff` (TBPTT) every tensor stays alive for the enclosing gradient
 * scope and `stopInner` makes the inner gradients constants; otherwise the old optimizer
 * state is consumed (through `advance`) and temporaries are disposed.
 */
export function trainTask(
  ctx: StepContext,
  cur: LOptTaskState,
  kStep: Key,
  opt: Optimizer<unknown>,
  diff: boolean,
  stopInner: boolean,
): { updated: LOptTaskState; metaValue: tf.Scalar; task: Task } {
  const timings = ctx.timings;
  const t0 = timings ? clock() : 0;
  const { kData, kLoss, kOpt, kMeta } = trainKeys(kStep);
  const task = ctx.taskOf(cur.cfg);
  const batch = sampleBatch(task, 'train', kData);
  let { loss, grads } = lossAndGrads(task, cur.optState.params, batch, kLoss);
  if (stopInner) grads = treeUnflatten(treeFlatten(grads).structure, treeFlatten(grads).leaves.map((x) => stopGradient(x)));
  const t1 = timings ? clock() : 0;
  let optState: OptState<unknown>;
  if (diff) {
    optState = opt.update(cur.optState, grads, { loss, key: kOpt });
  } else {
    optState = advance(opt, cur.optState, grads, { loss, key: kOpt });
    disposeTree(grads);
  }
  const t2 = timings ? clock() : 0;
  let metaValue: tf.Scalar = loss;
  if (ctx.metaLoss !== 'preUpdate') {
    const metaBatch = ctx.metaLoss === 'sameData' ? batch : sampleBatch(task, ctx.metaLoss, kMeta);
    metaValue = diff ? task.loss(optState.params, metaBatch as TensorTree, kLoss) : tf.tidy(() => task.loss(optState.params, metaBatch as TensorTree, kLoss));
    if (!diff) {
      loss.dispose();
      if (metaBatch !== batch) disposeBatch(metaBatch);
    }
  }
  if (!diff) disposeBatch(batch);
  if (timings) {
    timings.taskGradient += t1 - t0;
    timings.optimizerUpdate += t2 - t1;
    timings.trainSteps++;
    if (ctx.metaLoss !== 'preUpdate') timings.metaLoss += clock() - t2;
  }
  return { updated: { cfg: cur.cfg, optState, innerStep: cur.innerStep + 1, truncation: cur.truncation, isDone: false }, metaValue, task };
}

/** The episode bookkeeping after a step: the truncation schedule's next state and whether the episode is done. */
export function finishStep(ctx: StepContext, updated: LOptTaskState, kTrunc: Key, episodeLength: number | null): LOptTaskState {
  if (episodeLength !== null) return { ...updated, isDone: updated.innerStep >= episodeLength };
  const r = ctx.truncation.next(updated.truncation, updated.innerStep, kTrunc);
  return { ...updated, truncation: r.state, isDone: r.isDone };
}

/** A loss's normalized value and the slope/offset of its linearization (for differentiable unrolls). */
function normalize(l: number, norm: ((l: number) => number) | undefined): { v: number; slope: number; offset: number } {
  if (norm === undefined) return { v: l, slope: 1, offset: 0 };
  const v = norm(l);
  const h = 1e-3 * Math.max(1, Math.abs(l));
  const slope = (norm(l + h) - norm(l - h)) / (2 * h);
  return { v, slope, offset: v - slope * l };
}

/**
 * The unroll's `[numSteps, numTasks]` meta-losses from per-entry raw losses (row-major;
 * null for reset steps), normalized by each entry's task normalizer: one host read. With
 * `diff` the result stays connected to the raw losses (normalizers linearized); otherwise the
 * raw losses are disposed.
 */
export function collectLosses(
  raw: readonly (tf.Scalar | null)[],
  normalizers: readonly (((l: number) => number) | undefined)[],
  numSteps: number,
  numTasks: number,
  diff: boolean,
): tf.Tensor2D {
  const present = raw.filter((x): x is tf.Scalar => x !== null);
  let values: Float32Array = new Float32Array(0);
  if (present.length > 0) {
    const stacked = tf.tidy(() => tf.stack(present));
    values = stacked.dataSync() as Float32Array;
    stacked.dispose();
  }
  const host = new Float32Array(numSteps * numTasks);
  const lin: { slope: number; offset: number }[] = [];
  let j = 0;
  raw.forEach((x, idx) => {
    if (x === null) return;
    const n = normalize(values[j++] as number, normalizers[idx]);
    host[idx] = n.v;
    lin[idx] = n;
  });
  if (!diff) {
    for (const x of present) x.dispose();
    return tf.tensor2d(host, [numSteps, numTasks]);
  }
  const zero = tf.scalar(0);
  const entries = raw.map((x, idx) =>
    x === null ? zero : normalizers[idx] === undefined ? x : tf.add(tf.mul(x, (lin[idx] as { slope: number }).slope), (lin[idx] as { offset: number }).offset),
  );
  return tf.reshape(tf.stack(entries), [numSteps, numTasks]) as tf.Tensor2D;
}
