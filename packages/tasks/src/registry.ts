import { LoptError, checkKnownKeys, create, register, type FactoryOptions, type Task, type TaskFamily } from '@lopt/core';
import { randomAugmentationFamily, type AugmentationRates } from './augment.js';
import { checkRecord } from './common.js';
import { fixedDimQuadraticFamily, logQuadraticTask, noisyQuadraticFamily, quadraticFamily, quadraticTask, sumQuadraticTask } from './quadratics.js';
import { rastriginTask, rosenbrockTask } from './synthetic.js';
import { convFamily, imageMlpFamily, mixtureFamilyFromOptions } from './families.js';
import { charLstmTask, lmFamily, transformerLmTask } from './lm.js';
import { imageConvTask, imageMlpAutoencoderTask, imageMlpTask } from './image-tasks.js';
import { logisticRegressionTask, mlpClassificationTask, softmaxRegressionTask } from './toy-classification.js';

type TaskFactory = (options: FactoryOptions) => Task;
type FamilyFactory = (options: FactoryOptions) => TaskFamily;
/** name, factory, description, and the option names the factory accepts (others are refused). */
type Entry<F> = readonly [string, F, string, readonly string[]];

// Factories are module-level constants so that registerAll() registers the very same
// function every time (the registry then treats a second call as a no-op).
const TASKS: readonly Entry<TaskFactory>[] = [
  ['quadraticTask', (o) => quadraticTask(o), 'sum(p^2) from p ~ N(0, I); options { dim }', ['dim']],
  ['sumQuadraticTask', (o) => sumQuadraticTask(o), 'sum((a + b)^2) over two vectors; options { dim }', ['dim']],
  ['logQuadraticTask', (o) => logQuadraticTask(o), 'log(sum(p^2)); options { dim }', ['dim']],
  ['rosenbrockTask', (o) => rosenbrockTask(o), 'extended Rosenbrock function; options { dim, a, b }', ['dim', 'a', 'b']],
  ['rastriginTask', (o) => rastriginTask(o), 'Rastrigin function (many local minima); options { dim, amplitude }', ['dim', 'amplitude']],
  ['logisticRegressionTask', (o) => logisticRegressionTask(o), 'logistic regression on generated data; options { dim, batchSize, dataSeed }', ['dim', 'batchSize', 'dataSeed']],
  ['softmaxRegressionTask', (o) => softmaxRegressionTask(o), 'softmax regression on generated data; options { dim, numClasses, batchSize, dataSeed }', ['dim', 'numClasses', 'batchSize', 'dataSeed']],
  ['mlpClassificationTask', (o) => mlpClassificationTask(o), 'MLP on 2-D moons/spirals/blobs; options { dataset, hidden, activation, batchSize, numClasses, noise }', ['dataset', 'hidden', 'activation', 'batchSize', 'numClasses', 'noise', 'dataSeed']],
  ['imageMlpTask', (o) => imageMlpTask(o), 'MLP classifier on MNIST; options { imageSize, hidden, activation, batchSize, initializer, initScale }', ['dataset', 'imageSize', 'hidden', 'activation', 'batchSize', 'initializer', 'initScale']],
  ['imageConvTask', (o) => imageConvTask(o), 'conv net classifier on MNIST; options { imageSize, channels, pool, activation, batchSize }', ['dataset', 'imageSize', 'channels', 'pool', 'activation', 'batchSize', 'initializer', 'initScale']],
  ['imageMlpAutoencoderTask', (o) => imageMlpAutoencoderTask(o), 'MLP autoencoder on MNIST; options { imageSize, hidden, activation, batchSize }', ['dataset', 'imageSize', 'hidden', 'activation', 'batchSize', 'initializer', 'initScale']],
  ['charLstmTask', (o) => charLstmTask(o), 'character-level LSTM language model on public-domain text; options { sequenceLength, batchSize, embedSize, hiddenSize }', ['sequenceLength', 'batchSize', 'embedSize', 'hiddenSize']],
  ['transformerLmTask', (o) => transformerLmTask(o), 'small causal transformer language model on public-domain text; options { sequenceLength, batchSize, modelSize, numHeads, numLayers }', ['sequenceLength', 'batchSize', 'modelSize', 'numHeads', 'numLayers']],
];

