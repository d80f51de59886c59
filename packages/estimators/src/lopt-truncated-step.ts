import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, checkOneOf, foldIn, randintArray, split, treeFlatten, treeUnflatten, type Key, type LearnedOptimizer, type Task, type TaskFamily, type TensorTree } from '@lopt/core';
import {
  clock,
  collectLosses,
  disposeBatch,
  finishStep,
  optimizerCache,
  resetTask,
  sampleBatch,
  trainTask,
  stepKeys,
  type LOptTaskState,
  type StepContext,
  type UnrollTimings,
} from './lopt-step-parts.js';
import { vectorizedUnroll } from './lopt-vectorized.js';
import { cloneState, disposeExcept } from './state.js';
import { checkTruncationSchedule, type TruncationSchedule } from './truncation.js';
import {
  unbatchTheta,
  type BatchedTheta,
  type TruncatedStep,
  type TruncatedStepInitOptions,
  type TruncatedUnrollItem,
  type TruncatedUnrollOptions,
  type TruncatedUnrollOut,
} from './truncated-step.js';

export type { LOptTaskState, UnrollTimings } from './lopt-step-parts.js';

/**
 * Which loss of a training step is the meta-loss (learned_optimization's `meta_loss_split`):
 * - `preUpdate`: the training loss at the parameters before the update (no extra work);
 * - `sameData`: the loss after the update, on the same batch;
 * - `train` | `innerValid` | `outerValid` | `test`: the loss after the update on a fresh
 *   batch of that split (data-free tasks use their loss at the new parameters).
 */
export type MetaLossKind = 'preUpdate' | 'sameData' | 'train' | 'innerValid' | 'outerValid' | 'test';

const META_LOSS_KINDS: readonly MetaLossKind[] = ['preUpdate', 'sameData', 'train', 'innerValid', 'outerValid', 'test'];
type Split = 'train' | 'innerValid' | 'outerValid' | 'test';

/** Options of {@link lOptTruncatedStep}. */
export interface LOptTruncatedStepOptions {
  /** Where inner problems come from; a new configuration is sampled at every reset. */
  readonly taskFamily: TaskFamily;
  /** The learned optimizer whose meta-parameters are being trained. */
  readonly learnedOptimizer: LearnedOptimizer;
  /** Episode lengths (see {@link constantTruncation}, {@link logUniformTruncation}, {@link neverEnding}). */
  readonly truncation: TruncationSchedule;
  /** Number of independent inner trainings. */
  readonly numTasks: number;
  /** The meta-loss of each step; default `preUpdate`. See {@link MetaLossKind}. */
  readonly metaLoss?: MetaLossKind;
  /**
   * The first episodes start at a random inner step in `[0, offset)` so that the tasks do
   * not reset in lockstep (only the counter is offset; parameters start fresh). Default 0.
   */
  readonly randomInitialIterationOffset?: number;
  /** Split used by {@link TruncatedStep.evaluate} (`fullES` `lastRecompute`). Default `train`. */
  readonly outerDataSplit?: Split;
  /** How many built tasks to cache by configuration. Default 64. */
  readonly taskCacheSize?: number;
  /**
   * A profile to accumulate wall-clock milliseconds into (for benchmarks: on the WASM and
   * CPU backends ops run synchronously, so this is where the time goes). Default none.
   */
  readonly timings?: UnrollTimings;
  /**
   * Run the inner trainings as one batched computation when the task family and the
   * learned optimizer offer it (`TaskFamily.vectorized`, `LearnedOptimizer.vectorized`) and
   * the unroll is not differentiated; otherwise, or with `false`, one task at a time. Both
   * paths give the same results to float32 round-off. Default true.
   */
  readonly vectorize?: boolean;
}

/** A zeroed {@link UnrollTimings}. */
export function emptyUnrollTimings(): UnrollTimings {
  return { taskGradient: 0, optimizerUpdate: 0, metaLoss: 0, reset: 0, unroll: 0, trainSteps: 0, batchedTrainSteps: 0 };
}

/** The state of an {@link lOptTruncatedStep}: one entry per task, plus the fixed episode length if any. */
export interface LOptTruncatedState {
  /** Per-task inner trainings. */
  readonly tasks: readonly LOptTaskState[];
  /** The episode length fixed by `init({ episodeLength })`, or null. */
  readonly episodeLength: number | null;
}

