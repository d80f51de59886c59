import { describe, expect, it } from 'vitest';
import { readTorchStateDict } from './torch.js';
import { rawLeaves } from './raw-tree.js';
import { float32Bits, referenceBytes, referenceJson } from './reference-files.js';

describe('readTorchStateDict on the published Celo2 weights', () => {
  it('celo2_weights.pt equals celo2_weights.json bit for bit, in dict order', () => {
    const json = referenceJson('celo2/celo2_weights.json');
    const leaves = rawLeaves(readTorchStateDict(referenceBytes('celo2/celo2_weights.pt')));
    expect(leaves.map((l) => l.path.join('/'))).toEqual(Object.keys(json));
    for (const [i, [name, ref]] of Object.entries(json).entries()) {
      const got = leaves[i]!.tensor;
      expect(got.shape, name).toEqual(ref.shape);
      expect(float32Bits(got.data), name).toEqual(float32Bits(ref.data));
    }
    expect(leaves.reduce((n, l) => n + l.tensor.data.length, 0)).toBe(347);
  });
});
