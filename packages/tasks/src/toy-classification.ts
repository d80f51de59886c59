import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, checkOneOf, foldIn, key as makeKey, normalArray, split, uniformArray, type Key, type LayerTap, type Task, type TensorTree } from '@lopt/core';
import { checkInt, checkIntList, classificationNormalizer, generatedDatasets, sigmoidCrossEntropy, softmaxCrossEntropy, scalarTidy } from './common.js';
import { checkActivation, initDense, initWeight, initMlp, mlp, mlpLayerName, mlpLayerRefs, type Activation, type DenseParams } from './nn.js';
import { handDerivedLoss, takesHandDerived, type GradPath } from './fast-grad.js';
import { mlpSoftmaxLoss } from './mlp-fast-grad.js';

/** A batch of features and integer labels. */
export type FeatureBatch = { x: tf.Tensor2D; label: tf.Tensor1D };

/** Options shared by the generated-data regression tasks. */
export interface RegressionTaskOptions {
  /** Feature dimension. Default 10. */
  readonly dim?: number;
  /** Examples per batch. Default 64. */
  readonly batchSize?: number;
  /** Seed of the hidden teacher weights that label the data. Default 0. */
  readonly dataSeed?: number;
}

/**
 * Mean sigmoid cross-entropy of `x·w + b` against 0/1 `label`s (the logistic-regression loss).
 * Under one gradient tape (`'auto'`) its gradient is hand-derived: `dz = (sigmoid(z) - y) / N`,
 * `xᵀ·dz` and `sum(dz)`; under nested tapes autodiff runs. Same forward ops: equal values.
 */
export function logisticLoss(w: tf.Tensor, b: tf.Tensor, x: tf.Tensor2D, label: tf.Tensor1D, path: GradPath = 'auto'): tf.Scalar {
  const dim = x.shape[1];
  const logits = (wv: tf.Tensor, bv: tf.Tensor): tf.Tensor => tf.add(tf.squeeze(tf.matMul(x, tf.reshape(wv, [dim, 1])), [1]), bv);
  if (!takesHandDerived(path)) return sigmoidCrossEntropy(logits(w, b), tf.cast(label, 'float32'));
  return handDerivedLoss([w, b], ([wv, bv]) => {
    const z = logits(wv as tf.Tensor, bv as tf.Tensor);
    const y = tf.cast(label, 'float32');
    return {
      value: sigmoidCrossEntropy(z, y),
      saved: [z, y, x],
      backward: (dy, [zs, ys, xs]) => {
        // d/dz mean(max(z, 0) - z y + log(1 + exp(-|z|))) = (sigmoid(z) - y) / N
        const dz = tf.mul(tf.sub(tf.sigmoid(zs as tf.Tensor), ys as tf.Tensor), tf.div(dy, (zs as tf.Tensor).size));
        return [tf.reshape(tf.matMul(tf.reshape(dz, [1, -1]), xs as tf.Tensor2D), [dim]), tf.sum(dz)];
      },
    };
  });
}

function teacher(dataSeed: number, n: number): Float64Array {
  return normalArray(foldIn(makeKey(dataSeed), 0x7eac), n);
}

/**
 * Logistic regression on generated data: `x ~ N(0, I_d)`, `y ~ Bernoulli(sigmoid(x . w*))`
 * with a hidden teacher `w* ~ N(0, I)` fixed by `dataSeed`. Params `{ w: [d], b: [] }`,
 * loss the mean sigmoid cross-entropy; classification normalizer with C = 2. Under a single
 * gradient tape the gradient is hand-derived (one matmul and a sum); nested tapes use autodiff.
 */
export function logisticRegressionTask(options: RegressionTaskOptions = {}): Task {
  const dim = checkInt('dim', options.dim ?? 10, 1, 100_000);
  const batchSize = checkInt('batchSize', options.batchSize ?? 64, 1, 1_000_000);
  const dataSeed = checkInt('dataSeed', options.dataSeed ?? 0, 0);
  const wStar = teacher(dataSeed, dim);
  return {
    name: `logistic-regression-${dim}`,
    init: (k: Key) => ({ w: tf.tidy(() => tf.reshape(initWeight(k, [dim, 1]), [dim])), b: tf.scalar(0) }),
    loss: (params: TensorTree, batch: TensorTree) =>
      scalarTidy(() => {
        const p = params as { w: tf.Tensor; b: tf.Tensor };
        const { x, label } = batch as FeatureBatch;
        return logisticLoss(p.w, p.b, x, label);
      }),
    datasets: generatedDatasets((k: Key) => {
      const [kx, ky] = split(k, 2) as [Key, Key];
      const x = normalArray(kx, batchSize * dim);
      const u = uniformArray(ky, batchSize);
      const labels = new Int32Array(batchSize);
      for (let i = 0; i < batchSize; i++) {
        let z = 0;
        for (let j = 0; j < dim; j++) z += (x[i * dim + j] as number) * (wStar[j] as number);
        labels[i] = (u[i] as number) < 1 / (1 + Math.exp(-z)) ? 1 : 0;
      }
      return { x: tf.tensor2d(Float32Array.from(x), [batchSize, dim]), label: tf.tensor1d(labels, 'int32') };
    }),
    normalizer: classificationNormalizer(2),
  };
}

