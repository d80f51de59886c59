import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectClose } from '@lopt/testkit';
import {
  decayToParam,
  factoredDims,
  initFactored,
  paramToDecay,
  secondMomentNormalize,
  tanhEmbedding,
  sinEmbedding,
  updateFactored,
  updateMomentum,
  updateRms,
} from './common.js';
import { adafacLeafFeatures } from './adafac-features.js';

// A hand-built gradient sequence for a [2, 3] tensor.
const G = [
  [0.5, -1.0, 2.0, 0.1, -0.3, 0.7],
  [-0.2, 0.4, 1.5, -0.6, 0.05, -1.2],
  [1.1, -0.8, 0.3, 0.9, -0.4, 0.2],
];
const DECAYS = [0.5, 0.9, 0.99];

/** A factored slot's row/column accumulators (shapes, values) and the factored gradient, against expected numbers (rtol 1e-5). */
function expectFactored(slot: unknown, facG: tf.Tensor, exp: { rowShape: number[]; colShape: number[]; row: number[]; col: number[]; fac: number[] }): void {
  const s = slot as { row: tf.Tensor; col: tf.Tensor };
  expect(s.row.shape).toEqual(exp.rowShape);
  expect(s.col.shape).toEqual(exp.colShape);
  expectClose(s.row, exp.row, { rtol: 1e-5 });
  expectClose(s.col, exp.col, { rtol: 1e-5 });
  expectClose(facG, exp.fac, { rtol: 1e-5 });
}

