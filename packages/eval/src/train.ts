import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  advance,
  checkNumber,
  collectTensors,
  disposeLayerGradients,
  disposeTree,
  foldIn,
  isKey,
  isLoptError,
  treeFlatten,
  treeUnflatten,
  valueAndLayerGrads,
  type Dataset,
  type DenseLayerTapping,
  type LayerGradients,
  type Key,
  type OptState,
  type Optimizer,
  type Task,
  type TensorTree,
} from '@lopt/core';

/** One logged point of an inner training run. */
export interface CurvePoint {
  /** Number of updates taken. */
  readonly step: number;
  /** Train loss at this step, averaged over fixed evaluation batches of the train split. */
  readonly trainLoss: number;
  /** Loss on the held-out split (test, else outer-valid, else inner-valid); null for tasks without one. */
  readonly validLoss: number | null;
  /** RMS parameter change of the update that led here (null at step 0). */
  readonly stepSize: number | null;
}

/** The result of training one optimizer on one task ({@link trainOnTask}). */
export interface TrainResult {
  /** Logged points, step 0 first. */
  readonly curve: CurvePoint[];
  /** Train loss at the end (Infinity if the run diverged). */
  readonly finalTrainLoss: number;
  /** Held-out loss at the end (null for tasks without a held-out split; Infinity if diverged). */
  readonly finalValidLoss: number | null;
  /** Whether the run diverged: a non-finite loss, or a loss above `lossCap` (the run stops there). */
  readonly diverged: boolean;
  /** Updates taken. */
  readonly steps: number;
  /** Wall-clock milliseconds of the whole run, evaluations included. */
  readonly wallMs: number;
  /** Wall-clock milliseconds per update (loss, gradient and update; evaluations excluded). */
  readonly msPerStep: number;
  /** The divergence cap that applied (see {@link TrainOptions.lossCap}). */
  readonly lossCap: number;
}

/** What a guard's loss function sees: the batch of the step being taken. */
export interface BatchHolder {
  /** The batch of the step being taken (undefined for data-free tasks and between steps). */
  current: unknown;
  /** The task being trained. */
  task: Task | undefined;
}

/** Options of {@link trainOnTask}. */
export interface TrainOptions {
  /** Number of updates (integer >= 0). */
  readonly steps: number;
  /** Key for initial parameters, batches, evaluation batches and optimizer randomness. */
  readonly key: Key;
  /** Log a curve point every this many steps (and at the last step). Default: `steps` (start and end only). */
  readonly evalEvery?: number;
  /** Batches averaged per evaluation of the train and held-out losses. Default 1. */
  readonly evalBatches?: number;
  /**
   * Divergence cap: a run whose minibatch or evaluated train loss exceeds it stops as
   * diverged. Default `divergenceFactor * max(|initial train loss|, 1)`.
   */
  readonly lossCap?: number;
  /** Multiplier of the default cap. Default 100. */
  readonly divergenceFactor?: number;
  /** Called after every update with its 1-based step and minibatch loss. */
  readonly onStep?: (step: number, loss: number) => void;
  /** Aborts the run between steps: `trainOnTask` then throws the signal's reason. */
  readonly signal?: AbortSignal;
  /** Receives each step's batch, for guards that evaluate losses on it. */
  readonly holder?: BatchHolder;
}

interface Resolved {
  readonly steps: number;
  readonly evalEvery: number;
  readonly evalBatches: number;
  readonly divergenceFactor: number;
}

function resolve(options: TrainOptions): Resolved {
  if (!options || typeof options !== 'object') throw new LoptError('INVALID_OPTION', 'trainOnTask needs an options object { steps, key, ... }.', { option: 'options' });
  const steps = checkNumber('steps', options.steps, { integer: true, min: 0 });
  if (!isKey(options.key)) throw new LoptError('INVALID_OPTION', "Option 'key' must be a lopt Key (from key(seed)).", { option: 'key' });
  const evalEvery = checkNumber('evalEvery', options.evalEvery ?? Math.max(steps, 1), { integer: true, min: 1 });
  const evalBatches = checkNumber('evalBatches', options.evalBatches ?? 1, { integer: true, min: 1 });
  const divergenceFactor = checkNumber('divergenceFactor', options.divergenceFactor ?? 100, { greaterThan: 0 });
  if (options.lossCap !== undefined) checkNumber('lossCap', options.lossCap, { allowInfinity: true });
  return { steps, evalEvery, evalBatches, divergenceFactor };
}

