import * as tf from '@tensorflow/tfjs-core';
import { describe, it } from 'vitest';
import {
  disposeTree,
  foldIn,
  key as makeKey,
  randintArray,
  split,
  treeFlatten,
  treeLeaves,
  treePaths,
  treeUnflatten,
  isTensor,
  type Key,
  type Task,
  type TensorTree,
} from '@lopt/core';
import { leakCheck, failFor } from './assertions.js';

/** Settings of the finite-difference gradient check. */
export interface FiniteDifferenceOptions {
  /** Central-difference step in parameter units. Default 1e-2. */
  readonly step?: number;
  /** Relative tolerance on each derivative. Default 0.05. */
  readonly rtol?: number;
  /**
   * Absolute tolerance in units of `|loss| / step` (float32 rounding of the two loss
   * evaluations is about `|loss| * 1e-7` each). Default 3e-6.
   */
  readonly roundingTolerance?: number;
  /** Largest number of leaves whose coordinates are checked (one coordinate per leaf). Default 8. */
  readonly maxLeaves?: number;
}

/** Options of the task conformance checks. */
export interface TaskConformanceOptions {
  /** Seed of every key the checks use. Default 0. */
  readonly seed?: number;
  /**
   * Finite-difference check of the gradient, or `false` to skip it for tasks whose
   * gradient is deliberately not the derivative of the loss value (gradient noise,
   * gradient normalization). Default: on with {@link FiniteDifferenceOptions} defaults.
   */
  readonly finiteDifference?: FiniteDifferenceOptions | false;
  /** Whether different keys must give different initial parameters. Default true. */
  readonly initDependsOnKey?: boolean;
  /** Whether different keys must give different batches (tasks with data). Default true. */
  readonly batchDependsOnKey?: boolean;
  /** Training steps of the leak check (plain gradient descent). Default 50. */
  readonly leakSteps?: number;
  /** Step size of the leak check's gradient descent. Default 1e-3. */
  readonly learningRate?: number;
}

const fail = (task: Task, message: string): never => failFor('task', task, message);

function hostCopy(tree: TensorTree): { leaves: Float32Array[]; shapes: number[][] } {
  const leaves = treeLeaves(tree);
  return { leaves: leaves.map((t) => Float32Array.from(t.dataSync() as Float32Array)), shapes: leaves.map((t) => [...t.shape]) };
}

/** Builds a batch for the checks: the train split's batch for `k`, or undefined for data-free tasks. */
export function sampleTrainBatch(task: Task, k: Key): TensorTree {
  return (task.datasets ? task.datasets.train.sample(k) : undefined) as TensorTree;
}

function disposeBatch(batch: unknown): void {
  if (batch !== undefined && batch !== null) disposeTree(batch as TensorTree);
}

/**
 * Checks that `task.init` is deterministic for a key, returns float32 finite tensors,
 * and (unless `initDependsOnKey` is false) differs between keys.
 */
export function checkTaskInit(task: Task, options: TaskConformanceOptions = {}): void {
  const k = makeKey(options.seed ?? 0);
  const [k1, k2] = split(k, 2) as [Key, Key];
  const a = task.init(k1);
  const b = task.init(k1);
  const c = task.init(k2);
  try {
    const paths = treePaths(a);
    if (paths.join('|') !== treePaths(b).join('|')) fail(task, 'init(key) returned different tree structures for the same key');
    const la = treeLeaves(a);
    const lb = treeLeaves(b);
    const lc = treeLeaves(c);
    if (la.length === 0) fail(task, 'init returned no parameters');
    let anyDifferent = false;
    la.forEach((x, i) => {
      const y = lb[i] as tf.Tensor;
      if (x.dtype !== 'float32') fail(task, `parameter ${paths[i]} has dtype ${x.dtype}, expected float32`);
      const xa = x.dataSync();
      const ya = y.dataSync();
      const za = (lc[i] as tf.Tensor).dataSync();
      for (let j = 0; j < xa.length; j++) {
        if (!Number.isFinite(xa[j] as number)) fail(task, `parameter ${paths[i]}[${j}] is not finite (${xa[j]})`);
        if (xa[j] !== ya[j]) fail(task, `init is not deterministic: ${paths[i]}[${j}] is ${xa[j]} then ${ya[j]}`);
        if (xa[j] !== za[j]) anyDifferent = true;
      }
    });
    if ((options.initDependsOnKey ?? true) && !anyDifferent) fail(task, 'init gives the same parameters for two different keys');
  } finally {
    disposeTree(a);
    disposeTree(b);
    disposeTree(c);
  }
}

