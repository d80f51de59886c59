import { LoptError, create, has, key as makeKey, list, type FactoryOptions, type Task, type TaskFamily } from '@lopt/core';
import { registerAll as registerTasks } from '@lopt/tasks';
import type { SearchSpace } from './baselines.js';
import { validateSpace } from './search.js';

/** A registered task, or one sample of a registered task family, with its options. */
export interface SuiteTaskSource {
  /** Registered task name (kind `task`), e.g. `imageMlpTask`. */
  readonly task?: string;
  /** Registered task-family name (kind `task-family`), e.g. `noisyQuadraticFamily`; needs `sample`. */
  readonly family?: string;
  /** Factory options (JSON). */
  readonly options?: Readonly<Record<string, unknown>>;
  /** Seed of the family sample (`family.sample(key(sample))`). */
  readonly sample?: number;
}

/** One task of a suite: its configuration and its horizon. */
export interface SuiteTask extends SuiteTaskSource {
  /** Stable identifier inside the suite (used in tables and cache keys). */
  readonly id: string;
  /** Training steps (the horizon). */
  readonly steps: number;
  /** Curve points are logged every this many steps. Default `steps / 20`. */
  readonly evalEvery?: number;
}

/** A named, versioned benchmark suite: tasks, horizons and seeds. */
export interface Suite {
  /** Name, e.g. `small-v1` (the version is part of the name and never changes meaning). */
  readonly name: string;
  /** One line for listings. */
  readonly description: string;
  /** Evaluation seeds: each task is trained once per seed with every optimizer. */
  readonly seeds: readonly number[];
  /** Seeds of the baselines' tuning runs: disjoint from `seeds` (other initial parameters and batches). */
  readonly tuningSeeds: readonly number[];
  /** Batches averaged per logged train / held-out loss. */
  readonly evalBatches: number;
  /** The tasks. */
  readonly tasks: readonly SuiteTask[];
  /** Search spaces that replace the baselines' own, by baseline name (the suite's tuning budget). */
  readonly spaces?: Readonly<Record<string, SearchSpace>>;
}

/** The built-in suites' seeds: evaluation seeds 0..count-1 and one tuning seed, 1000, disjoint from them. */
const builtinSeeds = (count: number): Pick<Suite, 'seeds' | 'tuningSeeds'> => ({ seeds: Array.from({ length: count }, (_, i) => i), tuningSeeds: [1000] });

const MNIST_MLP = (id: string, imageSize: number, hidden: number[], steps: number): SuiteTask => ({ id, task: 'imageMlpTask', options: { imageSize, hidden, batchSize: 128 }, steps });

/**
 * `small-v1`: 12 tasks none of lopt's built-in learned optimizers or presets was
 * meta-trained on (the quickstart trains softmax regression on 8x8 MNIST; these have hidden
 * layers, other resolutions, other architectures), sized so one optimizer runs the whole
 * suite (3 seeds) in under 30 minutes on 2 cores with cached baselines.
 */
export const SMALL_V1: Suite = {
  name: 'small-v1',
  description: '12 CPU-sized tasks (MNIST MLPs 8/14/28 px, conv, autoencoder, char-LSTM, transformer LM, logistic regression, noisy quadratic), 500-2000 steps, 3 seeds',
  ...builtinSeeds(3),
  evalBatches: 2,
  tasks: [
    MNIST_MLP('mnist8-mlp32', 8, [32], 1000),
    MNIST_MLP('mnist8-mlp64x64', 8, [64, 64], 1000),
    MNIST_MLP('mnist14-mlp32', 14, [32], 1000),
    MNIST_MLP('mnist14-mlp64x64', 14, [64, 64], 1000),
    MNIST_MLP('mnist28-mlp32', 28, [32], 500),
    MNIST_MLP('mnist28-mlp64x64', 28, [64, 64], 500),
    { id: 'mnist8-conv', task: 'imageConvTask', options: { imageSize: 8, channels: [8, 16], batchSize: 64 }, steps: 500 },
    { id: 'mnist14-mlp-ae', task: 'imageMlpAutoencoderTask', options: { imageSize: 14, hidden: [32], batchSize: 64 }, steps: 1000 },
    { id: 'char-lstm', task: 'charLstmTask', options: { sequenceLength: 16, batchSize: 16, embedSize: 16, hiddenSize: 32 }, steps: 500 },
    { id: 'transformer-lm', task: 'transformerLmTask', options: { sequenceLength: 16, batchSize: 8, modelSize: 32, numHeads: 2, numLayers: 1 }, steps: 500 },
    { id: 'logistic-regression', task: 'logisticRegressionTask', options: { dim: 20, batchSize: 64, dataSeed: 3 }, steps: 2000 },
    { id: 'noisy-quadratic', family: 'noisyQuadraticFamily', options: { dim: 20, noiseStd: 1 }, sample: 7, steps: 2000 },
  ],
};

