import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  advance,
  collectTensors,
  checkKnownKeys,
  checkNumber,
  disposeTree,
  foldIn,
  isKey,
  key as makeKey,
  lossAndGrads,
  permutation,
  split,
  treeFlatten,
  treePaths,
  type Key,
  type OptState,
  type Optimizer,
  type Task,
  type TensorTree,
} from '@lopt/core';

/** Options of {@link traceUpdates}. */
export interface TraceOptions {
  /** Training steps to record (1 to 100,000). */
  readonly steps: number;
  /** Parameter coordinates to record, sampled without replacement (all when fewer). Default 64. */
  readonly coordinates?: number;
  /** Key of the initial parameters, the coordinate sample and the batches. Default `key(0)`. */
  readonly key?: Key;
  /** Run length passed to `optimizer.init` (learned optimizers' time features). Default `steps`. */
  readonly numSteps?: number;
}

/**
 * A recorded training run: per step, the gradient and the update (`p[t+1] - p[t]`) of a
 * sample of coordinates. Plain arrays, `[step][coordinate]`, so fits and plots need no tensors.
 */
export interface UpdateTrace {
  /** Gradients, `[steps][coordinates]`. */
  readonly grads: number[][];
  /** Updates `p[t+1] - p[t]`, `[steps][coordinates]`. */
  readonly updates: number[][];
  /** Training loss at each step (before its update), `[steps]`. */
  readonly losses: number[];
  /** Tree path of the parameter tensor each coordinate belongs to. */
  readonly paths: string[];
  /** Flat (row-major) index of each coordinate inside its tensor. */
  readonly indices: number[];
}

/** The coordinates to record: `[leaf, flat index]` pairs, in a key-determined order. */
function sampleCoordinates(sizes: readonly number[], count: number, k: Key): [number, number][] {
  const total = sizes.reduce((a, b) => a + b, 0);
  const picks = Array.from(permutation(k, total).subarray(0, Math.min(count, total))).sort((a, b) => a - b);
  const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  return picks.map((flat) => {
    let leaf = sizes.length - 1;
    while ((starts[leaf] as number) > flat) leaf--;
    return [leaf, flat - (starts[leaf] as number)];
  });
}

/** Values of the sampled coordinates of a list of leaves (one read per leaf). */
function readCoordinates(leaves: readonly tf.Tensor[], coords: readonly [number, number][]): number[] {
  const byLeaf = new Map<number, Float32Array | Int32Array | Uint8Array>();
  return coords.map(([leaf, i]) => {
    if (!byLeaf.has(leaf)) byLeaf.set(leaf, (leaves[leaf] as tf.Tensor).dataSync());
    return Number((byLeaf.get(leaf) as Float32Array)[i]);
  });
}

function checkOptions(optimizer: Optimizer, task: Task, options: TraceOptions): { steps: number; count: number; k: Key; numSteps: number } {
  if (typeof optimizer !== 'object' || optimizer === null || typeof optimizer.update !== 'function') {
    throw new LoptError('INVALID_OPTION', 'traceUpdates: optimizer must be an Optimizer (init and update).', { option: 'optimizer' });
  }
  if (typeof task !== 'object' || task === null || typeof task.loss !== 'function' || typeof task.init !== 'function') {
    throw new LoptError('INVALID_OPTION', 'traceUpdates: task must be a Task (init and loss).', { option: 'task' });
  }
  checkKnownKeys('traceUpdates', options, ['steps', 'coordinates', 'key', 'numSteps']);
  const steps = checkNumber('steps', options.steps, { integer: true, min: 1, max: 100_000 });
  const count = checkNumber('coordinates', options.coordinates ?? 64, { integer: true, min: 1, max: 100_000 });
  if (options.key !== undefined && !isKey(options.key)) throw new LoptError('INVALID_OPTION', "Option 'key' must be a Key (key(seed)).", { option: 'key' });
  const numSteps = checkNumber('numSteps', options.numSteps ?? steps, { integer: true, min: 1 });
  return { steps, count, k: options.key ?? makeKey(0), numSteps };
}

/**
 * Trains `task` with `optimizer` for `steps` steps and records, for a key-chosen sample of
 * parameter coordinates, the gradient and the update of every step (the input of the
 * behaviour fits: `fitMomentum`, `fitLearningRateSchedule`, `fitClipping`). Batches come from
 * the task's `train` dataset (data-free tasks get `undefined`). Memory-safe: steps go through
 * `advance`. Throws `NON_FINITE` if the loss stops being finite.
 */
export function traceUpdates(optimizer: Optimizer, task: Task, options: TraceOptions): UpdateTrace {
  const { steps, count, k, numSteps } = checkOptions(optimizer, task, options);
  const [kInit, kCoords, kData] = split(k, 3) as [Key, Key, Key];
  let state: OptState = optimizer.init(task.init(kInit), { numSteps, key: kInit });
  const paths = treePaths(state.params);
  const coords = sampleCoordinates(treeFlatten(state.params).leaves.map((l) => l.size), count, kCoords);
  const out: UpdateTrace = { grads: [], updates: [], losses: [], paths: coords.map(([l]) => paths[l] as string), indices: coords.map(([, i]) => i) };
  try {
    for (let t = 0; t < steps; t++) {
      const batch = task.datasets?.train.sample(foldIn(kData, t));
      const { value: loss, grads } = lossAndGrads((p) => task.loss(p, batch as never), state.params);
      const owned = [loss, ...collectTensors(grads), ...collectTensors(batch)];
      try {
        const value = loss.dataSync()[0] as number;
        if (!Number.isFinite(value)) throw new LoptError('NON_FINITE', `traceUpdates: the training loss is ${value} at step ${t}.`);
        const before = readCoordinates(treeFlatten(state.params).leaves, coords);
        out.grads.push(readCoordinates(treeFlatten(grads).leaves, coords));
        out.losses.push(value);
        state = advance(optimizer, state, grads, { loss });
        const after = readCoordinates(treeFlatten(state.params).leaves, coords);
        out.updates.push(after.map((a, i) => a - (before[i] as number)));
      } finally {
        tf.dispose(owned);
      }
    }
  } finally {
    disposeTree([state.params, state.state as TensorTree]);
  }
  return out;
}