function heldOutSplit(task: Task): Dataset | undefined {
  const d = task.datasets;
  return d?.test ?? d?.outerValid ?? d?.innerValid;
}

function disposeBatch(batch: unknown): void {
  for (const t of collectTensors(batch)) if (!t.isDisposed) t.dispose();
}

/** Mean loss of `task` at `params` over `batches` batches of `dataset` (one undefined batch for data-free tasks). */
export function evaluateLoss(task: Task, params: TensorTree, dataset: Dataset | undefined, key: Key, batches: number): number {
  let total = 0;
  const n = dataset ? batches : 1;
  for (let i = 0; i < n; i++) {
    const batch = dataset?.sample(foldIn(key, i));
    try {
      total += tf.tidy(() => task.loss(params, batch as never).dataSync()[0] as number);
    } finally {
      disposeBatch(batch);
    }
  }
  return total / n;
}

function rmsChange(before: readonly tf.Tensor[], after: readonly tf.Tensor[]): number {
  return tf.tidy(() => {
    let sq = tf.scalar(0);
    let count = 0;
    after.forEach((p, i) => {
      sq = tf.add(sq, tf.sum(tf.square(tf.sub(p, before[i] as tf.Tensor))));
      count += p.size;
    });
    return Math.sqrt((sq.dataSync()[0] as number) / Math.max(count, 1));
  });
}

/** Loss and gradients of one step; the caller disposes `value` and `grads`. */
function lossAndGrads(task: Task, params: TensorTree, batch: unknown): { value: tf.Scalar; grads: tf.Tensor[]; structure: ReturnType<typeof treeFlatten>['structure'] } {
  const { leaves, structure } = treeFlatten(params);
  const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => task.loss(treeUnflatten(structure, xs), batch as never))(leaves);
  return { value, grads, structure };
}

/** One step's loss, gradients and update context; curvature optimizers also get the task's layer statistics. */
function stepInputs(task: Task, optimizer: Optimizer, params: TensorTree, batch: unknown): { value: tf.Scalar; grads: TensorTree; layers?: LayerGradients['layers']; dispose: () => void } {
  if (optimizer.needsLayers === true) {
    const g = valueAndLayerGrads(task.layers as DenseLayerTapping, params, batch as never);
    return { value: g.loss, grads: g.grads, layers: g.layers, dispose: () => disposeLayerGradients(g) };
  }
  const { value, grads, structure } = lossAndGrads(task, params, batch);
  return { value, grads: treeUnflatten(structure, grads), dispose: () => tf.dispose([value, ...grads]) };
}

/** Evaluates at the optimizer's evaluation parameters (Schedule-Free's average, Lookahead's slow weights) when it has them. */
function withEvalParams<T>(optimizer: Optimizer, state: OptState<unknown>, fn: (params: TensorTree) => T): T {
  if (typeof optimizer.evalParams !== 'function') return fn(state.params);
  const params = optimizer.evalParams(state as OptState<TensorTree>);
  try {
    return fn(params);
  } finally {
    disposeTree(params);
  }
}

/**
 * Trains `optimizer` on `task` for `steps` updates: the one memory-safe inner training loop
 * of lopt (every update goes through `advance`; the tensor count stays flat). Every
 * optimizer trained with the same key sees the same initial parameters and batches
 * (`foldIn(key, 0)` initial parameters, `foldIn(key, 1)` batches, `foldIn(key, 2)` fixed
 * evaluation batches, `foldIn(key, 3)` optimizer randomness). Logs the train loss on fixed
 * evaluation batches, the held-out loss and the RMS step size every `evalEvery` steps.
 * A run diverges, and stops, when a loss is NaN/Inf, exceeds `lossCap`, or a learned
 * optimizer refuses non-finite input (`NON_FINITE`).
 *
 * @example
 * ```ts
 * const r = trainOnTask(quadraticTask({ dim: 4 }), adam({ learningRate: 0.1 }), { steps: 100, key: key(0) });
 * console.log(r.finalTrainLoss, r.diverged);
 * ```
 */
