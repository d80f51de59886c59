import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, checkOneOf, split, type Key, type LayerTap, type Task, type TensorTree } from '@lopt/core';
import { checkInt, checkIntList, classificationNormalizer, scalarTidy, softmaxCrossEntropy } from './common.js';
import { MNIST_CLASSES, MNIST_SIZE, mnistDatasets, type ImageBatch } from './mnist.js';
import { mlpSoftmaxLoss } from './mlp-fast-grad.js';
import { mlpAutoencoderLoss } from './autoencoder-fast-grad.js';
import { convName, convSoftmaxLoss, type ConvNetSpec, type ConvParams } from './conv-fast-grad.js';
import { checkActivation, INITIALIZERS, activate, initDense, initMlp, initWeight, mlp, mlpLayerRefs, dense, type Activation, type DenseParams, type Initializer } from './nn.js';

/** Image datasets the package bundles. */
export const IMAGE_DATASETS = ['mnist'] as const;
/** One of {@link IMAGE_DATASETS}. */
export type ImageDataset = (typeof IMAGE_DATASETS)[number];

/** Options shared by the image tasks. */
export interface ImageTaskOptions {
  /** Dataset. Default `mnist` (the only bundled one). */
  readonly dataset?: ImageDataset;
  /** Image side, 4..28 (8, 14 and 28 are the usual ones). Default 8. */
  readonly imageSize?: number;
  /** Examples per batch. Default 128. */
  readonly batchSize?: number;
  /** Hidden activation. Default `relu`. */
  readonly activation?: Activation;
  /** Weight initializer. Default `default` (Haiku's truncated normal, std 1/sqrt(fanIn)). */
  readonly initializer?: Initializer;
  /** Multiplier of the initializer's scale. Default 1. */
  readonly initScale?: number;
}

interface ResolvedImageOptions {
  readonly dataset: ImageDataset;
  readonly imageSize: number;
  readonly batchSize: number;
  readonly activation: Activation;
  readonly initializer: Initializer;
  readonly initScale: number;
}

function resolveImageOptions(options: ImageTaskOptions, defaultSize = 8): ResolvedImageOptions {
  return {
    dataset: checkOneOf('dataset', options.dataset ?? 'mnist', IMAGE_DATASETS),
    imageSize: checkInt('imageSize', options.imageSize ?? defaultSize, 4, MNIST_SIZE),
    batchSize: checkInt('batchSize', options.batchSize ?? 128, 1, 100_000),
    activation: checkActivation('activation', options.activation ?? 'relu'),
    initializer: checkOneOf('initializer', options.initializer ?? 'default', INITIALIZERS),
    initScale: checkNumber('initScale', options.initScale ?? 1, { greaterThan: 0, max: 1000 }),
  };
}

function suffix(o: ResolvedImageOptions): string {
  const init = o.initializer === 'default' && o.initScale === 1 ? '' : `-${o.initializer}${o.initScale === 1 ? '' : `x${Number(o.initScale.toPrecision(3))}`}`;
  return `${o.activation}-bs${o.batchSize}${init}`;
}

/** Options of {@link imageMlpTask}. */
export interface ImageMlpTaskOptions extends ImageTaskOptions {
  /** Hidden layer widths (may be empty: softmax regression on pixels). Default `[32]`. */
  readonly hidden?: readonly number[];
}

/**
 * An MLP classifier on flattened images (learned_optimization's `ImageMLP_*` tasks, e.g.
 * `ImageMLP_FashionMnist8_Relu32` is `imageMlpTask({ imageSize: 8, hidden: [32] })` on
 * MNIST here). Params `{ layer00: { w, b }, ... }`; loss the mean softmax cross-entropy;
 * classification normalizer. Under a single gradient tape the loss's gradient comes from a
 * hand-derived backward pass for softmax regression and MLPs with any activation but selu, gelu
 * and leakyRelu (the fused kernel for small relu, tanh and sigmoid ones; same
 * values as autodiff to float32 rounding); nested tapes and other activations use autodiff.
 */
export function imageMlpTask(options: ImageMlpTaskOptions = {}): Task {
  const o = resolveImageOptions(options);
  const hidden = checkIntList('hidden', options.hidden ?? [32], 1, 8192);
  const inputs = o.imageSize * o.imageSize;
  const sizes = [inputs, ...hidden, MNIST_CLASSES];
  const forward = (params: TensorTree, batch: TensorTree, tap?: LayerTap) =>
    scalarTidy(() => {
      const { image, label } = batch as ImageBatch;
      const x = tf.reshape(image, [image.shape[0], inputs]);
      return softmaxCrossEntropy(mlp(params as Record<string, DenseParams>, x, sizes.length - 1, o.activation, tap), label, MNIST_CLASSES);
    });
  return {
    name: `image-mlp-${o.dataset}${o.imageSize}-${hidden.join('x') || 'linear'}-${suffix(o)}`,
    init: (k: Key) => initMlp(k, sizes, o.initializer, o.initScale),
    loss: (params: TensorTree, batch: TensorTree) =>
      scalarTidy(() => {
        const { image, label } = batch as ImageBatch;
        const x = tf.reshape(image, [image.shape[0], inputs]) as tf.Tensor2D;
        return mlpSoftmaxLoss(params as Record<string, DenseParams>, x, label, sizes.length - 1, o.activation, MNIST_CLASSES);
      }),
    // the tapped loss takes the autodiff path (its custom-gradient taps need the tape)
    layers: { dense: mlpLayerRefs(sizes.length - 1), loss: (params: TensorTree, batch: TensorTree, tap: LayerTap) => forward(params, batch, tap) },
    datasets: mnistDatasets({ imageSize: o.imageSize, batchSize: o.batchSize }),
    normalizer: classificationNormalizer(MNIST_CLASSES),
  };
}

