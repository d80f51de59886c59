/**
 * `@lopt/tasks`: the lopt task suite. Tasks (initial parameters + a differentiable loss +
 * data splits), task families that sample JSON task configurations, task augmentations,
 * and the bundled data they train on.
 * @packageDocumentation
 */
export { classificationNormalizer, softmaxCrossEntropy, sigmoidCrossEntropy, stopGradient, generatedDatasets, MAX_DIM, SPLITS } from './common.js';
export type { SplitName } from './common.js';
export { ACTIVATIONS, INITIALIZERS, activate, initWeight, initDense, initMlp, mlp, dense, fans } from './nn.js';
export type { Activation, Initializer, DenseParams } from './nn.js';
export {
  quadraticTask,
  sumQuadraticTask,
  logQuadraticTask,
  quadraticFromConfig,
  fixedDimQuadraticFamily,
  quadraticFamily,
  noisyQuadraticFromConfig,
  noisyQuadraticFamily,
} from './quadratics.js';
export type {
  QuadraticTaskOptions,
  QuadraticConfig,
  FixedDimQuadraticFamilyOptions,
  QuadraticFamilyOptions,
  NoisyQuadraticConfig,
  NoisyQuadraticFamilyOptions,
} from './quadratics.js';
export { rosenbrockTask, rastriginTask } from './synthetic.js';
export type { RosenbrockTaskOptions, RastriginTaskOptions } from './synthetic.js';
export { logisticRegressionTask, softmaxRegressionTask, mlpClassificationTask, toyData2d, TOY_DATASETS } from './toy-classification.js';
export type { FeatureBatch, RegressionTaskOptions, SoftmaxRegressionTaskOptions, Toy2dOptions, ToyDataset, MlpClassificationTaskOptions } from './toy-classification.js';
export { mnistData, provideMnistData, mnistImages, mnistSplitIndices, mnistDatasets, mnistBatch, MNIST_SIZE, MNIST_COUNT, MNIST_CLASSES, MNIST_TEST_COUNT } from './mnist.js';
export type { MnistData, ImageBatch, MnistDatasetOptions } from './mnist.js';
export { imageMlpTask, imageConvTask, imageMlpAutoencoderTask, IMAGE_DATASETS } from './image-tasks.js';
export type { ImageDataset, ImageTaskOptions, ImageMlpTaskOptions, ImageConvTaskOptions, ImageMlpAutoencoderTaskOptions } from './image-tasks.js';
export { vectorizedImageMlp, vectorizedQuadratics, vectorizedNoisyQuadratics, batchedMlpSoftmaxLoss } from './vectorized.js';
export { imageMlpFamily, convFamily, mixtureFamily, mixtureFamilyFromOptions } from './families.js';
export type { ImageMlpConfig, ImageMlpFamilyOptions, ConvConfig, ConvFamilyOptions, MixtureConfig } from './families.js';
export {
  reparamWeights,
  reducedBatchSize,
  normalizeGradient,
  reparamWeightsFamily,
  reducedBatchSizeFamily,
  normalizeGradientFamily,
  randomAugmentationFamily,
  applyAugmentations,
  REPARAM_LEVELS,
} from './augment.js';
export type { ReparamLevel, ReparamConfig, WrappedConfig, AugmentationRates, AugmentationConfig, AugmentedConfig } from './augment.js';
export { textCorpus, provideTextCorpus, textDatasets, textSplitRanges, encodeText, decodeText, TEXT_VOCAB, TEXT_VOCAB_SIZE, TEXT_CORPUS_YEARS } from './text.js';
export type { TokenBatch, TextDatasetOptions } from './text.js';
export { charLstmTask, transformerLmTask, lmFamily } from './lm.js';
export type { CharLstmTaskOptions, TransformerLmTaskOptions, LmConfig, LmFamilyOptions } from './lm.js';
export { encodeMnistFile, decodeMnistFile, encodeTextFile, decodeTextFile, loadMnist, loadTextCorpus, MNIST_FILE_MAGIC, TEXT_FILE_MAGIC } from './data-files.js';
export type { DataSource, LoadDataOptions } from './data-files.js';
export { registerAll } from './registry.js';
