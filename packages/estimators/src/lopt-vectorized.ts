import * as tf from '@tensorflow/tfjs-core';
import {
  advanceVectorized,
  disposeTree,
  stackTrees,
  treeFlatten,
  treeUnflatten,
  unstackTree,
  type Key,
  type OptState,
  type TensorTree,
  type VectorizedOptimizer,
  type VectorizedOptState,
  type VectorizedTask,
} from '@lopt/core';
import {
  clock,
  disposeBatch,
  finishStep,
  optimizerCache,
  resetTask,
  sampleBatch,
  stepKeys,
  trainKeys,
  trainTask,
  type LOptTaskState,
  type Split,
  type StepContext,
} from './lopt-step-parts.js';
import { cloneState, disposeExcept } from './state.js';
import { unbatchTheta } from './truncated-step.js';

// The vectorized unroll of lOptTruncatedStep: K copies (tasks x antithetic items) advanced as
// one batched computation (core's VectorizedTask + VectorizedOptimizer). A step where some
// copies reset runs the batched step for all, then replaces the resetting copies by fresh
// per-copy states; when the new configurations cannot be batched, the remaining steps run
// copy by copy with the same parts as the per-task loop, so results never depend on the path.

/** What {@link vectorizedUnroll} returns: per-copy states and `[step][copy]` host rows. */
export interface VectorizedUnrollResult {
  readonly tasks: LOptTaskState[];
  /** Raw (not normalized) meta-losses `[numSteps * K]`, 0 at reset steps. */
  readonly raw: Float32Array;
  readonly normalizers: (((l: number) => number) | undefined)[][];
  readonly mask: boolean[][];
  readonly isDone: boolean[][];
  readonly iteration: number[][];
}

/** Stacks per-copy optimizer states (consuming them) into one {@link VectorizedOptState}. */
function stackStates(tasks: readonly LOptTaskState[]): VectorizedOptState<TensorTree> {
  const states = tasks.map((t) => t.optState);
  const out = {
    params: stackTrees(states.map((s) => s.params)),
    state: stackTrees(states.map((s) => s.state as TensorTree)),
    iterations: states.map((s) => s.iteration),
  };
  disposeExcept(states, out);
  return out;
}

/** Splits (and consumes) a stacked state into K per-copy optimizer states. */
function unstackStates(stacked: VectorizedOptState<TensorTree>, k: number): OptState<unknown>[] {
  const params = unstackTree(stacked.params, k);
  const states = unstackTree(stacked.state, k);
  disposeTree([stacked.params, stacked.state]);
  return params.map((p, c) => ({ params: p, state: states[c] as TensorTree, iteration: stacked.iterations[c] as number }));
}

/** Each copy's batch of `splitName` stacked (a copy shares the batch of an earlier copy with the same task and key). */
function stackedBatch(ctx: StepContext, tasks: readonly LOptTaskState[], splitName: Split, keys: readonly Key[], taskIndex: readonly number[]): unknown {
  const unique = new Map<string, unknown>();
  const perCopy = tasks.map((t, c) => {
    const id = `${taskIndex[c]}|${JSON.stringify(t.cfg)}`;
    if (!unique.has(id)) unique.set(id, sampleBatch(ctx.taskOf(t.cfg), splitName, keys[c] as Key));
    return unique.get(id);
  });
  if (perCopy[0] === undefined) return undefined;
  const out = stackTrees(perCopy as TensorTree[]);
  for (const b of unique.values()) disposeBatch(b);
  return out;
}