/** Checks that every split's `sample(key)` is deterministic and (by default) differs between keys. */
export function checkTaskData(task: Task, options: TaskConformanceOptions = {}): void {
  if (!task.datasets) return;
  const k = foldIn(makeKey(options.seed ?? 0), 11);
  const [k1, k2] = split(k, 2) as [Key, Key];
  for (const splitName of ['train', 'innerValid', 'outerValid', 'test'] as const) {
    const ds = task.datasets[splitName];
    if (!ds) continue;
    const a = ds.sample(k1) as TensorTree;
    const b = ds.sample(k1) as TensorTree;
    const c = ds.sample(k2) as TensorTree;
    try {
      const la = treeLeaves(a);
      const lb = treeLeaves(b);
      const lc = treeLeaves(c);
      if (la.length === 0) fail(task, `${splitName}.sample returned no tensors`);
      let anyDifferent = false;
      la.forEach((x, i) => {
        const xa = x.dataSync();
        const ya = (lb[i] as tf.Tensor).dataSync();
        const za = (lc[i] as tf.Tensor).dataSync();
        if (xa.length !== ya.length) fail(task, `${splitName}.sample gave different shapes for one key`);
        for (let j = 0; j < xa.length; j++) {
          if (xa[j] !== ya[j]) fail(task, `${splitName}.sample(key) is not deterministic at leaf ${i}, index ${j}`);
          if (xa[j] !== za[j]) anyDifferent = true;
        }
      });
      if ((options.batchDependsOnKey ?? true) && !anyDifferent) fail(task, `${splitName}.sample gives the same batch for two different keys`);
    } finally {
      disposeTree(a);
      disposeTree(b);
      disposeTree(c);
    }
  }
}

/** Checks that the loss is a finite float32 scalar, the same for the same inputs. Returns its value. */
export function checkTaskLoss(task: Task, options: TaskConformanceOptions = {}): number {
  const k = makeKey(options.seed ?? 0);
  const [kp, kb, kl] = split(k, 3) as [Key, Key, Key];
  const params = task.init(kp);
  const batch = sampleTrainBatch(task, kb);
  try {
    const l1 = task.loss(params, batch, kl);
    const l2 = task.loss(params, batch, kl);
    const v1 = l1.dataSync()[0] as number;
    const v2 = l2.dataSync()[0] as number;
    const shape = [...l1.shape];
    const dtype = l1.dtype;
    l1.dispose();
    l2.dispose();
    if (shape.length !== 0) fail(task, `loss has shape [${shape}], expected a scalar`);
    if (dtype !== 'float32') fail(task, `loss has dtype ${dtype}, expected float32`);
    if (!Number.isFinite(v1)) fail(task, `loss at init is not finite (${v1})`);
    if (v1 !== v2) fail(task, `loss is not deterministic: ${v1} then ${v2}`);
    if (task.normalizer) {
      const n = task.normalizer(v1);
      const top = task.normalizer(Number.NaN);
      if (!Number.isFinite(n) || !Number.isFinite(top)) fail(task, `normalizer maps ${v1} to ${n} and NaN to ${top}; both must be finite`);
      if (task.normalizer(Infinity) !== top) fail(task, 'normalizer must map +Infinity and NaN to the same top value');
    }
    return v1;
  } finally {
    disposeTree(params);
    disposeBatch(batch);
  }
}

