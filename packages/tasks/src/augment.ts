import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  checkNumber,
  checkOneOf,
  disposeTree,
  foldIn,
  keyFromJSON,
  keyToJSON,
  split,
  treeFlatten,
  treeUnflatten,
  uniformArray,
  type Dataset,
  type Datasets,
  type Key,
  type Task,
  type TaskFamily,
  type TensorTree,
} from '@lopt/core';
import { checkRecord, logUniform, scalarTidy, stopGradient } from './common.js';

/** Levels of {@link reparamWeights}: one scale for all parameters, one per tensor, one per element. */
export const REPARAM_LEVELS = ['global', 'tensor', 'parameter'] as const;
/** One of {@link REPARAM_LEVELS}. */
export type ReparamLevel = (typeof REPARAM_LEVELS)[number];

/**
 * A reparameterization: `global` uses `scale`; `tensor` and `parameter` draw scales
 * log-uniformly in `[minScale, maxScale]` from `key` (per leaf in tree order, or per
 * element), so the config stays small and JSON. JSON.
 */
export interface ReparamConfig {
  /** Granularity of the scales. */
  readonly level: ReparamLevel;
  /** The scale (`global` level). */
  readonly scale?: number;
  /** Key `[k0, k1]` of the scales (`tensor` and `parameter` levels). */
  readonly key?: [number, number];
  /** Smallest scale. Default 0.01 (learned_optimization's range). */
  readonly minScale?: number;
  /** Largest scale. Default 100. */
  readonly maxScale?: number;
}

function checkReparam(cfg: unknown): Required<Pick<ReparamConfig, 'level' | 'minScale' | 'maxScale'>> & ReparamConfig {
  const c = checkRecord('reparam', cfg);
  const level = checkOneOf('reparam.level', c.level, REPARAM_LEVELS);
  const minScale = checkNumber('reparam.minScale', c.minScale ?? 0.01, { greaterThan: 0 });
  const maxScale = checkNumber('reparam.maxScale', c.maxScale ?? 100, { min: minScale });
  if (level === 'global') {
    return { level, minScale, maxScale, scale: checkNumber('reparam.scale', c.scale, { greaterThan: 0 }) };
  }
  return { level, minScale, maxScale, key: keyToJSON(keyFromJSON(c.key)) };
}

/**
 * Reparameterizes a task's weights (learned_optimization's `ReparamWeights`): the wrapped
 * task stores `w / s` and computes its loss at `w = p * s`. The function is unchanged, the
 * training dynamics are not: parameters become more or less sensitive by `s`.
 */
export function reparamWeights(task: Task, config: ReparamConfig): Task {
  const cfg = checkReparam(config);
  let scalesCache: Float32Array[] | undefined;
  const scalesFor = (leaves: readonly tf.Tensor[]): Float32Array[] => {
    if (scalesCache && scalesCache.length === leaves.length && scalesCache.every((s, i) => s.length === (leaves[i] as tf.Tensor).size || s.length === 1)) return scalesCache;
    scalesCache = leaves.map((leaf, i) => {
      if (cfg.level === 'global') return Float32Array.of(cfg.scale as number);
      const k = foldIn(keyFromJSON(cfg.key), i);
      const n = cfg.level === 'tensor' ? 1 : leaf.size;
      return Float32Array.from(uniformArray(k, n), (u) => logUniform(u, cfg.minScale, cfg.maxScale));
    });
    return scalesCache;
  };
  const scaleTensor = (s: Float32Array, leaf: tf.Tensor): tf.Tensor => (s.length === 1 ? tf.scalar(s[0] as number) : tf.tensor(s, leaf.shape, 'float32'));
  const wrapped: Task = {
    name: `reparam-${cfg.level}(${task.name})`,
    init: (k: Key) => {
      const p = task.init(k);
      const { leaves, structure } = treeFlatten(p);
      const scales = scalesFor(leaves);
      const out = tf.tidy(() => leaves.map((x, i) => tf.div(x, scaleTensor(scales[i] as Float32Array, x))));
      disposeTree(p);
      return treeUnflatten(structure, out);
    },
    loss: (params: TensorTree, batch: TensorTree, key?: Key) =>
      scalarTidy(() => {
        const { leaves, structure } = treeFlatten(params);
        const scales = scalesFor(leaves);
        const real = leaves.map((x, i) => tf.mul(x, scaleTensor(scales[i] as Float32Array, x)));
        return task.loss(treeUnflatten(structure, real), batch, key);
      }),
  };
  return withPassThrough(wrapped, task);
}

function withPassThrough(wrapped: Task, inner: Task, datasets: Datasets | undefined = inner.datasets): Task {
  const out: { -readonly [K in keyof Task]: Task[K] } = { ...wrapped };
  if (datasets) out.datasets = datasets;
  if (inner.normalizer) out.normalizer = inner.normalizer.bind(inner);
  return out;
}