/** One batched training step of every copy: per-copy losses, gradients, update and meta-losses `[K]`. */
function batchedTrain(
  ctx: StepContext,
  vt: VectorizedTask,
  vopt: VectorizedOptimizer<TensorTree>,
  stacked: VectorizedOptState<TensorTree>,
  tasks: readonly LOptTaskState[],
  kSteps: readonly Key[],
  taskIndex: readonly number[],
): { state: VectorizedOptState<TensorTree>; losses: tf.Tensor1D } {
  const t0 = ctx.timings ? clock() : 0;
  const keys = kSteps.map(trainKeys);
  const lossKeys = keys.map((k) => k.kLoss);
  const batch = stackedBatch(ctx, tasks, 'train', keys.map((k) => k.kData), taskIndex);
  const { leaves, structure } = treeFlatten(stacked.params);
  let perCopy: tf.Tensor1D | undefined;
  const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => {
    const l = vt.loss(treeUnflatten(structure, ls), batch as TensorTree, lossKeys);
    perCopy = tf.keep(l);
    return tf.sum(l);
  })(leaves);
  value.dispose();
  const gradTree = treeUnflatten(structure, grads);
  const t1 = ctx.timings ? clock() : 0;
  const next = advanceVectorized(vopt, stacked, gradTree, { losses: perCopy as tf.Tensor1D, keys: keys.map((k) => k.kOpt) });
  disposeTree(gradTree);
  const t2 = ctx.timings ? clock() : 0;
  let losses = perCopy as tf.Tensor1D;
  if (ctx.metaLoss !== 'preUpdate') {
    const metaBatch = ctx.metaLoss === 'sameData' ? batch : stackedBatch(ctx, tasks, ctx.metaLoss, keys.map((k) => k.kMeta), taskIndex);
    losses = tf.tidy(() => vt.loss(next.params, metaBatch as TensorTree, lossKeys));
    (perCopy as tf.Tensor1D).dispose();
    if (metaBatch !== batch) disposeBatch(metaBatch);
  }
  disposeBatch(batch);
  if (ctx.timings) {
    ctx.timings.taskGradient += t1 - t0;
    ctx.timings.optimizerUpdate += t2 - t1;
    if (ctx.metaLoss !== 'preUpdate') ctx.timings.metaLoss += clock() - t2;
  }
  return { state: next, losses };
}

/** Per-copy step (the per-task loop's parts) for every copy; returns the step's raw losses `[K]`. */
function perCopyStep(
  ctx: StepContext,
  tasks: LOptTaskState[],
  kSteps: readonly Key[],
  optFor: (c: number, len: number | null) => ReturnType<ReturnType<typeof optimizerCache>>,
  lengthOf: (t: LOptTaskState) => number | null,
  normRow: (((l: number) => number) | undefined)[],
): tf.Tensor1D {
  const values = tasks.map((cur, c) => {
    if (cur.isDone) {
      tasks[c] = resetTask(ctx, cur, kSteps[c] as Key, optFor(c, lengthOf(cur)), lengthOf(cur), false);
      return null;
    }
    const r = trainTask(ctx, cur, kSteps[c] as Key, optFor(c, lengthOf(cur)), false, false);
    normRow[c] = r.task.normalizer?.bind(r.task);
    tasks[c] = r.updated;
    return r.metaValue;
  });
  const row = tf.tidy(() => tf.stack(values.map((v) => v ?? tf.scalar(0)))) as tf.Tensor1D;
  for (const v of values) v?.dispose();
  return row;
}

/**
 * Unrolls K copies (`tasksIn[c]` at `thetas[c]`, keys of task `taskIndex[c]`) `numSteps`
 * steps as batched computations, or returns undefined when the family or the learned
 * optimizer cannot batch the copies' current configurations (the caller then runs its
 * per-task loop). Does not consume `tasksIn` or `thetas`.
 */