/**
 * Inner training of a learned optimizer on tasks from a family, cut into truncations: the
 * {@link TruncatedStep} that the estimators unroll (learned_optimization's
 * `VectorizedLOptTruncatedStep`). It keeps `numTasks` independent inner trainings. Each
 * step of each task either
 * - **trains**: loss and gradient at the current parameters on a batch of the `train`
 *   split, `optimizer.update` with `ctx.loss` and `ctx.key`, inner step + 1; the episode is
 *   done when the truncation schedule says so (checked after the increment); or
 * - **resets** a task whose episode is done: a new configuration, parameters and optimizer
 *   state drawn from the key (the optimizer is told `numSteps` = the new episode's length);
 *   this step's mask is false and its loss 0.
 *
 * Every loss goes through the task's `normalizer`. The + and - copies of an antithetic pair
 * share keys and therefore tasks and batches. In differentiable mode (TBPTT) the normalizer,
 * a host function, is linearized: the reported value is exact and its gradient is
 * `normalizer'(loss) * dloss` with `normalizer'` a central difference.
 *
 * @example
 * ```ts
 * const step = lOptTruncatedStep({ taskFamily, learnedOptimizer, truncation: constantTruncation(100), numTasks: 8 });
 * const pes = truncatedPES({ truncatedStep: step, unrollLength: 10, std: 0.01 });
 * ```
 */
export function lOptTruncatedStep(options: LOptTruncatedStepOptions): TruncatedStep<LOptTruncatedState> {
  const o = parseStepOptions(options);
  const { numTasks } = o;
  const ctx: StepContext = {
    taskFamily: o.taskFamily,
    learnedOptimizer: o.learnedOptimizer,
    truncation: o.truncation,
    metaLoss: o.metaLoss,
    timings: o.timings,
    taskOf: taskCache(o.taskFamily, o.taskCacheSize),
  };

  function init(thetas: BatchedTheta, key: Key, initOptions: TruncatedStepInitOptions = {}): LOptTruncatedState {
    const episodeLength =
      initOptions.episodeLength === undefined ? null : checkNumber('episodeLength', initOptions.episodeLength, { integer: true, min: 1 });
    const [k1, k2] = split(key, 2) as [Key, Key];
    const thetaList = unbatchTheta(thetas, numTasks);
    const optFor = optimizerCache(o.learnedOptimizer, (i) => thetaList[i] as TensorTree);
    const taskKeys = split(k1, numTasks);
    const starts = o.offset > 0 ? randintArray(k2, numTasks, 0, o.offset) : new Int32Array(numTasks);
    const tasks: LOptTaskState[] = [];
    for (let i = 0; i < numTasks; i++) {
      const [kCfg, kInit, kTrunc, kOpt] = split(taskKeys[i] as Key, 4) as [Key, Key, Key, Key];
      const cfg = o.taskFamily.sample(kCfg);
      const params = ctx.taskOf(cfg).init(kInit);
      const trunc = o.truncation.init(kTrunc);
      const numSteps = episodeLength ?? trunc.length;
      const optState = optFor(i, numSteps).init(params, numSteps === null ? { key: kOpt } : { numSteps, key: kOpt });
      tasks.push({ cfg, optState, innerStep: starts[i] as number, truncation: trunc, isDone: false });
    }
    const state: LOptTruncatedState = { tasks, episodeLength };
    disposeExcept(thetaList, state, thetas);
    return state;
  }

  function unrollMany(
    items: readonly TruncatedUnrollItem<LOptTruncatedState>[],
    key: Key,
    numSteps: number,
    unrollOptions: TruncatedUnrollOptions = {},
  ): { state: LOptTruncatedState; out: TruncatedUnrollOut }[] {
    checkNumber('numSteps', numSteps, { integer: true, min: 1 });
    if (!Array.isArray(items) || items.length === 0) {
      throw new LoptError('INVALID_OPTION', "Option 'items' must be a non-empty array of { thetas, state }.", { option: 'items' });
    }
    items.forEach((it, j) => checkState(it?.state, numTasks, `items[${j}].state`));
    const tUnroll = o.timings ? clock() : 0;
    const batched = unrollOptions.differentiable !== true && o.vectorize ? vectorizedItems(ctx, items, key, numSteps, numTasks) : undefined;
    const out = batched ?? items.map((it) => perTaskUnroll(ctx, numTasks, it.thetas, it.state, key, numSteps, unrollOptions));
    if (o.timings) o.timings.unroll += clock() - tUnroll;
    return out;
  }

  function unroll(thetas: BatchedTheta, state: LOptTruncatedState, key: Key, numSteps: number, unrollOptions: TruncatedUnrollOptions = {}) {
    checkState(state, numTasks, 'state');
    return unrollMany([{ thetas, state }], key, numSteps, unrollOptions)[0] as { state: LOptTruncatedState; out: TruncatedUnrollOut };
  }

  function evaluate(thetas: BatchedTheta, state: LOptTruncatedState, key: Key, numSamples: number): tf.Tensor1D {
    checkNumber('numSamples', numSamples, { integer: true, min: 1 });
    void thetas;
    return evaluateTasks(ctx, numTasks, state, key, numSamples, o.outerSplit);
  }

  return { name: `lopt-truncated(${o.taskFamily.name}, ${o.learnedOptimizer.name})`, numTasks, init, unroll, unrollMany, evaluate };
}