/** Options of {@link softmaxRegressionTask}. */
export interface SoftmaxRegressionTaskOptions extends RegressionTaskOptions {
  /** Number of classes. Default 5. */
  readonly numClasses?: number;
}

/**
 * Softmax (multinomial logistic) regression on generated data: `x ~ N(0, I_d)`, labels
 * drawn from `softmax(x W*)` with a hidden teacher `W* ~ N(0, I)` fixed by `dataSeed`. Its loss
 * takes the image MLP's fast gradient paths (the fused kernel or the hand-derived backward pass
 * under one tape, autodiff under nested tapes).
 */
export function softmaxRegressionTask(options: SoftmaxRegressionTaskOptions = {}): Task {
  const dim = checkInt('dim', options.dim ?? 10, 1, 100_000);
  const numClasses = checkInt('numClasses', options.numClasses ?? 5, 2, 10_000);
  const batchSize = checkInt('batchSize', options.batchSize ?? 64, 1, 1_000_000);
  const dataSeed = checkInt('dataSeed', options.dataSeed ?? 0, 0);
  const wStar = teacher(dataSeed, dim * numClasses);
  return {
    name: `softmax-regression-${dim}x${numClasses}`,
    init: (k: Key) => initDense(k, dim, numClasses),
    loss: (params: TensorTree, batch: TensorTree) =>
      scalarTidy(() => {
        const { x, label } = batch as FeatureBatch;
        // one dense layer: the MLP loss's fused kernel / hand-derived backward pass covers it
        return mlpSoftmaxLoss({ [mlpLayerName(0)]: params as DenseParams }, x, label, 1, 'relu', numClasses);
      }),
    datasets: generatedDatasets((k: Key) => {
      const [kx, ky] = split(k, 2) as [Key, Key];
      const x = normalArray(kx, batchSize * dim);
      const u = uniformArray(ky, batchSize);
      const labels = new Int32Array(batchSize);
      const logits = new Float64Array(numClasses);
      for (let i = 0; i < batchSize; i++) {
        let max = -Infinity;
        for (let c = 0; c < numClasses; c++) {
          let z = 0;
          for (let j = 0; j < dim; j++) z += (x[i * dim + j] as number) * (wStar[j * numClasses + c] as number);
          logits[c] = z;
          max = Math.max(max, z);
        }
        let total = 0;
        for (let c = 0; c < numClasses; c++) total += Math.exp((logits[c] as number) - max);
        let acc = 0;
        let chosen = numClasses - 1;
        for (let c = 0; c < numClasses; c++) {
          acc += Math.exp((logits[c] as number) - max) / total;
          if ((u[i] as number) < acc) {
            chosen = c;
            break;
          }
        }
        labels[i] = chosen;
      }
      return { x: tf.tensor2d(Float32Array.from(x), [batchSize, dim]), label: tf.tensor1d(labels, 'int32') };
    }),
    normalizer: classificationNormalizer(numClasses),
  };
}

/** The generated 2-D datasets of {@link mlpClassificationTask}. */
export const TOY_DATASETS = ['moons', 'spirals', 'blobs'] as const;
/** One of {@link TOY_DATASETS}. */
export type ToyDataset = (typeof TOY_DATASETS)[number];

/** Options of {@link toyData2d} and {@link mlpClassificationTask}. */
export interface Toy2dOptions {
  /** Which generator. Default `moons`. */
  readonly dataset?: ToyDataset;
  /** Classes (moons: always 2). Default 2 for moons, 3 for spirals, 4 for blobs. */
  readonly numClasses?: number;
  /** Gaussian noise standard deviation added to the points. Default 0.1 (moons, spirals), 1 (blobs). */
  readonly noise?: number;
  /** Seed of the blob centers. Default 0. */
  readonly dataSeed?: number;
}

/** Resolved generator settings. */
interface ToySpec {
  readonly dataset: ToyDataset;
  readonly numClasses: number;
  readonly noise: number;
  readonly centers: Float64Array;
}

function toySpec(options: Toy2dOptions): ToySpec {
  const dataset = checkOneOf('dataset', options.dataset ?? 'moons', TOY_DATASETS);
  const defaultClasses = dataset === 'moons' ? 2 : dataset === 'spirals' ? 3 : 4;
  const numClasses = dataset === 'moons' ? checkInt('numClasses', options.numClasses ?? 2, 2, 2) : checkInt('numClasses', options.numClasses ?? defaultClasses, 2, 100);
  const noise = checkNumber('noise', options.noise ?? (dataset === 'blobs' ? 1 : 0.1), { min: 0 });
  const dataSeed = checkInt('dataSeed', options.dataSeed ?? 0, 0);
  // Blob centers U[-5, 5)^2, as scikit-learn's make_blobs default box (-10, 10) halved.
  const centers = Float64Array.from(uniformArray(foldIn(makeKey(dataSeed), 0xb10b), 2 * numClasses), (u) => -5 + 10 * u);
  return { dataset, numClasses, noise, centers };
}