export function vectorizedUnroll(
  ctx: StepContext,
  thetas: TensorTree,
  tasksIn: readonly LOptTaskState[],
  taskIndex: readonly number[],
  key: Key,
  numSteps: number,
  episodeLength: number | null,
): VectorizedUnrollResult | undefined {
  const k = tasksIn.length;
  const lengthOf = (t: LOptTaskState): number | null => episodeLength ?? t.truncation.length;
  const vtFor = (ts: readonly LOptTaskState[]): VectorizedTask | undefined => ctx.taskFamily.vectorized?.(ts.map((t) => t.cfg));
  const voptFor = (ts: readonly LOptTaskState[]) =>
    ctx.learnedOptimizer.vectorized?.(thetas, { numSteps: ts.map(lengthOf) }) as VectorizedOptimizer<TensorTree> | undefined;
  let vt = vtFor(tasksIn);
  let vopt = vt === undefined ? undefined : voptFor(tasksIn);
  if (vt === undefined || vopt === undefined) return undefined;
  let voptLengths = JSON.stringify(tasksIn.map(lengthOf));
  let thetaList: TensorTree[] | undefined;
  const optFor = optimizerCache(ctx.learnedOptimizer, (c) => (thetaList ??= unbatchTheta(thetas, k))[c] as TensorTree);
  let tasks: LOptTaskState[] = cloneState([...tasksIn]);
  let stacked: VectorizedOptState<TensorTree> | null = null;
  const rows: tf.Tensor1D[] = [];
  const res = { normalizers: [] as (((l: number) => number) | undefined)[][], mask: [] as boolean[][], isDone: [] as boolean[][], iteration: [] as number[][] };
  for (let t = 0; t < numSteps; t++) {
    const keys = taskIndex.map((i) => stepKeys(key, t, i));
    const kSteps = keys.map((x) => x.kStep);
    const resetting = tasks.map((x) => x.isDone);
    const normRow: (((l: number) => number) | undefined)[] = new Array(k).fill(undefined);
    if (stacked === null && vt !== undefined) {
      vt = vtFor(tasks);
      const lengths = JSON.stringify(tasks.map(lengthOf));
      if (vt !== undefined && lengths !== voptLengths) [vopt, voptLengths] = [voptFor(tasks), lengths];
      if (vt !== undefined && vopt !== undefined) stacked = stackStates(tasks);
      else vt = undefined;
    }
    if (stacked !== null && vt !== undefined && vopt !== undefined) {
      tasks.forEach((x, c) => (normRow[c] = resetting[c] ? undefined : ctx.taskOf(x.cfg).normalizer?.bind(ctx.taskOf(x.cfg))));
      const r = batchedTrain(ctx, vt, vopt, stacked, tasks, kSteps, taskIndex);
      stacked = r.state;
      rows.push(r.losses);
      const trained = resetting.filter((x) => !x).length;
      if (ctx.timings) [ctx.timings.trainSteps, ctx.timings.batchedTrainSteps] = [ctx.timings.trainSteps + trained, ctx.timings.batchedTrainSteps + trained];
      if (resetting.some((x) => x)) {
        const per = unstackStates(stacked, k);
        stacked = null;
        tasks = tasks.map((x, c) => (resetting[c] ? resetTask(ctx, { ...x, optState: per[c] as OptState<unknown> }, kSteps[c] as Key, optFor(c, lengthOf(x)), lengthOf(x), false) : x));
        tasks = tasks.map((x, c) => (resetting[c] ? x : { ...x, optState: per[c] as OptState<unknown> }));
      }
      tasks = tasks.map((x, c) => (resetting[c] ? x : { ...x, innerStep: x.innerStep + 1 }));
    } else {
      rows.push(perCopyStep(ctx, tasks, kSteps, optFor, lengthOf, normRow));
    }
    tasks = tasks.map((x, c) => finishStep(ctx, x, (keys[c] as { kTrunc: Key }).kTrunc, episodeLength));
    res.normalizers.push(normRow);
    res.mask.push(resetting.map((x) => !x));
    res.isDone.push(tasks.map((x) => x.isDone));
    res.iteration.push(tasks.map((x) => x.innerStep));
  }
  if (stacked !== null) {
    const per = unstackStates(stacked, k);
    tasks = tasks.map((x, c) => ({ ...x, optState: per[c] as OptState<unknown> }));
  }
  const all = tf.tidy(() => tf.stack(rows));
  const raw = all.dataSync() as Float32Array;
  disposeTree([all, ...rows]);
  if (thetaList !== undefined) disposeExcept(thetaList, tasks, thetas);
  return { tasks, raw, ...res };
}