/** Per-check numbers reported by {@link checkTaskGradients}. */
export interface GradientCheckReport {
  /** Loss at the checked point. */
  readonly loss: number;
  /** Global gradient norm. */
  readonly gradNorm: number;
  /** Coordinates checked by finite differences: path, index, analytic and numeric derivative. */
  readonly coordinates: { path: string; index: number; analytic: number; numeric: number }[];
  /** Directional derivative along the normalized gradient: analytic (= gradNorm) and numeric. */
  readonly direction: { analytic: number; numeric: number } | undefined;
}

/**
 * Checks that `tf.valueAndGrads` gives a finite gradient of the right shape for every
 * parameter, that the gradient is not identically zero, and (unless disabled) that it
 * matches central finite differences on one high-gradient coordinate per leaf (up to
 * `maxLeaves`) and along the normalized gradient direction.
 */
export function checkTaskGradients(task: Task, options: TaskConformanceOptions = {}): GradientCheckReport {
  const k = makeKey(options.seed ?? 0);
  const [kp, kb, kl, kc] = split(k, 4) as [Key, Key, Key, Key];
  const params = task.init(kp);
  const batch = sampleTrainBatch(task, kb);
  const { leaves, structure } = treeFlatten(params);
  const paths = treePaths(params);
  const lossOf = (...ls: tf.Tensor[]): tf.Scalar => task.loss(treeUnflatten(structure, ls), batch, kl);
  try {
    const { value, grads } = tf.valueAndGrads(lossOf)(leaves);
    const loss = value.dataSync()[0] as number;
    value.dispose();
    const g = grads.map((t, i) => {
      const leaf = leaves[i] as tf.Tensor;
      if (!t) fail(task, `no gradient for parameter ${paths[i]}`);
      if (t.shape.join(',') !== leaf.shape.join(',')) fail(task, `gradient of ${paths[i]} has shape [${t.shape}], parameter [${leaf.shape}]`);
      const a = Float32Array.from(t.dataSync() as Float32Array);
      t.dispose();
      a.forEach((v, j) => {
        if (!Number.isFinite(v)) fail(task, `gradient of ${paths[i]}[${j}] is not finite (${v})`);
      });
      return a;
    });
    let sq = 0;
    for (const a of g) for (const v of a) sq += v * v;
    const gradNorm = Math.sqrt(sq);
    if (!(gradNorm > 0)) fail(task, 'the gradient is zero for every parameter');
    if (options.finiteDifference === false) return { loss, gradNorm, coordinates: [], direction: undefined };

    const fd = options.finiteDifference ?? {};
    const h = fd.step ?? 1e-2;
    const rtol = fd.rtol ?? 0.05;
    const atol = ((fd.roundingTolerance ?? 3e-6) * Math.max(1, Math.abs(loss))) / h;
    const host = hostCopy(params);
    const evalAt = (perturb: (leaf: number, data: Float32Array) => void): number =>
      tf.tidy(() => {
        const ls = host.leaves.map((a, i) => {
          const copy = Float32Array.from(a);
          perturb(i, copy);
          return tf.tensor(copy, host.shapes[i], 'float32');
        });
        return lossOf(...ls).dataSync()[0] as number;
      });
    const check = (what: string, analytic: number, numeric: number): void => {
      if (!(Math.abs(analytic - numeric) <= atol + rtol * Math.max(Math.abs(analytic), Math.abs(numeric)))) {
        fail(task, `${what}: analytic derivative ${analytic} vs finite difference ${numeric} (step ${h}, rtol ${rtol}, atol ${atol.toExponential(2)})`);
      }
    };
    const coordinates: GradientCheckReport['coordinates'] = [];
    const maxLeaves = fd.maxLeaves ?? 8;
    const order = Array.from(g.keys());
    // Check the leaves with the largest gradients first, one coordinate each: the largest of 16 random candidates.
    order.sort((i, j) => Math.max(...(g[j] as Float32Array).map(Math.abs)) - Math.max(...(g[i] as Float32Array).map(Math.abs)));
    for (const i of order.slice(0, maxLeaves)) {
      const gi = g[i] as Float32Array;
      const candidates = randintArray(foldIn(kc, i), 16, 0, gi.length);
      let index = candidates[0] as number;
      for (const c of candidates) if (Math.abs(gi[c] as number) > Math.abs(gi[index] as number)) index = c;
      const plus = evalAt((leaf, d) => {
        if (leaf === i) d[index] = (d[index] as number) + h;
      });
      const minus = evalAt((leaf, d) => {
        if (leaf === i) d[index] = (d[index] as number) - h;
      });
      const numeric = (plus - minus) / (2 * h);
      const analytic = gi[index] as number;
      coordinates.push({ path: paths[i] as string, index, analytic, numeric });
      check(`d loss / d ${paths[i]}[${index}]`, analytic, numeric);
    }
    const plus = evalAt((leaf, d) => d.forEach((v, j) => (d[j] = v + (h * ((g[leaf] as Float32Array)[j] as number)) / gradNorm)));
    const minus = evalAt((leaf, d) => d.forEach((v, j) => (d[j] = v - (h * ((g[leaf] as Float32Array)[j] as number)) / gradNorm)));
    const numeric = (plus - minus) / (2 * h);
    check('directional derivative along the gradient', gradNorm, numeric);
    return { loss, gradNorm, coordinates, direction: { analytic: gradNorm, numeric } };
  } finally {
    disposeTree(params);
    disposeBatch(batch);
  }
}

