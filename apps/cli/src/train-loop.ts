import * as tf from '@tensorflow/tfjs-core';
import {
  advance,
  collectTensors,
  disposeTree,
  foldIn,
  isLoptError,
  treeFlatten,
  treeUnflatten,
  type Dataset,
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
  /** Loss on the held-out split (test, else outer-valid, else inner-valid); null for data-free tasks. */
  readonly validLoss: number | null;
  /** RMS parameter change of the update that led here (null at step 0). */
  readonly stepSize: number | null;
}

/** The result of training one optimizer on one task. */
export interface TrainResult {
  readonly curve: CurvePoint[];
  /** Train loss at the end (or Infinity if the run diverged). */
  readonly finalTrainLoss: number;
  /** Held-out loss at the end (null for data-free tasks; Infinity if diverged). */
  readonly finalValidLoss: number | null;
  /** Whether the loss became non-finite (the run stopped there). */
  readonly diverged: boolean;
  /** Updates taken. */
  readonly steps: number;
  /** Wall-clock milliseconds per step (including the loss and gradient). */
  readonly msPerStep: number;
}

/** Options of {@link trainOnTask}. */
export interface TrainOptions {
  /** Number of updates. */
  readonly steps: number;
  /** Key for initial parameters, batches, evaluation batches and optimizer randomness. */
  readonly key: Key;
  /** Log a curve point every this many steps (and at the last step). */
  readonly logEvery: number;
  /** Batches averaged per evaluation of the train and held-out losses. */
  readonly evalBatches: number;
}

/** What a guard's loss function sees: the current training batch. */
export interface BatchHolder {
  /** The batch of the step being taken (undefined for data-free tasks). */
  current: unknown;
  /** The task being trained. */
  task: Task | undefined;
}

/** Loss of `task` at `params` on `batch`, a scalar the caller owns. */
export function taskLoss(task: Task, params: TensorTree, batch: unknown): tf.Scalar {
  return task.loss(params, batch as never);
}

function heldOutSplit(task: Task): Dataset | undefined {
  const d = task.datasets;
  return d?.test ?? d?.outerValid ?? d?.innerValid;
}

function evalLoss(task: Task, params: TensorTree, dataset: Dataset | undefined, key: Key, batches: number): number {
  let total = 0;
  const n = dataset ? batches : 1;
  for (let i = 0; i < n; i++) {
    const batch = dataset?.sample(foldIn(key, i));
    const value = tf.tidy(() => taskLoss(task, params, batch).dataSync()[0] as number);
    disposeBatch(batch);
    total += value;
  }
  return total / n;
}

function disposeBatch(batch: unknown): void {
  for (const t of collectTensors(batch)) if (!t.isDisposed) t.dispose();
}

/**
 * Trains `optimizer` on `task` for `steps` updates, memory-safely (`advance`), and logs the
 * train loss (fixed evaluation batches), the held-out loss and the RMS step size. Every
 * optimizer trained with the same key sees the same initial parameters and batches. A
 * non-finite loss (or a learned optimizer refusing non-finite input) ends the run as
 * diverged. `holder.current` is set to each step's batch so guards can evaluate losses on it.
 */
export function trainOnTask(task: Task, optimizer: Optimizer, options: TrainOptions, holder?: BatchHolder): TrainResult {
  const { steps, key, logEvery, evalBatches } = options;
  const initKey = foldIn(key, 0);
  const dataKey = foldIn(key, 1);
  const evalKey = foldIn(key, 2);
  const optKey = foldIn(key, 3);
  const train = task.datasets?.train;
  const heldOut = heldOutSplit(task);
  const curve: CurvePoint[] = [];
  const log = (step: number, params: TensorTree, stepSize: number | null): number => {
    const trainLoss = evalLoss(task, params, train, foldIn(evalKey, 0), evalBatches);
    const validLoss = heldOut ? evalLoss(task, params, heldOut, foldIn(evalKey, 1), evalBatches) : null;
    curve.push({ step, trainLoss, validLoss, stepSize });
    return trainLoss;
  };

  if (holder) holder.task = task;
  let state: OptState<unknown> = optimizer.init(task.init(initKey), { numSteps: steps, key: optKey });
  let diverged = !Number.isFinite(log(0, state.params, null));
  let taken = 0;
  const start = performance.now();
  try {
    for (let t = 0; t < steps && !diverged; t++) {
      const batch = train?.sample(foldIn(dataKey, t));
      if (holder) holder.current = batch;
      const { leaves, structure } = treeFlatten(state.params);
      const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => taskLoss(task, treeUnflatten(structure, xs), batch))(leaves);
      const loss = value.dataSync()[0] as number;
      const gradTree = treeUnflatten(structure, grads);
      const isLog = (t + 1) % logEvery === 0 || t + 1 === steps;
      const before = isLog ? leaves.map((l) => tf.clone(l)) : [];
      try {
        if (!Number.isFinite(loss)) {
          diverged = true;
        } else {
          state = advance(optimizer, state, gradTree, { loss: value, key: foldIn(optKey, t) });
          taken = t + 1;
        }
      } catch (e) {
        if (isLoptError(e) && e.code === 'NON_FINITE') diverged = true;
        else throw e;
      } finally {
        tf.dispose([value, ...grads]);
        disposeBatch(batch);
        if (holder) holder.current = undefined;
      }
      if (isLog && !diverged) {
        const after = treeFlatten(state.params).leaves;
        const stepSize = tf.tidy(() => {
          let sq = tf.scalar(0);
          let count = 0;
          after.forEach((p, i) => {
            sq = tf.add(sq, tf.sum(tf.square(tf.sub(p, before[i] as tf.Tensor))));
            count += p.size;
          });
          return Math.sqrt((sq.dataSync()[0] as number) / Math.max(count, 1));
        });
        const trainLoss = log(t + 1, state.params, stepSize);
        if (!Number.isFinite(trainLoss) || !Number.isFinite(stepSize)) diverged = true;
      }
      tf.dispose(before);
    }
  } finally {
    disposeTree(collectTensors(state) as TensorTree);
  }
  const msPerStep = taken > 0 ? (performance.now() - start) / taken : 0;
  const last = curve[curve.length - 1];
  return {
    curve,
    finalTrainLoss: diverged || !last ? Infinity : last.trainLoss,
    finalValidLoss: heldOut ? (diverged || !last ? Infinity : last.validLoss) : null,
    diverged,
    steps: taken,
    msPerStep,
  };
}
