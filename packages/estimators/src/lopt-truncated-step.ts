import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  advance,
  checkNumber,
  checkOneOf,
  disposeTree,
  foldIn,
  randintArray,
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
import { cloneState, disposeExcept } from './state.js';
import { checkTruncationSchedule, type TruncationSchedule, type TruncationState } from './truncation.js';
import {
  unbatchTheta,
  type BatchedTheta,
  type TruncatedStep,
  type TruncatedStepInitOptions,
  type TruncatedUnrollOptions,
  type TruncatedUnrollOut,
} from './truncated-step.js';

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
}

/** Milliseconds an {@link lOptTruncatedStep} spent, accumulated over calls (mutable; start from {@link emptyUnrollTimings}). */
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
}

/** A zeroed {@link UnrollTimings}. */
export function emptyUnrollTimings(): UnrollTimings {
  return { taskGradient: 0, optimizerUpdate: 0, metaLoss: 0, reset: 0, unroll: 0, trainSteps: 0 };
}

const clock = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** One inner training inside {@link LOptTruncatedState}. */
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

/** The state of an {@link lOptTruncatedStep}: one entry per task, plus the fixed episode length if any. */
export interface LOptTruncatedState {
  /** Per-task inner trainings. */
  readonly tasks: readonly LOptTaskState[];
  /** The episode length fixed by `init({ episodeLength })`, or null. */
  readonly episodeLength: number | null;
}

const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