const FAMILIES: readonly Entry<FamilyFactory>[] = [
  ['imageMlpFamily', (o) => imageMlpFamily(o) as TaskFamily, 'MNIST MLPs with sampled width, depth, activation, initializer, image and batch size; options { hiddenRange, minLayers, maxLayers, imageSizeRange, batchSizeRange, activations, initializers, initScaleRange }', ['hiddenRange', 'minLayers', 'maxLayers', 'imageSizeRange', 'batchSizeRange', 'activations', 'initializers', 'initScaleRange']],
  ['convFamily', (o) => convFamily(o) as TaskFamily, 'MNIST conv nets with sampled depth, channels, pooling, activation, image and batch size; options { channelRange, maxLayers, imageSizeRange, batchSizeRange }', ['channelRange', 'maxLayers', 'imageSizeRange', 'batchSizeRange']],
  ['lmFamily', (o) => lmFamily(o) as TaskFamily, 'character LSTM / transformer language models with sampled sizes; options { kinds, maxSequenceLength, maxBatchSize, maxWidth }', ['kinds', 'maxSequenceLength', 'maxBatchSize', 'maxWidth']],
  ['randomAugmentationFamily', (o) => augmentedFromOptions(o), 'random task augmentations over a registered family; options { family: { name, options }, rates: { reparam, reducedBatch, normalizeGradient } }', ['family', 'rates']],
  ['mixtureFamily', (o) => mixtureFamilyFromOptions(o) as TaskFamily, 'mixture of registered families; options { families: [{ name, options }], weights }', ['families', 'weights']],
  ['fixedDimQuadraticFamily', (o) => fixedDimQuadraticFamily(o) as TaskFamily, 'quadratics with sampled target and conditioning; options { dim, maxCondition }', ['dim', 'maxCondition']],
  ['quadraticFamily', (o) => quadraticFamily(o) as TaskFamily, 'quadratics with sampled dimension, target and conditioning; options { minDim, maxDim, maxCondition }', ['minDim', 'maxDim', 'maxCondition']],
  ['noisyQuadraticFamily', (o) => noisyQuadraticFamily(o) as TaskFamily, 'noisy quadratic model (sampled spectrum, gradient noise); options { dim, noiseStd, maxScale }', ['dim', 'noiseStd', 'maxScale']],
];

function augmentedFromOptions(options: FactoryOptions): TaskFamily {
  const inner = checkRecord('family', options.family);
  if (typeof inner.name !== 'string') throw new LoptError('INVALID_OPTION', "Option 'family.name' must be a registered task-family name.", { option: 'family.name' });
  const family = create('task-family', inner.name, (inner.options ?? {}) as FactoryOptions);
  return randomAugmentationFamily(family, (options.rates ?? {}) as AugmentationRates) as TaskFamily;
}

/** A factory that refuses option names it does not know (and `__proto__`/`constructor`) before building. */
function strict<F extends (options: FactoryOptions) => unknown>(name: string, factory: F, known: readonly string[]): F {
  return ((options: FactoryOptions = {}) => {
    checkKnownKeys(name, options, known);
    return factory(options);
  }) as F;
}

// Wrapped once at module level, so registerAll() registers the very same functions every time.
const STRICT_TASKS = TASKS.map(([name, factory, description, known]) => [name, strict(name, factory, known), description] as const);
const STRICT_FAMILIES = FAMILIES.map(([name, factory, description, known]) => [name, strict(name, factory, known), description] as const);

/**
 * Registers every built-in task (kind `task`) and task family (kind `task-family`) of
 * `@lopt/tasks` under its factory name, e.g. `create('task', 'quadraticTask', { dim: 10 })`.
 * Each registered factory refuses option names it does not know. Idempotent.
 */
export function registerAll(): void {
  for (const [name, factory, description] of STRICT_TASKS) register('task', name, factory, description);
  for (const [name, factory, description] of STRICT_FAMILIES) register('task-family', name, factory, description);
}