/**
 * Reduces a task's batch size (learned_optimization's `ReducedBatchsizeTask`): every
 * split's batch keeps its first `max(1, floor(B * fraction))` examples (leading axis).
 */
export function reducedBatchSize(task: Task, fraction: number): Task {
  checkNumber('fraction', fraction, { greaterThan: 0, max: 1 });
  if (!task.datasets) {
    throw new LoptError('INVALID_OPTION', `reducedBatchSize needs a task with datasets; '${task.name}' has none.`, { option: 'task' });
  }
  const reduce = (ds: Dataset): Dataset => ({
    sample: (k: Key) => {
      const batch = ds.sample(k);
      const { leaves, structure } = treeFlatten(batch);
      const out = leaves.map((x) => {
        if (x.rank === 0) return tf.clone(x);
        const b = Math.max(1, Math.floor((x.shape[0] as number) * fraction));
        return tf.slice(x, 0, b);
      });
      disposeTree(batch);
      return treeUnflatten(structure, out);
    },
  });
  const d = task.datasets;
  const datasets: Datasets = { train: reduce(d.train) };
  const mutable = datasets as { -readonly [K in keyof Datasets]: Datasets[K] };
  if (d.innerValid) mutable.innerValid = reduce(d.innerValid);
  if (d.outerValid) mutable.outerValid = reduce(d.outerValid);
  if (d.test) mutable.test = reduce(d.test);
  return withPassThrough(
    { name: `reduced-batch-${Number(fraction.toPrecision(3))}(${task.name})`, init: (k) => task.init(k), loss: (p, b, k) => task.loss(p, b, k) },
    task,
    datasets,
  );
}

/**
 * Normalizes a task's gradient to unit global norm (learned_optimization's
 * `NormalizeTaskGradient`): the loss value is unchanged, `tf.grad` of it returns
 * `g / ||g||` (through `tf.customGrad`; a zero gradient stays zero).
 */
export function normalizeGradient(task: Task): Task {
  const loss = (params: TensorTree, batch: TensorTree, key?: Key): tf.Scalar =>
    scalarTidy(() => {
      const { leaves, structure } = treeFlatten(params);
      const inner = (...ls: tf.Tensor[]): tf.Scalar => task.loss(treeUnflatten(structure, ls), batch, key);
      // The inner gradient is taken inside the loss (a nested gradient when an outer
      // tf.grad differentiates this loss); the returned value is the inner loss value
      // plus a zero-valued linear term whose gradient is the normalized inner gradient.
      const { value, grads } = tf.valueAndGrads(inner)(leaves);
      const norm = tf.maximum(tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))), 1e-30);
      const directions = grads.map((g) => stopGradient(tf.div(g, norm)));
      const linear = tf.addN(leaves.map((p, i) => tf.sum(tf.mul(directions[i] as tf.Tensor, p))));
      return tf.add(stopGradient(value), tf.sub(linear, stopGradient(linear)));
    });
  return withPassThrough({ name: `normalized-gradient(${task.name})`, init: (k) => task.init(k), loss }, task);
}

/** A family whose configs wrap the inner family's configs. JSON. */
export interface WrappedConfig<Inner = unknown> {
  /** The inner family's config. */
  readonly inner: Inner;
}

/** Reparameterized-weights family: each sampled task gets its own scales. */
export function reparamWeightsFamily(family: TaskFamily, options: { level?: ReparamLevel; minScale?: number; maxScale?: number } = {}): TaskFamily<WrappedConfig & { reparam: ReparamConfig }> {
  const level = checkOneOf('level', options.level ?? 'global', REPARAM_LEVELS);
  const minScale = checkNumber('minScale', options.minScale ?? 0.01, { greaterThan: 0 });
  const maxScale = checkNumber('maxScale', options.maxScale ?? 100, { min: minScale });
  return {
    name: `reparam-${level}(${family.name})`,
    sample: (k: Key) => {
      const [k1, k2] = split(k, 2) as [Key, Key];
      return { inner: family.sample(k1), reparam: sampleReparam(k2, level, minScale, maxScale) };
    },
    task: (cfg) => reparamWeights(family.task(checkRecord('cfg', cfg).inner), cfg.reparam),
  };
}

function sampleReparam(k: Key, level: ReparamLevel, minScale: number, maxScale: number): ReparamConfig {
  if (level === 'global') return { level, scale: logUniform(uniformArray(k, 1)[0] as number, minScale, maxScale), minScale, maxScale };
  return { level, key: keyToJSON(k), minScale, maxScale };
}