/**
 * `n` labelled 2-D points from a generator (host-side, float64), deterministic in `k`:
 * moons (scikit-learn's `make_moons`), spirals (one arm per class, radius `t`, angle
 * `2 pi c / C + 4 t`), or gaussian blobs around centers fixed by `dataSeed`.
 */
export function toyData2d(k: Key, n: number, options: Toy2dOptions = {}): { x: Float64Array; label: Int32Array } {
  checkInt('n', n, 0);
  const spec = toySpec(options);
  return sampleToy(spec, k, n);
}

function sampleToy(spec: ToySpec, k: Key, n: number): { x: Float64Array; label: Int32Array } {
  const [kc, kt, kn] = split(k, 3) as [Key, Key, Key];
  const cls = uniformArray(kc, n);
  const t = uniformArray(kt, n);
  const eps = normalArray(kn, 2 * n);
  const x = new Float64Array(2 * n);
  const label = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = Math.min(spec.numClasses - 1, Math.floor((cls[i] as number) * spec.numClasses));
    label[i] = c;
    const ti = t[i] as number;
    let px: number;
    let py: number;
    if (spec.dataset === 'moons') {
      const angle = Math.PI * ti;
      if (c === 0) {
        px = Math.cos(angle);
        py = Math.sin(angle);
      } else {
        px = 1 - Math.cos(angle);
        py = 0.5 - Math.sin(angle);
      }
    } else if (spec.dataset === 'spirals') {
      const angle = (2 * Math.PI * c) / spec.numClasses + 4 * ti;
      px = ti * Math.sin(angle);
      py = ti * Math.cos(angle);
    } else {
      px = spec.centers[2 * c] as number;
      py = spec.centers[2 * c + 1] as number;
    }
    x[2 * i] = px + spec.noise * (eps[2 * i] as number);
    x[2 * i + 1] = py + spec.noise * (eps[2 * i + 1] as number);
  }
  return { x, label };
}

/** Options of {@link mlpClassificationTask}. */
export interface MlpClassificationTaskOptions extends Toy2dOptions {
  /** Hidden layer widths. Default `[32, 32]`. */
  readonly hidden?: readonly number[];
  /** Hidden activation. Default `relu`. */
  readonly activation?: Activation;
  /** Examples per batch. Default 128. */
  readonly batchSize?: number;
}

/**
 * An MLP classifier on a generated 2-D dataset (moons, spirals or gaussian blobs). Its loss takes
 * the image MLP's fast gradient paths (under one tape the fused kernel for relu, tanh and
 * sigmoid, a hand-derived backward pass for the others but selu, gelu and leakyRelu; autodiff
 * under nested tapes and for those three).
 */
export function mlpClassificationTask(options: MlpClassificationTaskOptions = {}): Task {
  const spec = toySpec(options);
  const hidden = checkIntList('hidden', options.hidden ?? [32, 32], 1, 4096);
  const activation = checkActivation('activation', options.activation ?? 'relu');
  const batchSize = checkInt('batchSize', options.batchSize ?? 128, 1, 1_000_000);
  const sizes = [2, ...hidden, spec.numClasses];
  const forward = (params: TensorTree, batch: TensorTree, tap?: LayerTap) =>
    scalarTidy(() => {
      const { x, label } = batch as FeatureBatch;
      const logits = mlp(params as Record<string, DenseParams>, x, sizes.length - 1, activation, tap);
      return softmaxCrossEntropy(logits, label, spec.numClasses);
    });
  const fastLoss = (params: TensorTree, batch: TensorTree) =>
    scalarTidy(() => {
      const { x, label } = batch as FeatureBatch;
      return mlpSoftmaxLoss(params as Record<string, DenseParams>, x, label, sizes.length - 1, activation, spec.numClasses);
    });
  return {
    name: `mlp-${spec.dataset}-${hidden.join('x') || 'linear'}-${activation}`,
    init: (k: Key) => initMlp(k, sizes),
    loss: fastLoss,
    // the tapped loss takes the autodiff path (its custom-gradient taps need the tape)
    layers: { dense: mlpLayerRefs(sizes.length - 1), loss: (params: TensorTree, batch: TensorTree, tap: LayerTap) => forward(params, batch, tap) },
    datasets: generatedDatasets((k: Key) => {
      const { x, label } = sampleToy(spec, k, batchSize);
      return { x: tf.tensor2d(Float32Array.from(x), [batchSize, 2]), label: tf.tensor1d(label, 'int32') };
    }),
    normalizer: classificationNormalizer(spec.numClasses),
  };
}
