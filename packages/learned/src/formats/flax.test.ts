import { describe, expect, it } from 'vitest';
import { readFlaxMsgpack } from './flax.js';
import { rawLeaves } from './raw-tree.js';
import { float32Bits, referenceBytes, referenceJson } from './reference-files.js';

describe('readFlaxMsgpack on the published Celo weights', () => {
  for (const folder of ['celo', 'celo-adam']) {
    it(`${folder}/theta.state equals theta.json bit for bit, in file order`, () => {
      const json = referenceJson(`${folder}/theta.json`);
      const leaves = rawLeaves(readFlaxMsgpack(referenceBytes(`${folder}/theta.state`)));
      expect(leaves.map((l) => l.path)).toEqual(Object.values(json).map((l) => l.path));
      let params = 0;
      for (const [i, ref] of Object.values(json).entries()) {
        const got = leaves[i]!.tensor;
        expect(got.shape, ref.path?.join('/')).toEqual(ref.shape);
        expect(float32Bits(got.data), ref.path?.join('/')).toEqual(float32Bits(ref.data));
        params += got.data.length;
      }
      expect(params).toBe(folder === 'celo' ? 37089 : 36865);
    });
  }
});