/** Reduced-batch-size family (every task keeps `fraction` of each batch). */
export function reducedBatchSizeFamily(family: TaskFamily, fraction: number): TaskFamily<WrappedConfig> {
  checkNumber('fraction', fraction, { greaterThan: 0, max: 1 });
  return {
    name: `reduced-batch-${Number(fraction.toPrecision(3))}(${family.name})`,
    sample: (k: Key) => ({ inner: family.sample(k) }),
    task: (cfg) => reducedBatchSize(family.task(checkRecord('cfg', cfg).inner), fraction),
  };
}

/** Normalized-gradient family. */
export function normalizeGradientFamily(family: TaskFamily): TaskFamily<WrappedConfig> {
  return {
    name: `normalized-gradient(${family.name})`,
    sample: (k: Key) => ({ inner: family.sample(k) }),
    task: (cfg) => normalizeGradient(family.task(checkRecord('cfg', cfg).inner)),
  };
}

/** Rates of {@link randomAugmentationFamily} (probability each augmentation is applied). */
export interface AugmentationRates {
  /** Reparameterized weights (level uniform over global/tensor/parameter). Default 5/7 (VeLO's phase-one rate). */
  readonly reparam?: number;
  /** Reduced batch size (fraction log-uniform in [1/16, 1]). Default 0.2. */
  readonly reducedBatch?: number;
  /** Gradient normalization. Default 0.05. */
  readonly normalizeGradient?: number;
}

/** One applied augmentation. JSON. */
export type AugmentationConfig =
  | { readonly kind: 'reparam'; readonly reparam: ReparamConfig }
  | { readonly kind: 'reducedBatch'; readonly fraction: number }
  | { readonly kind: 'normalizeGradient' };

/** Config of {@link randomAugmentationFamily}: the inner config and the augmentations applied, in order. JSON. */
export interface AugmentedConfig<Inner = unknown> extends WrappedConfig<Inner> {
  /** Augmentations, applied innermost first. */
  readonly augmentations: AugmentationConfig[];
}

/** Applies augmentation configs to a task, in order. */
export function applyAugmentations(task: Task, augmentations: readonly AugmentationConfig[]): Task {
  let t = task;
  augmentations.forEach((a, i) => {
    const kind = checkOneOf(`augmentations[${i}].kind`, (a as { kind?: unknown }).kind, ['reparam', 'reducedBatch', 'normalizeGradient'] as const);
    if (kind === 'reparam') t = reparamWeights(t, (a as { reparam: ReparamConfig }).reparam);
    else if (kind === 'reducedBatch') t = t.datasets ? reducedBatchSize(t, (a as { fraction: number }).fraction) : t;
    else t = normalizeGradient(t);
  });
  return t;
}

/**
 * Wraps a family so that each sampled task gets random augmentations, each applied with
 * its rate (VeLO's phase-one task distribution applies such augmentations): reparameterized
 * weights, reduced batch size (tasks with data only) and gradient normalization.
 */
export function randomAugmentationFamily(family: TaskFamily, rates: AugmentationRates = {}): TaskFamily<AugmentedConfig> {
  const reparam = checkNumber('rates.reparam', rates.reparam ?? 5 / 7, { min: 0, max: 1 });
  const reducedBatch = checkNumber('rates.reducedBatch', rates.reducedBatch ?? 0.2, { min: 0, max: 1 });
  const normalize = checkNumber('rates.normalizeGradient', rates.normalizeGradient ?? 0.05, { min: 0, max: 1 });
  return {
    name: `random-augmentation(${family.name})`,
    sample: (k: Key) => {
      const [k1, k2, k3] = split(k, 3) as [Key, Key, Key];
      const u = uniformArray(k2, 6);
      const augmentations: AugmentationConfig[] = [];
      if ((u[0] as number) < reparam) {
        const level = REPARAM_LEVELS[Math.min(2, Math.floor((u[1] as number) * 3))] as ReparamLevel;
        augmentations.push({ kind: 'reparam', reparam: sampleReparam(k3, level, 0.01, 100) });
      }
      if ((u[2] as number) < reducedBatch) augmentations.push({ kind: 'reducedBatch', fraction: Math.fround(logUniform(u[3] as number, 1 / 16, 1)) });
      if ((u[4] as number) < normalize) augmentations.push({ kind: 'normalizeGradient' });
      return { inner: family.sample(k1), augmentations };
    },
    task: (cfg) => {
      const c = checkRecord('cfg', cfg);
      if (!Array.isArray(c.augmentations)) throw new LoptError('INVALID_OPTION', "Option 'cfg.augmentations' must be an array.", { option: 'cfg.augmentations' });
      return applyAugmentations(family.task(c.inner), c.augmentations as AugmentationConfig[]);
    },
  };
}
