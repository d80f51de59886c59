// SOAP against a float64 plain-JS port of the authors' `SOAP.step` (Kronecker factors, eigenbases
// by descending eigenvalue, Adam in the rotated basis, decoupled decay on the updated parameters,
// power iteration + QR refresh with the second moment permuted). The port shares only the
// eigensolver and Householder QR, which symmetric-eigen.test.ts checks on their own.
// Parameters are square or full-rank when unfolded, so no factor has a degenerate eigenspace whose
// basis float32 round-off could choose differently.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, advance, disposeTree, type OptState, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { soap, type SoapOptions } from '../index.js';
import { householderQ, symmetricEigen } from './symmetric-eigen.js';

type Mat = number[][];
const strides = (shape: number[]) => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
const flat = (shape: number[], idx: number[]) => idx.reduce((s, v, i) => s + v * strides(shape)[i]!, 0);
const all = (shape: number[]) => {
  const total = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: total }, (_, f) => shape.map((_, i) => Math.floor(f / strides(shape)[i]!) % shape[i]!));
};
function gram(data: number[], shape: number[], axis: number): Mat {
  const n = shape[axis]!;
  const out = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (const i of all(shape)) for (let j = 0; j < n; j++) {
    const o = [...i];
    o[axis] = j;
    out[i[axis]!]![j]! += data[flat(shape, i)]! * data[flat(shape, o)]!;
  }
  return out;
}
/** Multiplies axis `axis` by `m` (`out[.., j, ..] = sum_k m[k][j] x[.., k, ..]`), keeping the axis order. */
function alongAxis(data: number[], shape: number[], axis: number, m: Mat): number[] {
  return all(shape).map((idx) => {
    let s = 0;
    for (let k = 0; k < shape[axis]!; k++) {
      const src = [...idx];
      src[axis] = k;
      s += m[k]![idx[axis]!]! * data[flat(shape, src)]!;
    }
    return s;
  });
}
const transpose = (m: Mat): Mat => m[0]!.map((_, j) => m.map((r) => r[j]!));
const toMat = (a: Float64Array, n: number): Mat => Array.from({ length: n }, (_, i) => Array.from(a.slice(i * n, i * n + n)));
const mm = (a: Mat, b: Mat): Mat => a.map((r) => b[0]!.map((_, j) => r.reduce((s, v, k) => s + v * b[k]![j]!, 0)));

interface Ref { lr: number; b1: number; b2: number; eps: number; wd: number; freq: number }

function referenceLeaf(shape: number[], p0: number[], grads: number[][], r: Ref): number[][] {
  const rotated = shape.length > 1;
  const axes = rotated ? shape.map((_, i) => i) : [];
  let gg: Mat[] = axes.map((a) => Array.from({ length: shape[a]! }, () => new Array<number>(shape[a]!).fill(0)));
  let q: Mat[] = [];
  let [m, v, p] = [p0.map(() => 0), p0.map(() => 0), [...p0]];
  const project = (x: number[], back: boolean) => axes.reduce((acc, a) => alongAxis(acc, shape, a, back ? transpose(q[a]!) : q[a]!), x);
  const updateFactors = (g: number[]) => (gg = gg.map((f, a) => { const o = gram(g, shape, a); return f.map((row, i) => row.map((x, j) => x + (1 - r.b2) * (o[i]![j]! - x))); }));
  const out: number[][] = [];
  grads.forEach((g, t) => {
    if (t === 0) {
      updateFactors(g);
      q = gg.map((f) => { const e = symmetricEigen(f.flat(), f.length); return toMat(e.vectors, f.length).map((row) => [...row].reverse()); });
      out.push([...p]);
      return;
    }
    const gp = project(g, false);
    m = m.map((x, i) => r.b1 * x + (1 - r.b1) * gp[i]!);
    v = v.map((x, i) => r.b2 * x + (1 - r.b2) * gp[i]! ** 2);
    const stepSize = (r.lr * Math.sqrt(1 - r.b2 ** t)) / (1 - r.b1 ** t);
    const dir = project(m.map((x, i) => x / (Math.sqrt(v[i]!) + r.eps)), true);
    p = p.map((x, i) => x - stepSize * dir[i]!);
    p = p.map((x) => x - r.lr * r.wd * x);
    const mOrig = project(m, true);
    updateFactors(g);
    if (t % r.freq === 0) {
      q = q.map((o, a) => {
        const est = transpose(o).map((col, j) => col.reduce((s, x, i) => s + x * mm(gg[a]!, o)[i]![j]!, 0));
        const order = est.map((_, j) => j).sort((x, y) => est[y]! - est[x]!);
        v = all(shape).map((idx) => { const src = [...idx]; src[a] = order[idx[a]!]!; return v[flat(shape, src)]!; });
        const sorted = o.map((row) => order.map((j) => row[j]!));
        const power = mm(gg[a]!, sorted);
        return toMat(householderQ(power.flat(), o.length), o.length);
      });
    }
    m = project(mOrig, false);
    out.push([...p]);
  });
  return out;
}