/** `medium-v1`: the same kinds of task, wider and longer (hours on 2 cores). */
export const MEDIUM_V1: Suite = {
  name: 'medium-v1',
  description: 'wider MNIST MLPs and conv nets, bigger language models, 2000-5000 steps, 3 seeds',
  ...builtinSeeds(3),
  evalBatches: 4,
  tasks: [
    MNIST_MLP('mnist14-mlp128x128', 14, [128, 128], 3000),
    MNIST_MLP('mnist28-mlp128', 28, [128], 3000),
    MNIST_MLP('mnist28-mlp256x256', 28, [256, 256], 3000),
    { id: 'mnist14-conv', task: 'imageConvTask', options: { imageSize: 14, channels: [16, 32], batchSize: 128 }, steps: 2000 },
    { id: 'mnist28-mlp-ae', task: 'imageMlpAutoencoderTask', options: { imageSize: 28, hidden: [128, 32, 128], batchSize: 128 }, steps: 3000 },
    { id: 'char-lstm-64', task: 'charLstmTask', options: { sequenceLength: 32, batchSize: 32, embedSize: 32, hiddenSize: 64 }, steps: 3000 },
    { id: 'transformer-lm-64', task: 'transformerLmTask', options: { sequenceLength: 32, batchSize: 16, modelSize: 64, numHeads: 4, numLayers: 2 }, steps: 3000 },
    { id: 'logistic-regression-100', task: 'logisticRegressionTask', options: { dim: 100, batchSize: 128, dataSeed: 5 }, steps: 5000 },
    { id: 'noisy-quadratic-100', family: 'noisyQuadraticFamily', options: { dim: 100, noiseStd: 1 }, sample: 11, steps: 5000 },
  ],
};

/** Five learning rates a half-decade apart, 1e-3 to 1e-1: the demo's tuning grid. */
export const DEMO_LEARNING_RATES: readonly number[] = [0.001, 0.00316, 0.01, 0.0316, 0.1];

/**
 * `demo-v1`: what `lopt demo` trains, sized for a few minutes on 2 cores. Three held-out
 * MNIST tasks with hidden layers, 500 steps, 2 seeds: a 14x14 MLP [128, 64], a 28x28 MLP
 * [64, 32] and a 14x14 conv net [8, 16]. Their image sizes and uneven widths are outside
 * every meta-training family of lopt's presets and configs (a CLI test checks
 * `configs/*.json`). Baselines search the 5-point {@link DEMO_LEARNING_RATES} grid.
 */
export const DEMO_V1: Suite = {
  name: 'demo-v1',
  description: '3 held-out MNIST tasks with hidden layers (MLPs 14 px [128, 64] and 28 px [64, 32], conv net 14 px [8, 16]), 500 steps, 2 seeds; 5-point learning-rate grids',
  ...builtinSeeds(2),
  evalBatches: 2,
  spaces: { adam: { learningRate: { grid: DEMO_LEARNING_RATES } }, 'adamw-cosine': { peakValue: { grid: DEMO_LEARNING_RATES } } },
  tasks: [
    MNIST_MLP('mnist14-mlp128x64', 14, [128, 64], 500),
    MNIST_MLP('mnist28-mlp64x32', 28, [64, 32], 500),
    { id: 'mnist14-conv8x16', task: 'imageConvTask', options: { imageSize: 14, channels: [8, 16], batchSize: 64 }, steps: 500 },
  ],
};

/** The built-in suites by name. */
export const SUITES: Readonly<Record<string, Suite>> = { 'small-v1': SMALL_V1, 'medium-v1': MEDIUM_V1, 'demo-v1': DEMO_V1 };

/** The built-in suite called `name` (`small-v1` or `suite:small-v1`); `LoptError('UNKNOWN_NAME')` listing the known ones otherwise. */
export function getSuite(name: string): Suite {
  const bare = typeof name === 'string' ? name.replace(/^suite:/, '') : name;
  const suite = typeof bare === 'string' ? SUITES[bare] : undefined;
  if (!suite) throw new LoptError('UNKNOWN_NAME', `No suite named ${JSON.stringify(name)}. Known suites: ${Object.keys(SUITES).join(', ')}.`, { option: 'suite' });
  return suite;
}

function fail(path: string, message: string, code: 'INVALID_OPTION' | 'UNKNOWN_NAME' = 'INVALID_OPTION'): never {
  throw new LoptError(code, `Suite ${path}: ${message}`, { path, option: path });
}

function checkSeeds(path: string, seeds: unknown, allowEmpty = false): void {
  if (!Array.isArray(seeds) || (!allowEmpty && seeds.length === 0)) fail(path, 'must be a non-empty array of seeds.');
  seeds.forEach((s, i) => {
    if (!Number.isInteger(s) || (s as number) < 0) fail(`${path}[${i}]`, `must be an integer >= 0, got ${JSON.stringify(s)}.`);
  });
}

