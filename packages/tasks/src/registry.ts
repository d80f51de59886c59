import { LoptError, create, register, type FactoryOptions, type Task, type TaskFamily } from '@lopt/core';
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

// Factories are module-level constants so that registerAll() registers the very same
// function every time (the registry then treats a second call as a no-op).
const TASKS: readonly [string, TaskFactory, string][] = [
  ['quadraticTask', (o) => quadraticTask(o), 'sum(p^2) from p ~ N(0, I); options { dim }'],
  ['sumQuadraticTask', (o) => sumQuadraticTask(o), 'sum((a + b)^2) over two vectors; options { dim }'],
  ['logQuadraticTask', (o) => logQuadraticTask(o), 'log(sum(p^2)); options { dim }'],
  ['rosenbrockTask', (o) => rosenbrockTask(o), 'extended Rosenbrock function; options { dim, a, b }'],
  ['rastriginTask', (o) => rastriginTask(o), 'Rastrigin function (many local minima); options { dim, amplitude }'],
  ['logisticRegressionTask', (o) => logisticRegressionTask(o), 'logistic regression on generated data; options { dim, batchSize, dataSeed }'],
  ['softmaxRegressionTask', (o) => softmaxRegressionTask(o), 'softmax regression on generated data; options { dim, numClasses, batchSize, dataSeed }'],
  ['mlpClassificationTask', (o) => mlpClassificationTask(o), 'MLP on 2-D moons/spirals/blobs; options { dataset, hidden, activation, batchSize, numClasses, noise }'],
  ['imageMlpTask', (o) => imageMlpTask(o), 'MLP classifier on MNIST; options { imageSize, hidden, activation, batchSize, initializer, initScale }'],
  ['imageConvTask', (o) => imageConvTask(o), 'conv net classifier on MNIST; options { imageSize, channels, pool, activation, batchSize }'],
  ['imageMlpAutoencoderTask', (o) => imageMlpAutoencoderTask(o), 'MLP autoencoder on MNIST; options { imageSize, hidden, activation, batchSize }'],
  ['charLstmTask', (o) => charLstmTask(o), 'character-level LSTM language model on public-domain text; options { sequenceLength, batchSize, embedSize, hiddenSize }'],
  ['transformerLmTask', (o) => transformerLmTask(o), 'small causal transformer language model on public-domain text; options { sequenceLength, batchSize, modelSize, numHeads, numLayers }'],
];

const FAMILIES: readonly [string, FamilyFactory, string][] = [
  ['imageMlpFamily', (o) => imageMlpFamily(o) as TaskFamily, 'MNIST MLPs with sampled width, depth, activation, initializer, image and batch size; options { hiddenRange, minLayers, maxLayers, imageSizeRange, batchSizeRange, activations, initializers, initScaleRange }'],
  ['convFamily', (o) => convFamily(o) as TaskFamily, 'MNIST conv nets with sampled depth, channels, pooling, activation, image and batch size; options { channelRange, maxLayers, imageSizeRange, batchSizeRange }'],
  ['lmFamily', (o) => lmFamily(o) as TaskFamily, 'character LSTM / transformer language models with sampled sizes; options { kinds, maxSequenceLength, maxBatchSize, maxWidth }'],
  ['randomAugmentationFamily', (o) => augmentedFromOptions(o), 'random task augmentations over a registered family; options { family: { name, options }, rates: { reparam, reducedBatch, normalizeGradient } }'],
  ['mixtureFamily', (o) => mixtureFamilyFromOptions(o) as TaskFamily, 'mixture of registered families; options { families: [{ name, options }], weights }'],
  ['fixedDimQuadraticFamily', (o) => fixedDimQuadraticFamily(o) as TaskFamily, 'quadratics with sampled target and conditioning; options { dim, maxCondition }'],
  ['quadraticFamily', (o) => quadraticFamily(o) as TaskFamily, 'quadratics with sampled dimension, target and conditioning; options { minDim, maxDim, maxCondition }'],
  ['noisyQuadraticFamily', (o) => noisyQuadraticFamily(o) as TaskFamily, 'noisy quadratic model (sampled spectrum, gradient noise); options { dim, noiseStd, maxScale }'],
];

function augmentedFromOptions(options: FactoryOptions): TaskFamily {
  const inner = checkRecord('family', options.family);
  if (typeof inner.name !== 'string') throw new LoptError('INVALID_OPTION', "Option 'family.name' must be a registered task-family name.", { option: 'family.name' });
  const family = create('task-family', inner.name, (inner.options ?? {}) as FactoryOptions);
  return randomAugmentationFamily(family, (options.rates ?? {}) as AugmentationRates) as TaskFamily;
}

/**
 * Registers every built-in task (kind `task`) and task family (kind `task-family`) of
 * `@lopt/tasks` under its factory name, e.g. `create('task', 'quadraticTask', { dim: 10 })`.
 * Idempotent.
 */
export function registerAll(): void {
  for (const [name, factory, description] of TASKS) register('task', name, factory, description);
  for (const [name, factory, description] of FAMILIES) register('task-family', name, factory, description);
}