describe('accumulators and normalized features (vs float64 plain JS)', () => {
  it('momentum and rms after three steps', () => {
    let m = tf.zeros([3, 2, 3]);
    let v = tf.zeros([3, 2, 3]);
    const d = tf.tensor1d(DECAYS);
    for (const g of G) {
      const gt = tf.tensor2d(g, [2, 3]);
      [m, v] = [updateMomentum(m, gt, d), updateRms(v, gt, d)];
    }
    const expM: number[] = [];
    const expV: number[] = [];
    for (const dk of DECAYS) {
      for (let e = 0; e < 6; e++) {
        let mm = 0;
        let vv = 0;
        for (const g of G) {
          mm = dk * mm + (1 - dk) * (g[e] as number);
          vv = dk * vv + (1 - dk) * (g[e] as number) ** 2;
        }
        expM.push(mm);
        expV.push(vv);
      }
    }
    expectClose(m, expM, { rtol: 1e-5 });
    expectClose(v, expV, { rtol: 1e-5 });
  });

  it('factored accumulators: row/col EMAs and the preconditioned gradient', () => {
    // [2, 3]: largest axis 1 (d0), second largest 0 (d1): v_row is [2] (mean over columns), v_col [3].
    expect(factoredDims([2, 3])).toEqual([0, 1]);
    expect(factoredDims([5, 3])).toEqual([1, 0]);
    expect(factoredDims([4, 4])).toEqual([0, 1]);
    expect(factoredDims([7])).toBeNull();
    let slot = initFactored([2, 3], 3);
    let facG: tf.Tensor = tf.zeros([1]);
    const d = tf.tensor1d(DECAYS);
    for (const g of G) {
      const u = updateFactored(slot, tf.tensor2d(g, [2, 3]), d);
      slot = u.slot;
      facG = u.facG;
    }
    const expRow: number[] = [];
    const expCol: number[] = [];
    const expFac: number[] = [];
    for (const dk of DECAYS) {
      const row = [0, 0];
      const col = [0, 0, 0];
      for (const g of G) {
        for (let i = 0; i < 2; i++) row[i] = dk * (row[i] as number) + (1 - dk) * ((g[3 * i] as number) ** 2 + (g[3 * i + 1] as number) ** 2 + (g[3 * i + 2] as number) ** 2 + 3e-30) / 3;
        for (let j = 0; j < 3; j++) col[j] = dk * (col[j] as number) + (1 - dk) * ((g[j] as number) ** 2 + (g[3 + j] as number) ** 2 + 2e-30) / 2;
      }
      expRow.push(...row);
      expCol.push(...col);
      const rowMean = ((row[0] as number) + (row[1] as number)) / 2;
      const last = G[2] as number[];
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 3; j++) {
          expFac.push((last[3 * i + j] as number) / Math.sqrt((row[i] as number) / (rowMean + 1e-9)) / Math.sqrt(col[j] as number));
        }
      }
    }
    expectFactored(slot, facG, { rowShape: [3, 2], colShape: [3, 3], row: expRow, col: expCol, fac: expFac });
  });

  it('factored accumulators when the first axis is the largest ([3, 2]: v_row is per column)', () => {
    // Same numbers laid out as [3, 2] (element (i, j) = G[t][2 i + j]); d0 = 0, d1 = 1.
    let slot = initFactored([3, 2], 1);
    let facG: tf.Tensor = tf.zeros([1]);
    const dk = 0.9;
    for (const g of G) {
      const u = updateFactored(slot, tf.tensor2d(g, [3, 2]), tf.tensor1d([dk]));
      slot = u.slot;
      facG = u.facG;
    }
    const vRow = [0, 0]; // mean over axis 0 (d0): one per column
    const vCol = [0, 0, 0]; // mean over axis 1 (d1): one per row
    for (const g of G) {
      for (let j = 0; j < 2; j++) vRow[j] = dk * (vRow[j] as number) + (1 - dk) * [0, 1, 2].reduce((a, i) => a + (g[2 * i + j] as number) ** 2 + 1e-30, 0) / 3;
      for (let i = 0; i < 3; i++) vCol[i] = dk * (vCol[i] as number) + (1 - dk) * ((g[2 * i] as number) ** 2 + (g[2 * i + 1] as number) ** 2 + 2e-30) / 2;
    }
    const mean = ((vRow[0] as number) + (vRow[1] as number)) / 2;
    const last = G[2] as number[];
    const exp: number[] = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) exp.push((last[2 * i + j] as number) / Math.sqrt((vRow[j] as number) / (mean + 1e-9)) / Math.sqrt(vCol[i] as number));
    expectFactored(slot, facG, { rowShape: [1, 2], colShape: [1, 3], row: vRow, col: vCol, fac: exp });
  });

  it('the 28 adafac features of a rank-1 tensor (unfactored branch), normalized', () => {
    const p = tf.tensor1d([0.3, -0.7, 1.2, 0.05]);
    const g = tf.tensor1d([0.2, -0.1, 0.4, -0.3]);
    const km = [0.9, 0.99, 0.999];
    const decays = { mom: tf.tensor1d(km), rms: tf.tensor1d([0.999]), fac: tf.tensor1d(km) };
    const f = adafacLeafFeatures(p, g, { m: tf.zeros([3, 4]), rms: tf.zeros([1, 4]), fac: { diag: tf.zeros([3, 4]) } }, decays);
    const x = secondMomentNormalize(f.x).arraySync();
    const pv = [0.3, -0.7, 1.2, 0.05];
    const gv = [0.2, -0.1, 0.4, -0.3];
    const raw: number[][] = Array.from({ length: 28 }, () => []);
    gv.forEach((gg, e) => {
      const r = 0.001 * gg * gg;
      const q = 1 / Math.sqrt(r + 1e-6);
      const m = km.map((d) => (1 - d) * gg);
      const v = km.map((d) => (1 - d) * (gg * gg + 1e-30));
      const row = [gg, pv[e] as number, ...m, r, ...m.map((mm) => mm * q), q, ...v.map((vv) => gg / Math.sqrt(vv + 1e-9)), ...v, ...v, ...v.map((vv) => 1 / Math.sqrt(vv + 1e-8)), ...v.map((vv) => 1 / Math.sqrt(vv + 1e-8)), ...m.map((mm, k) => mm / Math.sqrt((v[k] as number) + 1e-6))];
      row.forEach((val, i) => (raw[i] as number[]).push(val));
    });
    raw.forEach((col, i) => {
      const rms = Math.sqrt(1e-5 + col.reduce((a, b) => a + b * b, 0) / col.length);
      expectClose(x[i] as number[], col.map((c) => c / rms), { rtol: 2e-5, atol: 1e-6, label: `feature ${i}` });
    });
  });

  it('time embeddings and decay parameterization', () => {
    expectClose(tanhEmbedding(0), new Array(11).fill(Math.tanh(-1)), { rtol: 1e-7 });
    expectClose(tanhEmbedding(30), [1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000].map((t) => Math.tanh(30 / t - 1)), { rtol: 1e-6 });
    expectClose(sinEmbedding(7), [1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000].map((t) => Math.sin(7 / (t * Math.PI))), { rtol: 1e-7 });
    expect(decayToParam(0.9)).toBeCloseTo(Math.log(0.1) / 10, 12);
    expectClose(paramToDecay([0.9, 0.99], tf.tensor1d([0, 0.1])), [0.9, 1 - Math.exp(10 * (Math.log(0.01) / 10 + 0.1))], { rtol: 1e-6 });
  });
});