/**
 * Each task's normalized loss at its current parameters, averaged over `numSamples` batches
 * of `dataSplit` (task `i`, sample `s` use key `foldIn(foldIn(key, i), s)`).
 */
function evaluateTasks(ctx: StepContext, numTasks: number, state: LOptTruncatedState, key: Key, numSamples: number, dataSplit: ReturnType<typeof parseStepOptions>['outerSplit']): tf.Tensor1D {
  const out = new Float32Array(numTasks);
  state.tasks.forEach((ts, i) => {
    const task = ctx.taskOf(ts.cfg);
    let sum = 0;
    for (let s = 0; s < numSamples; s++) {
      const [kData, kLoss] = split(foldIn(foldIn(key, i), s), 2) as [Key, Key];
      const batch = sampleBatch(task, dataSplit, kData);
      const l = tf.tidy(() => task.loss(ts.optState.params, batch as TensorTree, kLoss));
      const v = l.dataSync()[0] as number;
      l.dispose();
      disposeBatch(batch);
      sum += task.normalizer ? task.normalizer(v) : v;
    }
    out[i] = sum / numSamples;
  });
  return tf.tensor1d(out);
}

/** The per-task loop: every task, one at a time, through the step's parts (any mode). */
function perTaskUnroll(
ctx: StepContext,
numTasks: number,
thetas: BatchedTheta,
state: LOptTruncatedState,
key: Key,
numSteps: number,
unrollOptions: TruncatedUnrollOptions,
): { state: LOptTruncatedState; out: TruncatedUnrollOut } {
  const diff = unrollOptions.differentiable === true;
  const stopInner = diff && unrollOptions.stopInnerGradients === true;
  const thetaList = unbatchTheta(thetas, numTasks);
  const optFor = optimizerCache(ctx.learnedOptimizer, (i) => thetaList[i] as TensorTree);
  const lengthOf = (t: LOptTaskState): number | null => state.episodeLength ?? t.truncation.length;
  // Clones share memory with the caller's state; the loop may consume them freely.
  let tasks: LOptTaskState[] = diff ? [...state.tasks] : cloneState([...state.tasks]);
  const raw: (tf.Scalar | null)[] = [];
  const normalizers: (((l: number) => number) | undefined)[] = [];
  const rows = { mask: [] as boolean[][], isDone: [] as boolean[][], iteration: [] as number[][] };
  for (let t = 0; t < numSteps; t++) {
    const maskRow = tasks.map((cur) => !cur.isDone);
    tasks = tasks.map((cur, i) => {
      const { kStep, kTrunc } = stepKeys(key, t, i);
      let updated: LOptTaskState;
      if (cur.isDone) {
        updated = resetTask(ctx, cur, kStep, optFor(i, lengthOf(cur)), lengthOf(cur), diff);
        raw.push(null);
        normalizers.push(undefined);
      } else {
        const r = trainTask(ctx, cur, kStep, optFor(i, lengthOf(cur)), diff, stopInner);
        raw.push(r.metaValue);
        normalizers.push(r.task.normalizer?.bind(r.task));
        updated = r.updated;
      }
      return finishStep(ctx, updated, kTrunc, state.episodeLength);
    });
    rows.mask.push(maskRow);
    rows.isDone.push(tasks.map((x) => x.isDone));
    rows.iteration.push(tasks.map((x) => x.innerStep));
  }
  const losses = collectLosses(raw, normalizers, numSteps, numTasks, diff);
  const newState: LOptTruncatedState = { tasks, episodeLength: state.episodeLength };
  if (!diff) disposeExcept(thetaList, newState, thetas);
  return { state: newState, out: { losses, ...rows } };
}