function checkTaskSource(path: string, t: SuiteTaskSource): void {
  if ((t.task === undefined) === (t.family === undefined)) fail(path, "needs exactly one of 'task' (a registered task) or 'family' (a registered task family).");
  if (t.task !== undefined && !has('task', t.task)) {
    fail(`${path}.task`, `unknown task ${JSON.stringify(t.task)}. Registered tasks: ${list('task').map((e) => e.name).join(', ')}.`, 'UNKNOWN_NAME');
  }
  if (t.family !== undefined && !has('task-family', t.family)) {
    fail(`${path}.family`, `unknown task family ${JSON.stringify(t.family)}. Registered families: ${list('task-family').map((e) => e.name).join(', ')}.`, 'UNKNOWN_NAME');
  }
  if (t.family !== undefined && (!Number.isInteger(t.sample) || (t.sample as number) < 0)) fail(`${path}.sample`, 'a family task needs an integer sample seed >= 0.');
  if (t.options !== undefined && (typeof t.options !== 'object' || t.options === null || Array.isArray(t.options))) fail(`${path}.options`, 'must be an object.');
}

function checkSuiteTask(path: string, t: unknown, ids: Set<string>): void {
  if (!t || typeof t !== 'object') fail(path, 'must be an object { id, task | family, options, steps }.');
  const s = t as SuiteTask;
  if (typeof s.id !== 'string' || s.id.length === 0) fail(`${path}.id`, 'must be a non-empty string.');
  if (ids.has(s.id)) fail(`${path}.id`, `duplicate id ${JSON.stringify(s.id)}.`);
  ids.add(s.id);
  checkTaskSource(path, s);
  if (!Number.isInteger(s.steps) || s.steps < 1) fail(`${path}.steps`, `must be an integer >= 1, got ${JSON.stringify(s.steps)}.`);
  if (s.evalEvery !== undefined && (!Number.isInteger(s.evalEvery) || s.evalEvery < 1)) fail(`${path}.evalEvery`, 'must be an integer >= 1.');
}

/**
 * Validates a suite (built-in or read from a JSON file) and returns it typed: names, seeds,
 * disjoint tuning seeds, unique task ids, registered task and family names (after
 * `@lopt/tasks`' `registerAll()`), horizons. Throws `LoptError` naming the offending path,
 * e.g. `tasks[3].task`.
 */
export function validateSuite(value: unknown): Suite {
  registerTasks();
  if (!value || typeof value !== 'object' || Array.isArray(value)) fail('(root)', 'must be an object { name, description, seeds, tuningSeeds, evalBatches, tasks }.');
  const s = value as Suite;
  if (typeof s.name !== 'string' || s.name.length === 0) fail('name', 'must be a non-empty string.');
  checkSeeds('seeds', s.seeds);
  checkSeeds('tuningSeeds', s.tuningSeeds);
  const clash = s.tuningSeeds.find((t) => s.seeds.includes(t));
  if (clash !== undefined) fail('tuningSeeds', `seed ${clash} is also an evaluation seed; tuning must not see the evaluation runs.`);
  if (!Number.isInteger(s.evalBatches) || s.evalBatches < 1) fail('evalBatches', 'must be an integer >= 1.');
  if (!Array.isArray(s.tasks) || s.tasks.length === 0) fail('tasks', 'must be a non-empty array.');
  const ids = new Set<string>();
  s.tasks.forEach((t, i) => checkSuiteTask(`tasks[${i}]`, t, ids));
  if (s.spaces !== undefined) {
    if (!s.spaces || typeof s.spaces !== 'object' || Array.isArray(s.spaces)) fail('spaces', 'must be an object { baseline: search space }.');
    for (const [name, space] of Object.entries(s.spaces)) {
      try {
        validateSpace(space);
      } catch (e) {
        fail(`spaces.${name}`, (e as Error).message);
      }
    }
  }
  return { ...s, description: typeof s.description === 'string' ? s.description : '' };
}

/** Builds the task of a suite entry from the registry (validate the suite first). */
export function buildSuiteTask(source: SuiteTaskSource): Task {
  registerTasks();
  const options = (source.options ?? {}) as FactoryOptions;
  if (source.task !== undefined) return create('task', source.task, options);
  const family: TaskFamily = create('task-family', source.family as string, options);
  return family.task(family.sample(makeKey(source.sample ?? 0)));
}

/** How many logged points a suite task's curves have between steps: its `evalEvery`, else `steps / 20`. */
export function suiteEvalEvery(t: SuiteTask): number {
  return t.evalEvery ?? Math.max(1, Math.round(t.steps / 20));
}