/** Options of {@link imageConvTask}. */
export interface ImageConvTaskOptions extends ImageTaskOptions {
  /** Output channels of each 3x3 convolution (the first has stride 2, the rest stride 1). Default `[8, 16]`. */
  readonly channels?: readonly number[];
  /** Spatial pooling before the classifier. Default `avg`. */
  readonly pool?: 'avg' | 'max';
}

/**
 * A convolutional classifier (learned_optimization's `Conv_*` tasks): 3x3 'same'
 * convolutions with bias, the first with stride 2, each followed by the activation;
 * average (or max) pooling over space; a linear classifier. Params
 * `{ conv00: { w, b }, ..., head: { w, b } }`. Under a single gradient tape the loss's gradient
 * comes from a hand-derived backward pass (the same conv backprop kernels, no tape replay) for
 * every activation but selu, gelu and leakyRelu; nested tapes and those use autodiff.
 */
export function imageConvTask(options: ImageConvTaskOptions = {}): Task {
  const o = resolveImageOptions(options);
  const channels = checkIntList('channels', options.channels ?? [8, 16], 1, 1024);
  if (channels.length === 0) throw new LoptError('INVALID_OPTION', "Option 'channels' needs at least one convolution.", { option: 'channels' });
  const pool = checkOneOf('pool', options.pool ?? 'avg', ['avg', 'max'] as const);
  const spec: ConvNetSpec = { numConvs: channels.length, activation: o.activation, pool, numClasses: MNIST_CLASSES };
  return {
    name: `image-conv-${o.dataset}${o.imageSize}-${channels.join('x')}-${pool}-${suffix(o)}`,
    init: (k: Key) => {
      const keys = split(k, channels.length + 1);
      const params: Record<string, ConvParams | DenseParams> = {};
      let cin = 1;
      channels.forEach((cout, i) => {
        params[convName(i)] = { w: initWeight(keys[i] as Key, [3, 3, cin, cout], o.initializer, o.initScale) as tf.Tensor4D, b: tf.zeros([cout]) };
        cin = cout;
      });
      params.head = initDense(keys[channels.length] as Key, cin, MNIST_CLASSES, o.initializer, o.initScale);
      return params;
    },
    loss: (params: TensorTree, batch: TensorTree) =>
      scalarTidy(() => {
        const { image, label } = batch as ImageBatch;
        return convSoftmaxLoss(params as Record<string, ConvParams | DenseParams>, image, label, spec);
      }),
    datasets: mnistDatasets({ imageSize: o.imageSize, batchSize: o.batchSize }),
    normalizer: classificationNormalizer(MNIST_CLASSES),
  };
}

/** Options of {@link imageMlpAutoencoderTask}. */
export interface ImageMlpAutoencoderTaskOptions extends ImageTaskOptions {
  /** Hidden layer widths of the encoder-decoder MLP. Default `[32, 16, 32]`. */
  readonly hidden?: readonly number[];
}

/**
 * A fully connected autoencoder (learned_optimization's `ImageMLPAE_*`): an MLP maps the
 * flattened image through `hidden` back to the pixels; loss the mean squared error between
 * the image and `sigmoid(output)`; normalizer clips to [0, 1]. Under a single gradient tape the
 * loss's gradient comes from a hand-derived backward pass (the fused kernel for small relu, tanh
 * and sigmoid models; tfjs ops for every activation but selu, gelu and leakyRelu; same values as
 * autodiff to float32 rounding); nested tapes and those three use autodiff.
 */
export function imageMlpAutoencoderTask(options: ImageMlpAutoencoderTaskOptions = {}): Task {
  const o = resolveImageOptions(options);
  const hidden = checkIntList('hidden', options.hidden ?? [32, 16, 32], 1, 8192);
  const inputs = o.imageSize * o.imageSize;
  const sizes = [inputs, ...hidden, inputs];
  const forward = (params: TensorTree, batch: TensorTree, tap?: LayerTap) =>
    scalarTidy(() => {
      const { image } = batch as ImageBatch;
      const x = tf.reshape(image, [image.shape[0], inputs]);
      const out = tf.sigmoid(mlp(params as Record<string, DenseParams>, x, sizes.length - 1, o.activation, tap));
      return tf.mean(tf.square(tf.sub(x, out)));
    });
  return {
    name: `image-mlp-ae-${o.dataset}${o.imageSize}-${hidden.join('x') || 'linear'}-${suffix(o)}`,
    init: (k: Key) => initMlp(k, sizes, o.initializer, o.initScale),
    loss: (params: TensorTree, batch: TensorTree) =>
      scalarTidy(() => {
        const { image } = batch as ImageBatch;
        const x = tf.reshape(image, [image.shape[0], inputs]) as tf.Tensor2D;
        return mlpAutoencoderLoss(params as Record<string, DenseParams>, x, sizes.length - 1, o.activation);
      }),
    // the tapped loss takes the autodiff path (its custom-gradient taps need the tape)
    layers: { dense: mlpLayerRefs(sizes.length - 1), loss: (params: TensorTree, batch: TensorTree, tap: LayerTap) => forward(params, batch, tap) },
    datasets: mnistDatasets({ imageSize: o.imageSize, batchSize: o.batchSize }),
    normalizer: (loss: number) => (Number.isFinite(loss) ? Math.min(Math.max(loss, 0), 1) : 1),
  };
}
