import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeTree, key, split, treeSize, type Key } from '@lopt/core';
import { describeTaskConformance } from '@lopt/testkit';
import { TEXT_VOCAB_SIZE, charLstmTask, decodeText, encodeText, lmFamily, textCorpus, textDatasets, textSplitRanges, transformerLmTask, type TokenBatch } from './index.js';

describe('text corpus', () => {
  it('is the 1790-1830 State of the Union addresses, encoded with the documented vocabulary', () => {
    const corpus = textCorpus();
    expect(corpus.length).toBeGreaterThan(900_000);
    expect(corpus.length).toBeLessThan(1_000_000);
    expect(decodeText(corpus.subarray(0, 60))).toBe('fellow-citizens of the senate and house of representatives: ');
    // 41 addresses: 40 newlines between them.
    expect(corpus.filter((c) => c === 0).length).toBe(40);
    // English letter statistics: 'e' is the most frequent letter, about 12% of letters.
    const counts = new Array<number>(TEXT_VOCAB_SIZE).fill(0);
    for (const c of corpus) counts[c]! += 1;
    const letters = counts.slice(2, 28);
    const total = letters.reduce((a, b) => a + b, 0);
    const e = letters[4] as number;
    expect(Math.max(...letters)).toBe(e);
    expect(e / total).toBeGreaterThan(0.1);
    expect(e / total).toBeLessThan(0.14);
    expect(decodeText(encodeText('Hello,\tWorld  1812!'))).toBe('hello, world ####!');
    expect(textCorpus()).toBe(corpus);
  });

  it('splits are contiguous, disjoint and ordered; windows stay inside their split', () => {
    const r = textSplitRanges();
    expect(r.train.start).toBe(0);
    expect(r.innerValid.start).toBe(r.train.end);
    expect(r.outerValid.start).toBe(r.innerValid.end);
    expect(r.test.start).toBe(r.outerValid.end);
    expect(r.test.end).toBe(textCorpus().length);
    expect((r.train.end - r.train.start) / r.test.end).toBeCloseTo(0.72, 2);
    const ds = textDatasets({ sequenceLength: 16, batchSize: 8 });
    const a = ds.test!.sample(key(1));
    const b = ds.test!.sample(key(1));
    expect(a.tokens.shape).toEqual([8, 17]);
    expect(Array.from(a.tokens.dataSync())).toEqual(Array.from(b.tokens.dataSync()));
    // Every window is a substring of the test range.
    const testText = decodeText(textCorpus().subarray(r.test.start, r.test.end));
    const rows = a.tokens.arraySync() as number[][];
    for (const row of rows) expect(testText.includes(decodeText(row))).toBe(true);
    disposeTree(a);
    disposeTree(b);
  });
});

describe('language-model tasks', () => {
  it('the LSTM and transformer start near the uniform loss ln V and have the documented parameter counts', () => {
    const e = 8;
    const h = 16;
    const lstm = charLstmTask({ sequenceLength: 8, batchSize: 4, embedSize: e, hiddenSize: h });
    const p = lstm.init(key(0));
    expect(treeSize(p)).toBe(TEXT_VOCAB_SIZE * e + (e + h) * 4 * h + 4 * h + h * TEXT_VOCAB_SIZE + TEXT_VOCAB_SIZE);
    const batch = lstm.datasets!.train.sample(key(1)) as TokenBatch;
    const l = lstm.loss(p, batch).dataSync()[0] as number;
    expect(Math.abs(l - Math.log(TEXT_VOCAB_SIZE))).toBeLessThan(0.3);
    const tr = transformerLmTask({ sequenceLength: 8, batchSize: 4, modelSize: 16, numHeads: 2, numLayers: 1 });
    const pt = tr.init(key(0));
    const d = 16;
    expect(treeSize(pt)).toBe(TEXT_VOCAB_SIZE * d + 8 * d + (4 * d + d * 3 * d + 3 * d + d * d + d + d * 4 * d + 4 * d + 4 * d * d + d) + 2 * d + d * TEXT_VOCAB_SIZE + TEXT_VOCAB_SIZE);
    const lt = tr.loss(pt, batch).dataSync()[0] as number;
    expect(Math.abs(lt - Math.log(TEXT_VOCAB_SIZE))).toBeLessThan(0.5);
    disposeTree(p);
    disposeTree(pt);
    disposeTree(batch);
  });

  it('the transformer is causal: the last position alone explains the loss difference to a shorter model', () => {
    // If positions 0..T-2 never see the last input token, they compute exactly what a model
    // of length T-1 with the same weights computes, so the last position's loss is
    // l(y) = T * L(y) - (T-1) * L_short, and exp(-l(y)) summed over all targets y is 1
    // (a softmax). Any leak of the last token into earlier positions breaks the sum.
    const t = 6;
    const d = 8;
    const long = transformerLmTask({ sequenceLength: t, batchSize: 1, modelSize: d, numHeads: 2 });
    const short = transformerLmTask({ sequenceLength: t - 1, batchSize: 1, modelSize: d, numHeads: 2 });
    const p = long.init(key(3)) as Record<string, unknown> & { position: tf.Tensor };
    const ps = { ...p, position: tf.slice(p.position, [0, 0], [t - 1, d]) };
    const base = [5, 6, 7, 8, 9, 20];
    const shortLoss = tf.tidy(() => short.loss(ps as never, { tokens: tf.tensor2d([base], [1, t], 'int32') }).dataSync()[0] as number);
    let total = 0;
    for (let y = 0; y < TEXT_VOCAB_SIZE; y++) {
      const l = tf.tidy(() => long.loss(p as never, { tokens: tf.tensor2d([[...base, y]], [1, t + 1], 'int32') }).dataSync()[0] as number);
      total += Math.exp(-(t * l - (t - 1) * shortLoss));
    }
    expect(Math.abs(total - 1)).toBeLessThan(2e-3);
    ps.position.dispose();
    disposeTree(p as never);
  });

  it('lmFamily configs round-trip and cover both model kinds', () => {
    const fam = lmFamily({ maxSequenceLength: 16, maxBatchSize: 8, maxWidth: 32 });
    const cfgs = split(key(7), 200).map((k: Key) => fam.sample(k));
    expect(new Set(cfgs.map((c) => c.kind))).toEqual(new Set(['lstm', 'transformer']));
    for (const c of cfgs.slice(0, 4)) {
      const a = fam.task(c);
      const b = fam.task(JSON.parse(JSON.stringify(c)));
      expect(b.name).toBe(a.name);
      const pa = a.init(key(1));
      const batch = a.datasets!.train.sample(key(2));
      const la = a.loss(pa, batch).dataSync()[0];
      expect(b.loss(pa, batch).dataSync()[0]).toBe(la);
      disposeTree(pa);
      disposeTree(batch);
    }
    expect(() => transformerLmTask({ modelSize: 10, numHeads: 3 })).toThrow(/divisible/);
  });
});

describeTaskConformance('charLstmTask small', () => charLstmTask({ sequenceLength: 8, batchSize: 4, embedSize: 8, hiddenSize: 16 }), { leakSteps: 20 });
describeTaskConformance('transformerLmTask small', () => transformerLmTask({ sequenceLength: 8, batchSize: 4, modelSize: 16, numHeads: 2, numLayers: 2 }), { leakSteps: 20 });