/**
 * Runs `leakSteps` steps of plain gradient descent (fresh batch per step, one `tf.tidy`
 * per step, old parameters disposed) and returns the growth of `tf.memory().numTensors`
 * after warm-up; throws when it is not zero.
 */
export function checkTaskNoLeak(task: Task, options: TaskConformanceOptions = {}): number {
  const k = foldIn(makeKey(options.seed ?? 0), 7);
  const lr = options.learningRate ?? 1e-3;
  let params = task.init(k);
  const { structure } = treeFlatten(params);
  const step = (i: number): void => {
    const next = tf.tidy(() => {
      const kb = foldIn(k, i + 1);
      const batch = sampleTrainBatch(task, kb);
      const leaves = treeLeaves(params);
      const grads = tf.grads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch, kb))(leaves);
      return treeUnflatten(structure, leaves.map((p, j) => tf.sub(p, tf.mul(lr, grads[j] as tf.Tensor))));
    });
    disposeTree(params);
    params = next;
  };
  try {
    const growth = leakCheck(step, options.leakSteps ?? 50);
    if (growth !== 0) fail(task, `${growth} tensors leaked over ${options.leakSteps ?? 50} training steps`);
    return growth;
  } finally {
    if (treeLeaves(params).every((t) => isTensor(t) && !t.isDisposed)) disposeTree(params);
  }
}

/** Runs every task check (init, data, loss, gradients, leak); throws an Error naming the first failure. */
export function checkTaskConformance(task: Task, options: TaskConformanceOptions = {}): void {
  checkTaskInit(task, options);
  checkTaskData(task, options);
  checkTaskLoss(task, options);
  checkTaskGradients(task, options);
  checkTaskNoLeak(task, options);
}

/**
 * Registers the task conformance suite as vitest tests: one `describe` named after the
 * task with a test per check. `makeTask` is called lazily inside each test.
 *
 * @example
 * ```ts
 * import { describeTaskConformance } from '@lopt/testkit';
 * describeTaskConformance('my task', () => myTask({ dim: 4 }));
 * ```
 */
export function describeTaskConformance(name: string, makeTask: () => Task, options: TaskConformanceOptions = {}): void {
  describe(`task conformance: ${name}`, () => {
    it('init is deterministic for a key', () => checkTaskInit(makeTask(), options));
    it('batches are deterministic for a key', () => checkTaskData(makeTask(), options));
    it('loss is a finite float32 scalar', () => {
      checkTaskLoss(makeTask(), options);
    });
    it('gradients exist for every parameter and match finite differences', () => {
      checkTaskGradients(makeTask(), options);
    });
    it('training steps leak no tensors', () => {
      checkTaskNoLeak(makeTask(), options);
    });
  });
}