const SHAPES: Record<string, number[]> = { a: [3, 3], b: [2, 2, 2], v: [4] };
const NAMES = Object.keys(SHAPES).sort();
const P0 = Object.fromEntries(NAMES.map((k, li) => [k, Array.from({ length: SHAPES[k]!.reduce((x, y) => x * y, 1) }, (_, i) => Math.cos(0.7 * i + li))]));
const gradAt = (leaf: number, step: number, n: number) => Array.from({ length: n }, (_, i) => Math.sin(1.3 * i + 0.8 * step + leaf + 0.29 * i * step * step) * (1 + 0.4 * (i % 3)));

function runLopt(options: SoapOptions, steps: number): Record<string, number[][]> {
  const opt = soap(options);
  let state: OptState<unknown> = opt.init(Object.fromEntries(NAMES.map((k) => [k, tf.tensor(P0[k]!, SHAPES[k])])));
  const out: Record<string, number[][]> = Object.fromEntries(NAMES.map((k) => [k, []]));
  for (let step = 0; step < steps; step++) {
    const grads = Object.fromEntries(NAMES.map((k, li) => [k, tf.tensor(gradAt(li, step, P0[k]!.length), SHAPES[k])]));
    state = advance(opt, state, grads);
    disposeTree(grads);
    for (const k of NAMES) out[k]!.push(Array.from((state.params as Record<string, tf.Tensor>)[k]!.dataSync()));
  }
  disposeTree([state.params, state.state as TensorTree]);
  return out;
}

describe('soap', () => {
  it('matches a float64 port of the reference over 8 steps (bases refreshed at steps 3 and 6)', () => {
    const r: Ref = { lr: 0.05, b1: 0.9, b2: 0.95, eps: 1e-8, wd: 0.5, freq: 3 };
    const steps = 8;
    const got = runLopt({ learningRate: r.lr, beta1: r.b1, beta2: r.b2, weightDecay: r.wd, preconditionFrequency: r.freq }, steps);
    NAMES.forEach((k, li) => {
      const grads = Array.from({ length: steps }, (_, s) => gradAt(li, s, P0[k]!.length));
      const ref = referenceLeaf(SHAPES[k]!, P0[k]!, grads, r);
      expect(got[k]![0]).toEqual(P0[k]!.map(Math.fround)); // the first call only builds the bases
      ref.forEach((p, s) => {
        const d = (x: number[]) => x.map((y, i) => y - P0[k]![i]!);
        expectClose(d(got[k]![s]!), d(p), { rtol: 1e-4, atol: 1e-6, label: `${k} step ${s + 1}` });
      });
    });
  });

  it.each([
    [{ beta1: 1 }, 'beta1'],
    [{ preconditionFrequency: 0 }, 'preconditionFrequency'],
    [{ maxPreconditionDim: 0.5 }, 'maxPreconditionDim'],
    [{ weightDecay: -1 }, 'weightDecay'],
    [{ dataFormat: 'channels_last' }, 'dataFormat'],
  ])('rejects %o naming the option', (options, name) => {
    expect(() => soap(options as never)).toThrow(LoptError);
    expect(() => soap(options as never)).toThrow(name);
  });
});
