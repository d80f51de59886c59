// lopt's WASM GatherV2 (slice copies on the heap) against the CPU backend and a float64
// reference written from the definition, on every axis, with batch dimensions, and for int32
// and bool values.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { randintArray, split } from '@lopt/core';
import { caseKey, randomValues, relativeError, runOn, wasmVsCpu } from '../../test/harness.js';

/** out[b, o, i, s] = x[b, o, idx[b, i], s], with x viewed as [batch, outer, dim, slice]. */
function gatherReference(x: ArrayLike<number>, xShape: number[], idx: Int32Array, idxShape: number[], axis: number, batchDims: number): Float64Array {
  const prod = (s: number[]): number => s.reduce((a, b) => a * b, 1);
  const batch = prod(xShape.slice(0, batchDims));
  const outer = prod(xShape.slice(batchDims, axis));
  const dim = xShape[axis]!;
  const slice = prod(xShape.slice(axis + 1));
  const per = prod(idxShape) / batch;
  const out = new Float64Array(batch * outer * per * slice);
  let o = 0;
  for (let b = 0; b < batch; b++)
    for (let q = 0; q < outer; q++)
      for (let i = 0; i < per; i++)
        for (let s = 0; s < slice; s++) out[o++] = x[((b * outer + q) * dim + idx[b * per + i]!) * slice + s]!;
  return out;
}

const cases: { name: string; x: number[]; idx: number[]; axis: number; batchDims?: number; dtype?: 'int32' | 'bool' }[] = [
  { name: 'rows of a dataset (axis 0)', x: [300, 49], idx: [37], axis: 0 },
  { name: 'a batch of token ids (rank-2 indices)', x: [50, 8], idx: [4, 6], axis: 0 },
  { name: 'columns (axis 1, slices of one element)', x: [7, 30], idx: [12], axis: 1 },
  { name: 'middle axis of a rank-3 tensor', x: [3, 20, 5], idx: [9], axis: 1 },
  { name: 'batchDims 1', x: [4, 10, 3], idx: [4, 5], axis: 1, batchDims: 1 },
  { name: 'int32 values', x: [40, 6], idx: [15], axis: 0, dtype: 'int32' },
  { name: 'bool values', x: [40, 6], idx: [15], axis: 0, dtype: 'bool' },
];

describe('WASM GatherV2 matches the CPU backend and float64', () => {
  cases.forEach((c, n) => {
    it(c.name, async () => {
      const [kx, ki] = split(caseKey(1400 + n));
      const raw = randomValues(kx!, c.x);
      const xv = c.dtype === 'int32' ? Int32Array.from(raw, (v) => Math.round(v * 100)) : c.dtype === 'bool' ? Uint8Array.from(raw, (v) => (v > 0 ? 1 : 0)) : raw;
      const idx = randintArray(ki!, c.idx.reduce((a, b) => a * b, 1), 0, c.x[c.axis]!);
      const ref = gatherReference(xv, c.x, idx, c.idx, c.axis, c.batchDims ?? 0);
      const body = (): tf.Tensor => tf.cast(tf.gather(tf.tensor(xv, c.x, c.dtype ?? 'float32'), tf.tensor(idx, c.idx, 'int32'), c.axis, c.batchDims ?? 0), 'float32');
      const { error, shapes, cpu } = await wasmVsCpu(body);
      const bd = c.batchDims ?? 0;
      expect(shapes[0]).toEqual([...c.x.slice(0, c.axis), ...c.idx.slice(bd), ...c.x.slice(c.axis + 1)]);
      expect(error).toBe(0);
      expect(relativeError(cpu[0]!, ref)).toBe(0);
    });
  });

  it('rejects an index out of range, naming it', async () => {
    await expect(runOn('wasm', () => tf.gather(tf.ones([5, 2]), tf.tensor1d([1, 5], 'int32')))).rejects.toThrow(/index value 5 is not in \[0, 4\]/);
  });

  it('gradients through gather (an embedding lookup) still match the CPU backend', async () => {
    const [ke, ki] = split(caseKey(1450));
    const ev = randomValues(ke!, [30, 4]);
    const ids = randintArray(ki!, 40, 0, 30);
    const { error } = await wasmVsCpu(() => tf.grad((e: tf.Tensor) => tf.sum(tf.square(tf.gather(e, tf.tensor1d(ids, 'int32')))))(tf.tensor2d(ev, [30, 4])));
    expect(error).toBeLessThan(1e-6);
  });
});
