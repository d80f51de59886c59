// Shampoo against a float64 plain-JS port of distributed Shampoo's update (statistics per
// block and axis, inverse p-th roots by the reference's coupled Newton iteration with a ridge
// relative to the power-iteration eigenvalue, grafting, Nesterov momentum, weight decay),
// on a tree with a blocked matrix, a blocked vector and a rank-3 tensor.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, advance, disposeTree, type OptState, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { shampoo, type ShampooOptions } from '../index.js';

type Mat = number[][];
const eye = (n: number): Mat => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
const mm = (a: Mat, b: Mat): Mat => a.map((r) => b[0]!.map((_, j) => r.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
const matPow = (a: Mat, p: number): Mat => (p === 0 ? eye(a.length) : mm(a, matPow(a, p - 1)));

/** The reference's `matrix_inverse_pth_root`: coupled Newton iteration (Higham eq. 7.18) in float64. */
function newtonInverseRoot(a: Mat, p: number, eps: number): Mat {
  const n = a.length;
  let v = Array.from({ length: n }, (_, i) => Math.sin(i + 1));
  let maxEv = 0;
  for (let i = 0; i < 500; i++) {
    const norm = Math.hypot(...v);
    v = v.map((x) => x / norm);
    const av = a.map((r) => r.reduce((s, x, k) => s + x * v[k]!, 0));
    maxEv = av.reduce((s, x, k) => s + x * v[k]!, 0);
    v = av;
  }
  const ridge = eps * Math.max(maxEv, 1e-6);
  const damped = a.map((r, i) => r.map((x, j) => x + (i === j ? ridge : 0)));
  if (n === 1) return [[(damped[0]![0]!) ** (-1 / p)]];
  const fro = Math.sqrt(damped.flat().reduce((s, x) => s + x * x, 0));
  const z = (1 + p) / (2 * fro);
  let m = damped.map((r) => r.map((x) => x * z));
  let h = eye(n).map((r) => r.map((x) => x * z ** (1 / p)));
  const alpha = -1 / p;
  for (let i = 0; i < 200; i++) {
    const mi = eye(n).map((r, a2) => r.map((x, b2) => (1 - alpha) * x + alpha * m[a2]![b2]!));
    m = mm(matPow(mi, p), m);
    h = mm(h, mi);
    if (Math.max(...m.flatMap((r, a2) => r.map((x, b2) => Math.abs(x - (a2 === b2 ? 1 : 0))))) < 1e-13) break;
  }
  return h;
}

/** A dense float64 tensor: flat row-major data and shape. */
interface T64 { shape: number[]; data: number[] }
const strides = (shape: number[]) => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
const indexOf = (shape: number[], idx: number[]) => idx.reduce((s, v, i) => s + v * strides(shape)[i]!, 0);
function* indices(shape: number[]): Generator<number[]> {
  const total = shape.reduce((a, b) => a * b, 1);
  for (let f = 0; f < total; f++) yield shape.map((_, i) => Math.floor(f / strides(shape)[i]!) % shape[i]!);
}

/** Blocks (start offsets and sizes per axis), first axis slowest, as the reference partitions. */
function blocksOf(shape: number[], bs: number): { start: number[]; size: number[] }[] {
  const cuts = shape.map((d) => (bs < d ? Array.from({ length: Math.ceil(d / bs) }, (_, k) => [k * bs, Math.min(bs, d - k * bs)]) : [[0, d]]));
  let out: { start: number[]; size: number[] }[] = [{ start: [], size: [] }];
  for (const axis of cuts) out = out.flatMap((b) => axis.map(([s, n]) => ({ start: [...b.start, s!], size: [...b.size, n!] })));
  return out;
}
const block = (t: T64, b: { start: number[]; size: number[] }): T64 => ({
  shape: b.size,
  data: [...indices(b.size)].map((idx) => t.data[indexOf(t.shape, idx.map((v, i) => v + b.start[i]!))]!),
});
function gram(b: T64, axis: number): Mat {
  const n = b.shape[axis]!;
  const out = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (const i of indices(b.shape)) for (let j = 0; j < n; j++) {
    const other = [...i];
    other[axis] = j;
    out[i[axis]!]![j]! += b.data[indexOf(b.shape, i)]! * b.data[indexOf(b.shape, other)]!;
  }
  return out;
}
/** `result[i0..] = sum_k P0[k0][i0] P1[k1][i1] ... b[k0, k1, ...]`. */
function precondition(b: T64, ps: Mat[]): number[] {
  let data = b.data;
  b.shape.forEach((n, axis) => {
    data = [...indices(b.shape)].map((idx) => {
      let s = 0;
      for (let k = 0; k < n; k++) {
        const src = [...idx];
        src[axis] = k;
        s += ps[axis]![k]![idx[axis]!]! * data[indexOf(b.shape, src)]!;
      }
      return s;
    });
  });
  return data;
}

interface RefSettings { lr: number; bs: number; b1: number; b2: number; eps: number; wd: number; start: number; every: number; graft: 'rmsprop' | 'adagrad'; nesterov: boolean; movingAverage: boolean; decoupledWd: boolean }

/** One leaf of the reference, over `steps` gradients; returns the parameters after each step. */
function referenceLeaf(p0: T64, grads: number[][], r: RefSettings): number[][] {
  const blocks = blocksOf(p0.shape, r.bs);
  const rank = p0.shape.length;
  let stats = blocks.flatMap((b) => b.size.map((n) => eye(n).map((row) => row.map((x) => Math.fround(x * 1e-6)))));
  let pre = blocks.flatMap((b) => b.size.map((n) => eye(n)));
  let p = [...p0.data];
  let [diag, mom, dmom] = [p.map(() => 0), p.map(() => 0), p.map(() => 0)];
  const out: number[][] = [];
  const w2 = r.b2 === 1 ? 1 : 1 - r.b2;
  const norm = (v: number[]) => Math.hypot(...v);
  grads.forEach((g, step) => {
    const gt = { shape: p0.shape, data: g };
    stats = blocks.flatMap((b, bi) => b.size.map((_, ax) => {
      const gm = gram(block(gt, b), ax);
      // the reference keeps statistics (and preconditioners) in float32, as lopt does
      return stats[bi * rank + ax]!.map((row, i) => row.map((x, j) => Math.fround(r.b2 * x + w2 * gm[i]![j]!)));
    }));
    if (step % r.every === 0) pre = stats.map((st) => newtonInverseRoot(st, 2 * rank, 1e-6).map((row) => row.map(Math.fround)));
    diag = diag.map((d, i) => (r.graft === 'adagrad' ? d + g[i]! ** 2 : r.b2 * d + w2 * g[i]! ** 2));
    const graft = g.map((x, i) => x / (Math.sqrt(diag[i]!) + 1e-10));
    const pg = new Array<number>(p.length).fill(0);
    blocks.forEach((b, bi) => {
      const res = precondition(block(gt, b), pre.slice(bi * rank, (bi + 1) * rank));
      [...indices(b.size)].forEach((idx, k) => (pg[indexOf(p0.shape, idx.map((v, i) => v + b.start[i]!))] = res[k]!));
    });
    const mult = norm(graft) / (norm(pg) + 1e-16);
    const coupled = (u: number[]) => (r.wd !== 0 && !r.decoupledWd ? u.map((x, i) => x + r.wd * p[i]!) : u);
    const sh = coupled(pg.map((x) => x * mult));
    const gr = coupled(graft);
    const w = r.movingAverage ? 1 - r.b1 : 1;
    mom = mom.map((m, i) => m * r.b1 + w * sh[i]!);
    dmom = dmom.map((m, i) => m * r.b1 + w * gr[i]!);
    const run = step >= r.start;
    let upd = run ? mom : dmom;
    if (r.nesterov) upd = upd.map((m, i) => w * (run ? sh : gr)[i]! + r.b1 * m);
    if (r.wd !== 0 && r.decoupledWd) upd = upd.map((u, i) => u + r.lr * r.wd * p[i]!);
    p = p.map((x, i) => x - r.lr * upd[i]!);
    out.push([...p]);
  });
  return out;
}

const SHAPES: Record<string, number[]> = { w: [3, 4], b: [4], t: [2, 3, 2] };
const P0: Record<string, number[]> = Object.fromEntries(
  Object.entries(SHAPES).map(([k, s], li) => [k, Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => Math.cos(0.7 * i + li))]),
);
const gradAt = (leaf: number, step: number, n: number) => Array.from({ length: n }, (_, i) => Math.sin(1.7 * i + 0.9 * step + leaf + 0.37 * i * step * step) * (1 + 0.5 * (i % 3)));

function runLopt(options: ShampooOptions, steps: number): Record<string, number[][]> {
  const opt = shampoo(options);
  const names = Object.keys(SHAPES).sort();
  let state: OptState<unknown> = opt.init(Object.fromEntries(names.map((k) => [k, tf.tensor(P0[k]!, SHAPES[k])])));
  const out: Record<string, number[][]> = Object.fromEntries(names.map((k) => [k, []]));
  for (let step = 0; step < steps; step++) {
    const grads = Object.fromEntries(names.map((k) => [k, tf.tensor(gradAt(names.indexOf(k), step, P0[k]!.length), SHAPES[k])]));
    state = advance(opt, state, grads);
    disposeTree(grads);
    for (const k of names) out[k]!.push(Array.from((state.params as Record<string, tf.Tensor>)[k]!.dataSync()));
  }
  disposeTree([state.params, state.state as TensorTree]);
  return out;
}

function compare(options: ShampooOptions, r: RefSettings, steps: number): void {
  const got = runLopt(options, steps);
  const names = Object.keys(SHAPES).sort();
  for (const k of names) {
    const grads = Array.from({ length: steps }, (_, s) => gradAt(names.indexOf(k), s, P0[k]!.length));
    const ref = referenceLeaf({ shape: SHAPES[k]!, data: P0[k]! }, grads, r);
    ref.forEach((p, s) => {
      const dGot = got[k]![s]!.map((x, i) => x - P0[k]![i]!);
      const dRef = p.map((x, i) => x - P0[k]![i]!);
      expectClose(dGot, dRef, { rtol: 2e-4, atol: 2e-6, label: `${k} step ${s + 1}` });
    });
  }
}

describe('shampoo', () => {
  it('matches the float64 reference: blocks, RMSProp grafting, Nesterov, coupled weight decay', () => {
    const r: RefSettings = { lr: 0.05, bs: 2, b1: 0.9, b2: 0.9, eps: 1e-10, wd: 0.01, start: 2, every: 1, graft: 'rmsprop', nesterov: true, movingAverage: false, decoupledWd: false };
    compare(
      { learningRate: 0.05, blockSize: 2, beta2: 0.9, weightDecay: 0.01, startPreconditioningStep: 2, graftType: 'rmsprop', bestEffortShapeInterpretation: false },
      r,
      6,
    );
  });

  // Statistics are float32 (in the reference too): before a block has seen as many gradients as
  // its size, its small eigenvalues are the 1e-6 ridge, which float32 cannot resolve next to
  // entries near 1, so both tests start preconditioning once the statistics have full rank.
  it('matches the reference: Adagrad grafting with summed statistics, decoupled decay, averaged momentum, roots every 2 steps', () => {
    const r: RefSettings = { lr: 0.1, bs: 3, b1: 0.8, b2: 1, eps: 1e-10, wd: 0.05, start: 4, every: 2, graft: 'adagrad', nesterov: false, movingAverage: true, decoupledWd: true };
    compare(
      {
        learningRate: 0.1, blockSize: 3, beta1: 0.8, beta2: 1, weightDecay: 0.05, startPreconditioningStep: 4, preconditioningComputeSteps: 2,
        graftType: 'adagrad', nesterov: false, movingAverageForMomentum: true, decoupledWeightDecay: true, bestEffortShapeInterpretation: false,
      },
      r,
      6,
    );
  });

  it('merges small axes as the reference does (a 3x4 matrix becomes one 12-vector)', () => {
    const opt = shampoo({ blockSize: 128 });
    const state = opt.init({ w: tf.zeros([3, 4]), big: tf.zeros([70, 80]) });
    const leaves = (state.state as { leaves: { statistics: tf.Tensor[] }[] }).leaves;
    // tree order: big, w
    expect(leaves[0]!.statistics.map((s) => s.shape)).toEqual([[70, 70], [80, 80]]);
    expect(leaves[1]!.statistics.map((s) => s.shape)).toEqual([[12, 12]]);
    disposeTree([state.params, state.state as TensorTree]);
  });

  it.each([
    [{ blockSize: 0 }, 'blockSize'],
    [{ beta2: 0 }, 'beta2'],
    [{ graftType: 'adam' }, 'graftType'],
    [{ matrixEpsilon: 0 }, 'matrixEpsilon'],
    [{ preconditioningComputeSteps: 1.5 }, 'preconditioningComputeSteps'],
    [{ blocksize: 4 }, 'blocksize'],
  ])('rejects %o naming the option', (options, name) => {
    expect(() => shampoo(options as never)).toThrow(LoptError);
    expect(() => shampoo(options as never)).toThrow(name);
  });
});
