import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeTree, key } from '@lopt/core';
import { MNIST_COUNT, mnistData, mnistDatasets, mnistImages, mnistSplitIndices } from './mnist.js';

describe('MNIST data', () => {
  it('is the real data: 10,000 digits, each class 8-12%, mean intensity in [0.11, 0.15]', () => {
    const { images, labels, count } = mnistData();
    expect(count).toBe(10_000);
    const perClass = new Array<number>(10).fill(0);
    for (const l of labels) perClass[l]! += 1;
    for (const c of perClass) {
      expect(c / count).toBeGreaterThanOrEqual(0.08);
      expect(c / count).toBeLessThanOrEqual(0.12);
    }
    const full = mnistImages(28);
    let sum = 0;
    for (const v of full) sum += v;
    const mean = sum / full.length;
    expect(mean).toBeGreaterThanOrEqual(0.11);
    expect(mean).toBeLessThanOrEqual(0.15);
    // Bytes span 0..255 and most pixels are background.
    let zeros = 0;
    let max = 0;
    for (const b of images) {
      if (b === 0) zeros++;
      max = Math.max(max, b);
    }
    expect(max).toBe(255);
    expect(zeros / images.length).toBeGreaterThan(0.7);
    // Converted once: the same arrays come back.
    expect(mnistData().images === images).toBe(true);
    expect(mnistImages(28) === full).toBe(true);
  });

  it('area downsampling preserves the mean of every image and matches 2x2 means at 14x14', () => {
    const full = mnistImages(28);
    const half = mnistImages(14);
    const eight = mnistImages(8);
    for (const e of [0, 17, 9999]) {
      let m28 = 0;
      for (let i = 0; i < 784; i++) m28 += full[e * 784 + i] as number;
      let m14 = 0;
      for (let i = 0; i < 196; i++) m14 += half[e * 196 + i] as number;
      let m8 = 0;
      for (let i = 0; i < 64; i++) m8 += eight[e * 64 + i] as number;
      expect(m14 / 196).toBeCloseTo(m28 / 784, 5);
      expect(m8 / 64).toBeCloseTo(m28 / 784, 5);
      for (const [i, j] of [[3, 4], [7, 7], [10, 2]] as const) {
        const ref = ((full[e * 784 + 2 * i * 28 + 2 * j] as number) + (full[e * 784 + 2 * i * 28 + 2 * j + 1] as number) + (full[e * 784 + (2 * i + 1) * 28 + 2 * j] as number) + (full[e * 784 + (2 * i + 1) * 28 + 2 * j + 1] as number)) / 4;
        expect(half[e * 196 + i * 14 + j]).toBeCloseTo(ref, 6);
      }
    }
  });

  it('the resized-image cache stays within 64 MB, evicting the least recently used size', () => {
    const full = mnistImages(28); // 31.4 MB
    mnistImages(27); // 29.2 MB
    mnistImages(26); // 27.0 MB: 28 is evicted (least recently used)
    // Identity checks as booleans: a failing toBe on a multi-megabyte array would print it.
    expect(mnistImages(26) === mnistImages(26)).toBe(true);
    const again = mnistImages(28);
    expect(again === full).toBe(false);
    expect(Array.from(again.subarray(0, 784 * 3))).toEqual(Array.from(full.subarray(0, 784 * 3)));
  });

  it('splits are disjoint, cover the data, and are 80/10/10 of the 9,000-example train part', () => {
    const s = mnistSplitIndices();
    expect([s.train.length, s.innerValid.length, s.outerValid.length, s.test.length]).toEqual([7200, 900, 900, 1000]);
    const seen = new Set<number>();
    for (const part of [s.train, s.innerValid, s.outerValid, s.test]) for (const i of part) seen.add(i);
    expect(seen.size).toBe(MNIST_COUNT);
    expect(mnistSplitIndices()).toBe(s);
  });

  it('a split batch is deterministic in the key, holds only that split, and has the right shapes', () => {
    const ds = mnistDatasets({ imageSize: 8, batchSize: 64 });
    const a = ds.train.sample(key(1));
    const b = ds.train.sample(key(1));
    const c = ds.train.sample(key(2));
    expect(a.image.shape).toEqual([64, 8, 8, 1]);
    expect(a.label.dtype).toBe('int32');
    expect(Array.from(a.image.dataSync())).toEqual(Array.from(b.image.dataSync()));
    expect(Array.from(a.label.dataSync())).toEqual(Array.from(b.label.dataSync()));
    expect(Array.from(a.image.dataSync())).not.toEqual(Array.from(c.image.dataSync()));
    // Test-split images never appear in a train batch: compare image contents.
    const sig = (img: Float32Array, i: number): string => Array.from(img.subarray(i * 64, (i + 1) * 64)).join(',');
    const all = mnistImages(8);
    const testSigs = new Set(Array.from(mnistSplitIndices().test, (i) => sig(all, i)));
    const trainImgs = a.image.dataSync() as Float32Array;
    for (let i = 0; i < 64; i++) expect(testSigs.has(sig(trainImgs, i))).toBe(false);
    tf.dispose([c.image, c.label]);
    disposeTree(a);
    disposeTree(b);
  });
});
