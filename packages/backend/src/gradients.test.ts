import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { split } from '@lopt/core';
import { fillGradientGaps } from './index.js';
import { caseKey, randomValues, relativeError, runOn } from '../test/harness.js';
import { einsumReference } from '../test/reference.js';

// tfjs 4.22's CPU einsum kernel fails on labels summed out of one operand alone in some
// equations ('abc,bd->d' throws); such forward passes are only run on WASM (lopt's kernel).
const cases: { eq: string; shapes: number[][]; cpuForwardBroken?: true }[] = [
  { eq: 'ij,jk->ik', shapes: [[3, 4], [4, 5]] },
  { eq: 'bhqd,bhkd->bhqk', shapes: [[2, 2, 3, 4], [2, 2, 5, 4]] },
  { eq: 'bhqk,bkhd->bqhd', shapes: [[2, 2, 3, 5], [2, 5, 2, 4]] },
  { eq: 'ab,cb->a', shapes: [[3, 4], [5, 4]] }, // c summed out of the second operand alone
  { eq: 'abc,bd->d', shapes: [[2, 3, 4], [3, 5]], cpuForwardBroken: true }, // a and c summed out of the first alone
  { eq: 'abc->ca', shapes: [[2, 3, 4]] },
];

describe('Einsum gradient (registered by fillGradientGaps)', () => {
  it('is registered, idempotently', () => {
    expect(fillGradientGaps()).toEqual(['Einsum']);
    expect(fillGradientGaps()).toEqual(['Einsum']);
    expect(tf.getGradient('Einsum')).toBeDefined();
  });

  cases.forEach((c, n) => {
    for (const backend of c.cpuForwardBroken ? (['wasm'] as const) : (['wasm', 'cpu'] as const)) {
      it(`${c.eq} on ${backend} equals the exact float64 gradient`, async () => {
        const keys = split(caseKey(1000 + n), c.shapes.length + 1);
        const vals = c.shapes.map((s, j) => randomValues(keys[j]!, s));
        const outShape = einsumReference(c.eq, vals.map((values, j) => ({ values, shape: c.shapes[j]! }))).shape;
        const w = randomValues(keys[c.shapes.length]!, outShape);
        // L = sum(w * einsum(...)) is linear in each operand, so dL/dA[i] = L(A + e_i) - L(A), exactly.
        const loss = (ops: ArrayLike<number>[]): number => {
          const out = einsumReference(c.eq, ops.map((values, j) => ({ values, shape: c.shapes[j]! }))).values;
          return out.reduce((acc, v, i) => acc + v * w[i]!, 0);
        };
        const base = loss(vals);
        const expected = vals.map((v, j) =>
          Float64Array.from(v, (_, i) => {
            const bumped = vals.map((u) => Float64Array.from(u));
            bumped[j]![i]! += 1;
            return loss(bumped) - base;
          }),
        );
        fillGradientGaps();
        const got = await runOn(backend, () =>
          tf.grads((...ops: tf.Tensor[]) => tf.sum(tf.mul(tf.einsum(c.eq, ...ops), tf.tensor(w, outShape))))(vals.map((v, j) => tf.tensor(v, c.shapes[j]))),
        );
        got.values.forEach((g, j) => {
          expect(got.shapes[j]).toEqual(c.shapes[j]);
          expect(relativeError(g, expected[j]!)).toBeLessThan(1e-4);
        });
      });
    }
  });
});