export function trainOnTask(task: Task, optimizer: Optimizer, options: TrainOptions): TrainResult {
  if (!task || typeof task.loss !== 'function' || typeof task.init !== 'function') throw new LoptError('INVALID_OPTION', "Argument 'task' must be a Task { name, init, loss }.", { option: 'task' });
  if (!optimizer || typeof optimizer.update !== 'function' || typeof optimizer.init !== 'function') throw new LoptError('INVALID_OPTION', "Argument 'optimizer' must be an Optimizer { name, init, update }.", { option: 'optimizer' });
  if (optimizer.needsLayers === true && task.layers === undefined) {
    throw new LoptError('INVALID_OPTION', `Optimizer '${optimizer.name}' needs per-layer statistics, and task '${task.name}' does not report its dense layers (Task.layers).`, { option: 'optimizer' });
  }
  const { steps, evalEvery, evalBatches, divergenceFactor } = resolve(options);
  const { key, onStep, signal, holder } = options;
  const [initKey, dataKey, evalKey, optKey] = [0, 1, 2, 3].map((i) => foldIn(key, i)) as [Key, Key, Key, Key];
  const train = task.datasets?.train;
  const heldOut = heldOutSplit(task);
  const curve: CurvePoint[] = [];
  const log = (step: number, params: TensorTree, stepSize: number | null): number => {
    const trainLoss = evaluateLoss(task, params, train, foldIn(evalKey, 0), evalBatches);
    const validLoss = heldOut ? evaluateLoss(task, params, heldOut, foldIn(evalKey, 1), evalBatches) : null;
    curve.push({ step, trainLoss, validLoss, stepSize });
    return trainLoss;
  };
  const startWall = performance.now();
  if (holder) holder.task = task;
  let state: OptState<unknown> = optimizer.init(task.init(initKey), { numSteps: steps, key: optKey });
  let stepMs = 0;
  let taken = 0;
  let lossCap = Infinity;
  let diverged = false;
  try {
    const initial = withEvalParams(optimizer, state, (p) => log(0, p, null));
    lossCap = options.lossCap ?? divergenceFactor * Math.max(Math.abs(initial), 1);
    diverged = !(initial <= lossCap);
    for (let t = 0; t < steps && !diverged; t++) {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      const isLog = (t + 1) % evalEvery === 0 || t + 1 === steps;
      const t0 = performance.now();
      const batch = train?.sample(foldIn(dataKey, t));
      if (holder) holder.current = batch;
      const before = isLog ? treeFlatten(state.params).leaves.map((l) => tf.clone(l)) : [];
      const inputs = stepInputs(task, optimizer, state.params, batch);
      const loss = inputs.value.dataSync()[0] as number;
      try {
        if (!(loss <= lossCap)) diverged = true;
        else {
          const ctx = { loss: inputs.value, key: foldIn(optKey, t), ...(inputs.layers !== undefined ? { layers: inputs.layers } : {}) };
          state = advance(optimizer, state, inputs.grads, ctx);
          taken = t + 1;
        }
      } catch (e) {
        if (isLoptError(e) && e.code === 'NON_FINITE') diverged = true;
        else throw e;
      } finally {
        inputs.dispose();
        disposeBatch(batch);
        if (holder) holder.current = undefined;
        stepMs += performance.now() - t0;
      }
      if (!diverged) onStep?.(t + 1, loss);
      if (isLog && !diverged) {
        const stepSize = rmsChange(before, treeFlatten(state.params).leaves);
        const trainLoss = withEvalParams(optimizer, state, (p) => log(t + 1, p, stepSize));
        if (!(trainLoss <= lossCap) || !Number.isFinite(stepSize)) diverged = true;
      }
      tf.dispose(before);
    }
  } finally {
    disposeTree(collectTensors(state) as TensorTree);
  }
  const last = curve[curve.length - 1];
  return {
    curve,
    finalTrainLoss: diverged || !last ? Infinity : last.trainLoss,
    finalValidLoss: heldOut ? (diverged || !last ? Infinity : last.validLoss) : null,
    diverged,
    steps: taken,
    wallMs: performance.now() - startWall,
    msPerStep: taken > 0 ? stepMs / taken : 0,
    lossCap,
  };
}
