import { LoptError, checkNumber, checkOneOf, create, split, uniformArray, type FactoryOptions, type Key, type Task, type TaskFamily } from '@lopt/core';
import { checkInt, checkRecord, choose, logUniformInt } from './common.js';
import { imageConvTask, imageMlpTask, type ImageConvTaskOptions, type ImageMlpTaskOptions } from './image-tasks.js';
import { ACTIVATIONS, INITIALIZERS, type Activation, type Initializer } from './nn.js';
import { vectorizedImageMlp } from './vectorized.js';

/** A sampled image-MLP task: exactly the options of {@link imageMlpTask}. JSON. */
export type ImageMlpConfig = {
  dataset: 'mnist';
  imageSize: number;
  hidden: number[];
  activation: Activation;
  initializer: Initializer;
  initScale: number;
  batchSize: number;
};

/** Ranges of {@link imageMlpFamily} (defaults follow learned_optimization's `sample_image_mlp`). */
export interface ImageMlpFamilyOptions {
  /** Hidden width range, sampled log-uniformly. Default [8, 128]. */
  readonly hiddenRange?: readonly [number, number];
  /** Largest depth; depth is uniform in minLayers..maxLayers. Default 4. */
  readonly maxLayers?: number;
  /** Smallest depth (0 is softmax regression). Default 0. */
  readonly minLayers?: number;
  /** Image side range, sampled log-uniformly. Default [4, 28]. */
  readonly imageSizeRange?: readonly [number, number];
  /** Batch size range, sampled log-uniformly. Default [4, 512]. */
  readonly batchSizeRange?: readonly [number, number];
  /** Activations sampled uniformly. Default all 12 of {@link ACTIVATIONS}. */
  readonly activations?: readonly Activation[];
  /** Initializers sampled uniformly. Default the 5 non-default ones of {@link INITIALIZERS}. */
  readonly initializers?: readonly Initializer[];
  /** Initializer scale range, sampled uniformly. Default [0.5, 2]. */
  readonly initScaleRange?: readonly [number, number];
}