/** Validated {@link LOptTruncatedStepOptions}. */
function parseStepOptions(options: LOptTruncatedStepOptions) {
  const { taskFamily, learnedOptimizer } = options;
  if (typeof taskFamily?.sample !== 'function' || typeof taskFamily.task !== 'function') {
    throw new LoptError('INVALID_OPTION', "Option 'taskFamily' must be a TaskFamily (sample, task).", { option: 'taskFamily' });
  }
  if (typeof learnedOptimizer?.init !== 'function' || typeof learnedOptimizer.optimizer !== 'function') {
    throw new LoptError('INVALID_OPTION', "Option 'learnedOptimizer' must be a LearnedOptimizer (init, optimizer).", { option: 'learnedOptimizer' });
  }
  if (options.vectorize !== undefined && typeof options.vectorize !== 'boolean') {
    throw new LoptError('INVALID_OPTION', `Option 'vectorize' must be a boolean, got ${JSON.stringify(options.vectorize)}.`, { option: 'vectorize' });
  }
  return {
    taskFamily,
    learnedOptimizer,
    truncation: checkTruncationSchedule('truncation', options.truncation),
    numTasks: checkNumber('numTasks', options.numTasks, { integer: true, min: 1 }),
    metaLoss: checkOneOf('metaLoss', options.metaLoss ?? 'preUpdate', META_LOSS_KINDS),
    offset: checkNumber('randomInitialIterationOffset', options.randomInitialIterationOffset ?? 0, { integer: true, min: 0 }),
    outerSplit: checkOneOf('outerDataSplit', options.outerDataSplit ?? 'train', ['train', 'innerValid', 'outerValid', 'test'] as const),
    taskCacheSize: checkNumber('taskCacheSize', options.taskCacheSize ?? 64, { integer: true, min: 1 }),
    timings: options.timings,
    vectorize: options.vectorize ?? true,
  };
}

/** Builds tasks from configurations, caching the last `size` by their JSON. */
function taskCache(taskFamily: TaskFamily, size: number): (cfg: unknown) => Task {
  const cache = new Map<string, Task>();
  return (cfg) => {
    const id = JSON.stringify(cfg) ?? 'undefined';
    let task = cache.get(id);
    if (task === undefined) {
      task = taskFamily.task(cfg);
      if (cache.size >= size) cache.delete(cache.keys().next().value as string);
      cache.set(id, task);
    }
    return task;
  };
}

/** Throws unless `state` is an lOptTruncatedStep state with `numTasks` tasks. */
function checkState(state: LOptTruncatedState | undefined, numTasks: number, option: string): void {
  if (!Array.isArray(state?.tasks) || state.tasks.length !== numTasks) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be an lOptTruncatedStep state with ${numTasks} tasks.`, { option });
  }
}

/**
 * The items' unrolls as one vectorized unroll over all `items.length x numTasks` copies
 * (copy `j * numTasks + i` uses task `i`'s keys), split back per item; undefined when the
 * copies cannot be batched (the caller runs the per-task loop).
 */
function vectorizedItems(
  ctx: StepContext,
  items: readonly TruncatedUnrollItem<LOptTruncatedState>[],
  key: Key,
  numSteps: number,
  numTasks: number,
): { state: LOptTruncatedState; out: TruncatedUnrollOut }[] | undefined {
  if (typeof ctx.taskFamily.vectorized !== 'function' || typeof ctx.learnedOptimizer.vectorized !== 'function') return undefined;
  const episodeLength = (items[0] as TruncatedUnrollItem<LOptTruncatedState>).state.episodeLength;
  if (items.some((it) => it.state.episodeLength !== episodeLength)) return undefined;
  const thetas = items.length === 1 ? (items[0] as TruncatedUnrollItem<LOptTruncatedState>).thetas : concatThetas(items.map((it) => it.thetas));
  const tasks = items.flatMap((it) => it.state.tasks);
  const taskIndex = tasks.map((_, c) => c % numTasks);
  const r = vectorizedUnroll(ctx, thetas, tasks, taskIndex, key, numSteps, episodeLength);
  if (items.length > 1) disposeExcept(thetas, r?.tasks);
  if (r === undefined) return undefined;
  const k = tasks.length;
  return items.map((_, j) => {
    const cols = (row: readonly (number | boolean | undefined)[]) => row.slice(j * numTasks, (j + 1) * numTasks);
    const host = new Float32Array(numSteps * numTasks);
    for (let t = 0; t < numSteps; t++) {
      for (let i = 0; i < numTasks; i++) {
        const c = j * numTasks + i;
        const v = r.raw[t * k + c] as number;
        const norm = r.normalizers[t]?.[c];
        host[t * numTasks + i] = r.mask[t]?.[c] ? (norm === undefined ? v : norm(v)) : 0;
      }
    }
    return {
      state: { tasks: r.tasks.slice(j * numTasks, (j + 1) * numTasks), episodeLength },
      out: {
        losses: tf.tensor2d(host, [numSteps, numTasks]),
        mask: r.mask.map(cols) as boolean[][],
        isDone: r.isDone.map(cols) as boolean[][],
        iteration: r.iteration.map(cols) as number[][],
      },
    };
  });
}

/** Concatenates stacked thetas of the same structure along the leading axis. */
function concatThetas(list: readonly BatchedTheta[]): BatchedTheta {
  const first = list[0] as BatchedTheta;
  const flat = list.map((t) => treeFlatten(t).leaves);
  return treeUnflatten(treeFlatten(first).structure, (flat[0] as tf.Tensor[]).map((_, j) => tf.concat(flat.map((l) => l[j] as tf.Tensor), 0)));
}