/** Value and gradients of a task's loss with respect to its parameter tree. */
function lossAndGrads(task: Task, params: TensorTree, batch: unknown, key: Key): { loss: tf.Scalar; grads: TensorTree } {
  const { leaves, structure } = treeFlatten(params);
  const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch as TensorTree, key))(leaves);
  return { loss: value as tf.Scalar, grads: treeUnflatten(structure, grads) };
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
  const { taskFamily, learnedOptimizer } = options;
  if (typeof taskFamily?.sample !== 'function' || typeof taskFamily.task !== 'function') {
    throw new LoptError('INVALID_OPTION', "Option 'taskFamily' must be a TaskFamily (sample, task).", { option: 'taskFamily' });
  }
  if (typeof learnedOptimizer?.init !== 'function' || typeof learnedOptimizer.optimizer !== 'function') {
    throw new LoptError('INVALID_OPTION', "Option 'learnedOptimizer' must be a LearnedOptimizer (init, optimizer).", { option: 'learnedOptimizer' });
  }
  const truncation = checkTruncationSchedule('truncation', options.truncation);
  const numTasks = checkNumber('numTasks', options.numTasks, { integer: true, min: 1 });
  const metaLoss = checkOneOf('metaLoss', options.metaLoss ?? 'preUpdate', META_LOSS_KINDS);
  const offset = checkNumber('randomInitialIterationOffset', options.randomInitialIterationOffset ?? 0, { integer: true, min: 0 });
  const outerSplit = checkOneOf('outerDataSplit', options.outerDataSplit ?? 'train', ['train', 'innerValid', 'outerValid', 'test'] as const);
  const cacheSize = checkNumber('taskCacheSize', options.taskCacheSize ?? 64, { integer: true, min: 1 });
  const timings = options.timings;

  const cache = new Map<string, Task>();
  const taskOf = (cfg: unknown): Task => {
    const id = JSON.stringify(cfg) ?? 'undefined';
    let task = cache.get(id);
    if (task === undefined) {
      task = taskFamily.task(cfg);
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
      cache.set(id, task);
    }
    return task;
  };

  const sampleBatch = (task: Task, splitName: Split, key: Key): unknown => {
    const ds = task.datasets;
    if (ds === undefined) return undefined;
    const d = ds[splitName];
    if (d === undefined) {
      throw new LoptError('INVALID_OPTION', `Task '${task.name}' has no '${splitName}' dataset, which option 'metaLoss' (or 'outerDataSplit') asks for.`, { option: 'metaLoss' });
    }
    return d.sample(key);
  };
  const disposeBatch = (batch: unknown): void => {
    if (batch !== undefined) disposeExcept(batch);
  };

  /** Optimizers built from each task's theta, cached per episode length for one call. */
  const optimizersFor = (thetaList: TensorTree[]) => {
    const built = new Map<string, Optimizer<unknown>>();
    return (i: number, numSteps: number | null): Optimizer<unknown> => {
      const id = `${i}:${numSteps}`;
      let opt = built.get(id);
      if (opt === undefined) {
        opt = learnedOptimizer.optimizer(thetaList[i] as TensorTree, numSteps === null ? {} : { numSteps }) as Optimizer<unknown>;
        built.set(id, opt);
      }
      return opt;
    };
  };

  const episodeSteps = (state: { episodeLength: number | null }, t: TruncationState): number | null =>
    state.episodeLength ?? t.length;

  function init(thetas: BatchedTheta, key: Key, initOptions: TruncatedStepInitOptions = {}): LOptTruncatedState {
    const episodeLength =
      initOptions.episodeLength === undefined ? null : checkNumber('episodeLength', initOptions.episodeLength, { integer: true, min: 1 });
    const [k1, k2] = split(key, 2) as [Key, Key];
    const thetaList = unbatchTheta(thetas, numTasks);
    const optFor = optimizersFor(thetaList);
    const taskKeys = split(k1, numTasks);
    const starts = offset > 0 ? randintArray(k2, numTasks, 0, offset) : new Int32Array(numTasks);
    const tasks: LOptTaskState[] = [];
    for (let i = 0; i < numTasks; i++) {
      const [kCfg, kInit, kTrunc, kOpt] = split(taskKeys[i] as Key, 4) as [Key, Key, Key, Key];
      const cfg = taskFamily.sample(kCfg);
      const task = taskOf(cfg);
      const params = task.init(kInit);
      const trunc = truncation.init(kTrunc);
      const numSteps = episodeLength ?? trunc.length;
      const opt = optFor(i, numSteps);
      const optState = opt.init(params, numSteps === null ? { key: kOpt } : { numSteps, key: kOpt });
      tasks.push({ cfg, optState, innerStep: starts[i] as number, truncation: trunc, isDone: false });
    }
    const state: LOptTruncatedState = { tasks, episodeLength };
    disposeExcept(thetaList, state, thetas);
    return state;
  }

  function unroll(
    thetas: BatchedTheta,
    state: LOptTruncatedState,
    key: Key,
    numSteps: number,
    unrollOptions: TruncatedUnrollOptions = {},
  ): { state: LOptTruncatedState; out: TruncatedUnrollOut } {
    checkNumber('numSteps', numSteps, { integer: true, min: 1 });
    const tUnroll = timings ? clock() : 0;
    if (!Array.isArray(state?.tasks) || state.tasks.length !== numTasks) {
      throw new LoptError('INVALID_OPTION', `Option 'state' must be an lOptTruncatedStep state with ${numTasks} tasks.`, { option: 'state' });
    }
    const diff = unrollOptions.differentiable === true;
    const stopInner = diff && unrollOptions.stopInnerGradients === true;
    const thetaList = unbatchTheta(thetas, numTasks);
    const optFor = optimizersFor(thetaList);
    // Clones share memory with the caller's state; the loop may consume them freely.
    let tasks: LOptTaskState[] = diff ? [...state.tasks] : cloneState([...state.tasks]);
    const raw: (tf.Scalar | null)[] = [];
    const normalizers: (((l: number) => number) | undefined)[] = [];
    const mask: boolean[][] = [];
    const isDone: boolean[][] = [];
    const iteration: number[][] = [];

    for (let t = 0; t < numSteps; t++) {
      const stepKey = foldIn(key, t);
      const maskRow: boolean[] = [];
      const doneRow: boolean[] = [];
      const iterRow: number[] = [];
      const next: LOptTaskState[] = [];
      for (let i = 0; i < numTasks; i++) {
        const cur = tasks[i] as LOptTaskState;
        const [kStep, kTrunc] = split(foldIn(stepKey, i), 2) as [Key, Key];
        let updated: LOptTaskState;
        const t0 = timings ? clock() : 0;
        if (cur.isDone) {
          const [kCfg, kInit, kOpt] = split(kStep, 3) as [Key, Key, Key];
          const cfg = taskFamily.sample(kCfg);
          const task = taskOf(cfg);
          const params = task.init(kInit);
          const len = episodeSteps(state, cur.truncation);
          const optState = optFor(i, len).init(params, len === null ? { key: kOpt } : { numSteps: len, key: kOpt });
          if (!diff) disposeExcept(cur.optState, optState);
          updated = { cfg, optState, innerStep: 0, truncation: cur.truncation, isDone: false };
          raw.push(null);
          normalizers.push(undefined);
          maskRow.push(false);
          if (timings) timings.reset += clock() - t0;
        } else {
          const [kData, kLoss, kOpt, kMeta] = split(kStep, 4) as [Key, Key, Key, Key];
          const task = taskOf(cur.cfg);
          const opt = optFor(i, episodeSteps(state, cur.truncation));
          const batch = sampleBatch(task, 'train', kData);
          let { loss, grads } = lossAndGrads(task, cur.optState.params, batch, kLoss);
          if (stopInner) grads = mapTree(grads, stopGradient);
          const t1 = timings ? clock() : 0;
          if (timings) timings.taskGradient += t1 - t0;
          let optState: OptState<unknown>;
          if (diff) {
            optState = opt.update(cur.optState, grads, { loss, key: kOpt });
          } else {
            optState = advance(opt, cur.optState, grads, { loss, key: kOpt });
            disposeTree(grads);
          }
          const t2 = timings ? clock() : 0;
          if (timings) {
            timings.optimizerUpdate += t2 - t1;
            timings.trainSteps++;
          }
          let metaValue: tf.Scalar = loss;
          if (metaLoss !== 'preUpdate') {
            const metaBatch = metaLoss === 'sameData' ? batch : sampleBatch(task, metaLoss, kMeta);
            metaValue = diff
              ? task.loss(optState.params, metaBatch as TensorTree, kLoss)
              : tf.tidy(() => task.loss(optState.params, metaBatch as TensorTree, kLoss));
            if (!diff) {
              loss.dispose();
              if (metaBatch !== batch) disposeBatch(metaBatch);
            }
          }
          if (!diff) disposeBatch(batch);
          if (timings && metaLoss !== 'preUpdate') timings.metaLoss += clock() - t2;
          raw.push(metaValue);
          normalizers.push(task.normalizer?.bind(task));
          maskRow.push(true);
          updated = { cfg: cur.cfg, optState, innerStep: cur.innerStep + 1, truncation: cur.truncation, isDone: false };
        }
        let done: boolean;
        let trunc = updated.truncation;
        if (state.episodeLength !== null) {
          done = updated.innerStep >= state.episodeLength;
        } else {
          const r = truncation.next(updated.truncation, updated.innerStep, kTrunc);
          done = r.isDone;
          trunc = r.state;
        }
        updated = { ...updated, truncation: trunc, isDone: done };
        doneRow.push(done);
        iterRow.push(updated.innerStep);
        next.push(updated);
      }
      tasks = next;
      mask.push(maskRow);
      isDone.push(doneRow);
      iteration.push(iterRow);
    }

    // Read all losses at once (one sync), normalize on the host.
    const present = raw.filter((x): x is tf.Scalar => x !== null);
    let values: Float32Array = new Float32Array(0);
    if (present.length > 0) {
      const stacked = tf.tidy(() => tf.stack(present));
      values = stacked.dataSync() as Float32Array;
      stacked.dispose();
    }
    const host = new Float32Array(numSteps * numTasks);
    const slopes = new Float32Array(numSteps * numTasks);
    const offsets = new Float32Array(numSteps * numTasks);
    let j = 0;
    raw.forEach((x, idx) => {
      if (x === null) return;
      const l = values[j++] as number;
      const norm = normalizers[idx];
      if (norm === undefined) {
        host[idx] = l;
        slopes[idx] = 1;
      } else {
        const v = norm(l);
        host[idx] = v;
        const h = 1e-3 * Math.max(1, Math.abs(l));
        const s = (norm(l + h) - norm(l - h)) / (2 * h);
        slopes[idx] = s;
        offsets[idx] = v - s * l;
      }
    });
    let losses: tf.Tensor2D;
    if (diff) {
      const zero = tf.scalar(0);
      const entries = raw.map((x, idx) =>
        x === null ? zero : normalizers[idx] === undefined ? x : tf.add(tf.mul(x, slopes[idx] as number), offsets[idx] as number),
      );
      losses = tf.reshape(tf.stack(entries), [numSteps, numTasks]) as tf.Tensor2D;
    } else {
      losses = tf.tensor2d(host, [numSteps, numTasks]);
      for (const x of present) x.dispose();
    }
    const newState: LOptTruncatedState = { tasks, episodeLength: state.episodeLength };
    if (!diff) disposeExcept(thetaList, newState, thetas);
    if (timings) timings.unroll += clock() - tUnroll;
    return { state: newState, out: { losses, mask, isDone, iteration } };
  }

  function evaluate(thetas: BatchedTheta, state: LOptTruncatedState, key: Key, numSamples: number): tf.Tensor1D {
    checkNumber('numSamples', numSamples, { integer: true, min: 1 });
    const out = new Float32Array(numTasks);
    state.tasks.forEach((ts, i) => {
      const task = taskOf(ts.cfg);
      let sum = 0;
      for (let s = 0; s < numSamples; s++) {
        const [kData, kLoss] = split(foldIn(foldIn(key, i), s), 2) as [Key, Key];
        const batch = sampleBatch(task, outerSplit, kData);
        const l = tf.tidy(() => task.loss(ts.optState.params, batch as TensorTree, kLoss));
        const v = l.dataSync()[0] as number;
        l.dispose();
        disposeBatch(batch);
        sum += task.normalizer ? task.normalizer(v) : v;
      }
      out[i] = sum / numSamples;
    });
    void thetas;
    return tf.tensor1d(out);
  }

  return {
    name: `lopt-truncated(${taskFamily.name}, ${learnedOptimizer.name})`,
    numTasks,
    init,
    unroll,
    evaluate,
  };
}

function mapTree(tree: TensorTree, fn: (x: tf.Tensor) => tf.Tensor): TensorTree {
  const { leaves, structure } = treeFlatten(tree);
  return treeUnflatten(structure, leaves.map((x) => fn(x)));
}