/** Validates a non-empty list of distinct choices from `allowed`. */
function checkChoices<T extends string>(option: string, value: unknown, fallback: readonly T[], allowed: readonly T[]): readonly T[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || value.length === 0) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be a non-empty array of: ${allowed.join(', ')}.`, { option });
  }
  const out = value.map((v, i) => checkOneOf(`${option}[${i}]`, v, allowed));
  if (new Set(out).size !== out.length) throw new LoptError('INVALID_OPTION', `Option '${option}' lists a value twice.`, { option });
  return out;
}

/** Validates an initializer-scale range `[low, high]` with `0 < low <= high <= 1000` (what the tasks accept). */
function checkScaleRange(option: string, value: unknown, fallback: readonly [number, number]): [number, number] {
  const v = value ?? fallback;
  if (!Array.isArray(v) || v.length !== 2) throw new LoptError('INVALID_OPTION', `Option '${option}' must be [low, high].`, { option });
  const lo = checkNumber(`${option}[0]`, v[0], { greaterThan: 0, max: 1000 });
  const hi = checkNumber(`${option}[1]`, v[1], { min: lo, max: 1000 });
  return [lo, hi];
}

function checkRange(option: string, value: unknown, fallback: readonly [number, number], min: number, max: number): [number, number] {
  const v = value ?? fallback;
  if (!Array.isArray(v) || v.length !== 2) throw new LoptError('INVALID_OPTION', `Option '${option}' must be [low, high].`, { option });
  const lo = checkInt(`${option}[0]`, v[0], min, max);
  const hi = checkInt(`${option}[1]`, v[1], lo, max);
  return [lo, hi];
}

/** The LO initializer choices (the default Haiku one is not sampled) and scale range. */
const SAMPLED_INITIALIZERS = INITIALIZERS.filter((i) => i !== 'default');

/**
 * Image MLP tasks on MNIST with sampled width, depth, activation (12), initializer (5) and
 * scale `U[0.5, 2)`, image size and batch size (log-uniform), as learned_optimization's
 * `ParametricImageMLP` / `sample_image_mlp`. `task(cfg)` is `imageMlpTask(cfg)`. The
 * options narrow every range and choice (for a family one learned optimizer specializes to).
 */
export function imageMlpFamily(options: ImageMlpFamilyOptions = {}): TaskFamily<ImageMlpConfig> {
  const hiddenRange = checkRange('hiddenRange', options.hiddenRange, [8, 128], 1, 8192);
  const maxLayers = checkInt('maxLayers', options.maxLayers ?? 4, 0, 16);
  const minLayers = checkInt('minLayers', options.minLayers ?? 0, 0, maxLayers);
  const imageSizeRange = checkRange('imageSizeRange', options.imageSizeRange, [4, 28], 4, 28);
  const batchSizeRange = checkRange('batchSizeRange', options.batchSizeRange, [4, 512], 1, 100_000);
  const activations = checkChoices('activations', options.activations, ACTIVATIONS, ACTIVATIONS);
  const initializers = checkChoices('initializers', options.initializers, SAMPLED_INITIALIZERS, INITIALIZERS);
  const [scaleLow, scaleHigh] = checkScaleRange('initScaleRange', options.initScaleRange, [0.5, 2]);
  const depths = maxLayers - minLayers + 1;
  return {
    name: 'image-mlp-family',
    sample: (k: Key) => {
      const u = uniformArray(k, 7);
      const width = logUniformInt(u[0] as number, ...hiddenRange);
      const layers = minLayers + Math.min(depths - 1, Math.floor((u[1] as number) * depths));
      return {
        dataset: 'mnist',
        imageSize: logUniformInt(u[2] as number, ...imageSizeRange),
        hidden: new Array<number>(layers).fill(width),
        activation: choose(u[3] as number, activations),
        initializer: choose(u[4] as number, initializers),
        initScale: Math.fround(scaleLow + (scaleHigh - scaleLow) * (u[5] as number)),
        batchSize: logUniformInt(u[6] as number, ...batchSizeRange),
      };
    },
    task: (cfg: ImageMlpConfig) => imageMlpTask(checkRecord('cfg', cfg) as ImageMlpTaskOptions),
    vectorized: (cfgs: readonly ImageMlpConfig[]) => vectorizedImageMlp(cfgs),
  };
}

/** A sampled conv task: exactly the options of {@link imageConvTask}. JSON. */
export type ConvConfig = {
  dataset: 'mnist';
  imageSize: number;
  channels: number[];
  pool: 'avg' | 'max';
  activation: Activation;
  initializer: Initializer;
  initScale: number;
  batchSize: number;
};

/** Ranges of {@link convFamily}. */
export interface ConvFamilyOptions {
  /** Channel range, sampled log-uniformly per layer. Default [4, 32]. */
  readonly channelRange?: readonly [number, number];
  /** Largest number of conv layers; uniform in 1..maxLayers. Default 3. */
  readonly maxLayers?: number;
  /** Image side range, log-uniform. Default [8, 28]. */
  readonly imageSizeRange?: readonly [number, number];
  /** Batch size range, log-uniform. Default [4, 128]. */
  readonly batchSizeRange?: readonly [number, number];
}

/** Conv-net classifiers on MNIST with sampled depth, channels, pooling, activation, initializer, image and batch size. */
export function convFamily(options: ConvFamilyOptions = {}): TaskFamily<ConvConfig> {
  const channelRange = checkRange('channelRange', options.channelRange, [4, 32], 1, 1024);
  const maxLayers = checkInt('maxLayers', options.maxLayers ?? 3, 1, 8);
  const imageSizeRange = checkRange('imageSizeRange', options.imageSizeRange, [8, 28], 4, 28);
  const batchSizeRange = checkRange('batchSizeRange', options.batchSizeRange, [4, 128], 1, 100_000);
  return {
    name: 'conv-family',
    sample: (k: Key) => {
      const [k1, k2] = split(k, 2) as [Key, Key];
      const u = uniformArray(k1, 7);
      const layers = 1 + Math.min(maxLayers - 1, Math.floor((u[0] as number) * maxLayers));
      const cu = uniformArray(k2, layers);
      return {
        dataset: 'mnist',
        imageSize: logUniformInt(u[1] as number, ...imageSizeRange),
        channels: Array.from(cu, (c) => logUniformInt(c, ...channelRange)),
        pool: choose(u[2] as number, ['avg', 'max'] as const),
        activation: choose(u[3] as number, ACTIVATIONS),
        initializer: choose(u[4] as number, SAMPLED_INITIALIZERS),
        initScale: Math.fround(0.5 + 1.5 * (u[5] as number)),
        batchSize: logUniformInt(u[6] as number, ...batchSizeRange),
      };
    },
    task: (cfg: ConvConfig) => imageConvTask(checkRecord('cfg', cfg) as ImageConvTaskOptions),
  };
}

/** Config of {@link mixtureFamily}: which component and its config. JSON. */
export interface MixtureConfig {
  /** Index of the component family. */
  readonly component: number;
  /** Name of the component family (checked when the task is built). */
  readonly family: string;
  /** The component's config. */
  readonly cfg: unknown;
}

/**
 * A mixture of task families: `sample` picks a component with probability proportional
 * to `weights` (default uniform), then samples its config.
 */
export function mixtureFamily(families: readonly TaskFamily[], weights?: readonly number[]): TaskFamily<MixtureConfig> {
  if (!Array.isArray(families) || families.length === 0) {
    throw new LoptError('INVALID_OPTION', "Option 'families' must be a non-empty array of task families.", { option: 'families' });
  }
  const w = weights ?? families.map(() => 1);
  if (w.length !== families.length) throw new LoptError('INVALID_OPTION', `Option 'weights' must have one weight per family (${families.length}), got ${w.length}.`, { option: 'weights' });
  w.forEach((x, i) => checkNumber(`weights[${i}]`, x, { min: 0 }));
  const total = w.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new LoptError('INVALID_OPTION', "Option 'weights' must have a positive sum.", { option: 'weights' });
  const cumulative = w.map(((acc) => (x: number) => (acc += x / total))(0));
  return {
    name: `mixture(${families.map((f) => f.name).join(',')})`,
    sample: (k: Key) => {
      const [k1, k2] = split(k, 2) as [Key, Key];
      const u = uniformArray(k1, 1)[0] as number;
      let component = cumulative.findIndex((c) => u < c);
      if (component < 0) component = families.length - 1;
      const fam = families[component] as TaskFamily;
      return { component, family: fam.name, cfg: fam.sample(k2) };
    },
    task: (cfg: MixtureConfig): Task => {
      const c = checkRecord('cfg', cfg);
      const component = checkInt('cfg.component', c.component, 0, families.length - 1);
      const fam = families[component] as TaskFamily;
      if (c.family !== fam.name) {
        throw new LoptError('INVALID_OPTION', `Mixture config names family '${String(c.family)}' but component ${component} is '${fam.name}'.`, { option: 'cfg.family' });
      }
      return fam.task(c.cfg);
    },
  };
}

/**
 * Builds a {@link mixtureFamily} from registry names (for the CLI and JSON configs):
 * `{ families: [{ name: 'imageMlpFamily', options: {...} }, ...], weights?: [...] }`.
 */
export function mixtureFamilyFromOptions(options: FactoryOptions): TaskFamily<MixtureConfig> {
  const list = options.families;
  if (!Array.isArray(list) || list.length === 0) {
    throw new LoptError('INVALID_OPTION', "Option 'families' must be a non-empty array of { name, options }.", { option: 'families' });
  }
  const families = list.map((entry, i) => {
    const e = checkRecord(`families[${i}]`, entry);
    if (typeof e.name !== 'string') throw new LoptError('INVALID_OPTION', `Option 'families[${i}].name' must be a registered task-family name.`, { option: `families[${i}].name` });
    return create('task-family', e.name, (e.options ?? {}) as FactoryOptions);
  });
  return mixtureFamily(families, options.weights as number[] | undefined);
}
