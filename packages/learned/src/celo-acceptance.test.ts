// Acceptance tests of Celo, Celo-Adam and Celo2 with the published weights: 30 steps of a
// fixed gradient sequence on a tree with matrices (square, wide, tall), a bias, a rank-3
// tensor and a scalar, compared with a float64 plain-JS implementation of
// ../shared/pretrained/ALGORITHMS.md written here, independently of the port.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { advance, disposeTree, key, normalArray, treeLeaves, type OptState, type Optimizer, type TensorTree } from '@lopt/core';
import { pretrained } from './pretrained/pretrained.js';

// ---------------------------------------------------------------- the fixed problem
const SHAPES: number[][] = [[2, 3, 4], [6], [4, 6], [6, 3], [5, 5], []]; // leaf order of PARAMS_TREE
const SIZES = SHAPES.map((s) => s.reduce((a, b) => a * b, 1));
const STEPS = 30;
const GRAD_SCALE = [0.5, 2, 1, 0.1, 0.01, 3];
const P0: number[][] = SHAPES.map((_, i) => Array.from(normalArray(key(70 + i), SIZES[i] as number), (v) => Math.fround(0.5 * v)));
const GRADS: number[][][] = Array.from({ length: STEPS }, (_, t) =>
  SHAPES.map((_, i) => {
    const g = Array.from(normalArray(key(1000 + 10 * t + i), SIZES[i] as number), (v) => Math.fround((GRAD_SCALE[i] as number) * v));
    if (t === 3 && i === 5) g[0] = 1500; // exercises the +-1000 clip
    return g;
  }),
);
const LOSSES = Array.from({ length: STEPS }, (_, t) => Math.fround(1 + Math.exp(-t / 8) + 0.05 * Math.sin(3 * t)));

function tree(leaves: number[][]): TensorTree {
  const t = leaves.map((v, i) => tf.tensor(v, SHAPES[i], 'float32'));
  return { conv: { k: t[0] as tf.Tensor }, layer1: { b: t[1] as tf.Tensor, w: t[2] as tf.Tensor }, layer2: { w: t[3] as tf.Tensor }, mid: { w: t[4] as tf.Tensor }, s: t[5] as tf.Tensor };
}

/** Runs the port for 30 steps and returns the displacement of every leaf. */
function runPort(opt: Optimizer, withLoss: boolean): number[][] {
  let state: OptState = opt.init(tree(P0), { numSteps: 100 });
  for (let t = 0; t < STEPS; t++) {
    const grads = tree(GRADS[t] as number[][]);
    const loss = tf.scalar(LOSSES[t] as number);
    state = advance(opt, state, grads, withLoss ? { loss } : {});
    disposeTree(grads);
    loss.dispose();
  }
  const out = treeLeaves(state.params).map((p, i) => Array.from(p.dataSync(), (v, e) => v - ((P0[i] as number[])[e] as number)));
  disposeTree({ p: state.params, s: state.state as TensorTree });
  return out;
}

function expectDisplacementClose(got: number[][], want: number[][], rtol: number): void {
  want.forEach((w, i) => {
    const scale = Math.max(...w.map(Math.abs));
    expect(scale).toBeGreaterThan(1e-6); // every leaf moved: the comparison is not vacuous
    const err = Math.max(...w.map((v, e) => Math.abs(v - ((got[i] as number[])[e] as number))));
    if (process.env.CELO_DEBUG) console.log(i, scale.toExponential(3), (err / scale).toExponential(3));
    expect(err / scale, `leaf ${i} (shape [${(SHAPES[i] as number[]).join(', ')}])`).toBeLessThan(rtol);
  });
}

// ---------------------------------------------------------------- float64 reference: shapes
type Shape = number[];
const prod = (s: Shape): number => s.reduce((a, b) => a * b, 1);
function unravel(e: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let a = shape.length - 1; a >= 0; a--) {
    idx[a] = e % (shape[a] as number);
    e = Math.floor(e / (shape[a] as number));
  }
  return idx;
}
function ravel(idx: number[], shape: Shape): number {
  return idx.reduce((acc, v, a) => acc * (shape[a] as number) + v, 0);
}
const without = <T>(xs: T[], axis: number): T[] => xs.filter((_, a) => a !== axis);

/** ALGORITHMS.md 1.1: A = largest axis, B = second largest (stable; later axis larger on ties). */
function factoredAxes(shape: Shape): { A: number; B: number } {
  const order = shape.map((d, i) => ({ d, i })).sort((x, y) => x.d - y.d || x.i - y.i);
  return { A: (order[order.length - 1] as { i: number }).i, B: (order[order.length - 2] as { i: number }).i };
}

/** Mean of `x` (of `shape`) over `axis`: returns data of shape without that axis. */
function meanOver(x: number[], shape: Shape, axis: number): number[] {
  const rshape = without(shape, axis);
  const out = new Array<number>(prod(rshape)).fill(0);
  x.forEach((v, e) => {
    const j = ravel(without(unravel(e, shape), axis), rshape);
    out[j] = (out[j] as number) + v / (shape[axis] as number);
  });
  return out;
}

// ---------------------------------------------------------------- float64 reference: accumulators and features
interface Acc {
  m: number[][];
  v: number[];
  vA: number[][];
  vB: number[][];
  vF: number[][];
}
const MOM = [0.9, 0.99, 0.999];
const FAC = [0.9, 0.99, 0.999];

function newAcc(shape: Shape): Acc {
  const n = prod(shape);
  const fac = shape.length >= 2 ? factoredAxes(shape) : null;
  return {
    m: MOM.map(() => new Array<number>(n).fill(0)),
    v: new Array<number>(n).fill(0),
    vA: fac ? FAC.map(() => new Array<number>(prod(without(shape, fac.A))).fill(0)) : [],
    vB: fac ? FAC.map(() => new Array<number>(prod(without(shape, fac.B))).fill(0)) : [],
    vF: fac ? [] : FAC.map(() => new Array<number>(n).fill(0)),
  };
}

/** ALGORITHMS.md 1.2 (in place) then 1.3: the 30 (or 16) features of every element, as channels. */
function features(acc: Acc, p: number[], g: number[], shape: Shape, rho: number, epsR: number, variant: 'celo' | 'celo2'): number[][] {
  const n = g.length;
  MOM.forEach((b, k) => g.forEach((gv, e) => ((acc.m[k] as number[])[e] = b * ((acc.m[k] as number[])[e] as number) + (1 - b) * gv)));
  g.forEach((gv, e) => (acc.v[e] = rho * (acc.v[e] as number) + (1 - rho) * gv * gv));
  const q = g.map((gv) => gv * gv + 1e-30);
  const r = acc.v.map((v) => 1 / Math.sqrt(v + epsR));
  const ch: number[][] = [g, g.map((x) => Math.min(0.1, Math.max(-0.1, x))), p, ...acc.m, acc.v, ...acc.m.map((m) => m.map((x, e) => x * (r[e] as number))), r];
  if (shape.length >= 2) {
    const { A, B } = factoredAxes(shape);
    const sA = without(shape, A);
    const sB = without(shape, B);
    const qA = meanOver(q, shape, A);
    const qB = meanOver(q, shape, B);
    FAC.forEach((gm, k) => {
      acc.vA[k] = (acc.vA[k] as number[]).map((x, j) => gm * x + (1 - gm) * (qA[j] as number));
      acc.vB[k] = (acc.vB[k] as number[]).map((x, j) => gm * x + (1 - gm) * (qB[j] as number));
    });
    const bInA = B < A ? B : B - 1;
    const sAB = without(sA, bInA);
    const at = (e: number, k: number) => {
      const idx = unravel(e, shape);
      const iA = without(idx, A);
      const va = (acc.vA[k] as number[])[ravel(iA, sA)] as number;
      const meanB = (meanOver(acc.vA[k] as number[], sA, bInA)[ravel(without(iA, bInA), sAB)] as number);
      const vb = (acc.vB[k] as number[])[ravel(without(idx, B), sB)] as number;
      const pre = (1 / Math.sqrt(Math.max(va / (meanB + 1e-9), 1e-9))) * (1 / Math.sqrt(Math.max(vb, 1e-9)));
      return { va, vb, pre };
    };
    const cells = FAC.map((_, k) => Array.from({ length: n }, (_, e) => at(e, k)));
    ch.push(...cells.map((c) => c.map((x, e) => (g[e] as number) * x.pre)));
    ch.push(g.map((x, e) => x * (r[e] as number)));
    ch.push(...cells.map((c) => c.map((x) => x.va)));
    ch.push(...cells.map((c) => c.map((x) => x.vb)));
    ch.push(...cells.map((c) => c.map((x) => 1 / Math.sqrt(x.va + 1e-8))));
    ch.push(...cells.map((c) => c.map((x) => 1 / Math.sqrt(x.vb + 1e-8))));
    ch.push(...cells.map((c, k) => c.map((x, e) => ((acc.m[k] as number[])[e] as number) * x.pre)));
  } else {
    FAC.forEach((gm, k) => (acc.vF[k] = (acc.vF[k] as number[]).map((x, e) => gm * x + (1 - gm) * (q[e] as number))));
    ch.push(...acc.vF.map((vf) => vf.map((x, e) => (g[e] as number) / Math.sqrt(Math.max(x + 1e-9, 1e-9)))));
    ch.push(g.map((x, e) => x * (r[e] as number)));
    if (variant === 'celo') {
      ch.push(...acc.vF, ...acc.vF);
      ch.push(...acc.vF.map((vf) => vf.map((x) => 1 / Math.sqrt(x + 1e-8))), ...acc.vF.map((vf) => vf.map((x) => 1 / Math.sqrt(x + 1e-8))));
      ch.push(...acc.vF.map((vf, k) => vf.map((x, e) => ((acc.m[k] as number[])[e] as number) / Math.sqrt(x))));
    }
  }
  return ch;
}

/** ALGORITHMS.md 1.4: per channel, divide by the RMS over the normalisation groups. */
function normalise(ch: number[][], shape: Shape, variant: 'celo' | 'celo2'): number[][] {
  const group = variant === 'celo' || shape.length <= 1 ? prod(shape) : (shape[shape.length - 1] as number) * (shape[shape.length - 2] as number);
  const eps = variant === 'celo' ? 1e-5 : 1e-9;
  return ch.map((c) =>
    c.map((x, e) => {
      const g0 = Math.floor(e / group) * group;
      let s = 0;
      for (let j = g0; j < g0 + group; j++) s += (c[j] as number) ** 2;
      return x / Math.sqrt(eps + s / group);
    }),
  );
}

/** ALGORITHMS.md 1.5 with (in, out) weights: returns [direction, magnitude] per element. */
function mlp(w: { w0: number[][]; b0: number[]; w1: number[][]; b1: number[]; w2: number[][]; b2: number[] }, ch: number[][]): [number[], number[]] {
  const n = (ch[0] as number[]).length;
  const dense = (x: number[], W: number[][], b: number[]) => b.map((bb, o) => x.reduce((a, xi, i) => a + xi * ((W[i] as number[])[o] as number), bb));
  const dir: number[] = [];
  const mag: number[] = [];
  for (let e = 0; e < n; e++) {
    const x = ch.map((c) => c[e] as number);
    const h1 = dense(x, w.w0.slice(0, x.length), w.b0).map((v) => Math.max(v, 0));
    const h2 = dense(h1, w.w1, w.b1).map((v) => Math.max(v, 0));
    const o = dense(h2, w.w2, w.b2);
    dir.push(o[0] as number);
    mag.push(o[1] as number);
  }
  return [dir, mag];
}

// ---------------------------------------------------------------- float64 reference: the Celo scheduler
const toArr = (t: tf.Tensor): number[] => Array.from(t.dataSync());
const toMat = (t: tf.Tensor): number[][] => {
  const d = toArr(t);
  const cols = t.shape[t.rank - 1] as number;
  return Array.from({ length: d.length / cols }, (_, i) => d.slice(i * cols, (i + 1) * cols));
};
const matvec = (x: number[], W: number[][], b: number[]) => b.map((bb, o) => x.reduce((a, xi, i) => a + xi * ((W[i] as number[])[o] as number), bb));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function referenceScheduler(theta: TensorTree, numSteps: number): (loss: number, t: number) => number {
  const th = theta as { rnn_params: Record<string, Record<string, tf.Tensor>> & { rnn: { linear: { w: tf.Tensor; b: tf.Tensor } } }; lstm_init_state: { hidden: tf.Tensor; cell: tf.Tensor } };
  const rp = th.rnn_params;
  const L1 = { w: toMat(rp.linear_1!.w!), b: toArr(rp.linear_1!.b!) };
  const L2 = { w: toMat(rp.linear_2!.w!), b: toArr(rp.linear_2!.b!) };
  const R = { w: toMat(rp.rnn.linear.w), b: toArr(rp.rnn.linear.b) };
  const S = { w: toMat(rp.step_size!.w!), b: toArr(rp.step_size!.b!) };
  let h = toArr(th.lstm_init_state.hidden);
  let c = toArr(th.lstm_init_state.cell);
  const d = Array.from({ length: 10 }, (_, j) => Math.exp(-1 / 10 ** (1 + (j * (Math.log10(numSteps) - 1)) / 9)));
  let mean = new Array<number>(10).fill(0);
  let runmin = new Array<number>(10).fill(999999999999.0);
  return (loss: number, t: number) => {
    const a = t === 0 ? loss : Math.max(...mean.map((mj, j) => mj / (1 - (d[j] as number) ** (t + 1))));
    const lc = Math.min(2 * Math.abs(a), loss);
    mean = mean.map((mj, j) => (d[j] as number) * mj + (1 - (d[j] as number)) * lc);
    const u = mean.map((mj, j) => mj / (1 - (d[j] as number) ** (t + 1)));
    runmin = runmin.map((rm, j) => Math.min(rm, u[j] as number));
    const lf = Array.from({ length: 9 }, (_, j) => (t + 1 <= 2 ? 0 : Math.min(1, Math.max(-1, ((u[j] as number) - (runmin[j] as number)) / Math.max(1e-8, (u[j + 1] as number) - (runmin[j] as number)) - 1))));
    const tau = t / numSteps;
    const x = [...[0.03, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1].map((s) => Math.tanh(10 * (tau - s))), ...lf];
    const u1 = matvec(x, L1.w, L1.b).map((v) => Math.max(v, 0));
    const z = matvec(x, L2.w, L2.b).map((v, i) => v + (u1[i] as number));
    const gates = matvec([...z, ...h], R.w, R.b);
    const H = h.length;
    const gi = gates.slice(0, H);
    const gc = gates.slice(H, 2 * H);
    const gf = gates.slice(2 * H, 3 * H);
    const go = gates.slice(3 * H);
    c = c.map((cv, i) => sigmoid((gf[i] as number) + 1) * cv + sigmoid(gi[i] as number) * Math.tanh(gc[i] as number));
    h = c.map((cv, i) => sigmoid(go[i] as number) * Math.tanh(cv));
    return 0.1 * Math.exp(matvec(h, S.w, S.b)[0] as number);
  };
}

// ---------------------------------------------------------------- float64 references of the three optimizers
function referenceCelo(theta: TensorTree): number[][] {
  const ff = (theta as { ff_mod_stack: { '~': Record<string, tf.Tensor> } }).ff_mod_stack['~'];
  const w = {
    w0: Array.from({ length: 14 }, (_, i) => toMat(ff[`w0__${i}`] as tf.Tensor)).flat(),
    b0: toArr(ff.b0 as tf.Tensor),
    w1: toMat(ff.w1 as tf.Tensor),
    b1: toArr(ff.b1 as tf.Tensor),
    w2: toMat(ff.w2 as tf.Tensor),
    b2: toArr(ff.b2 as tf.Tensor),
  };
  const sched = referenceScheduler(theta, 100);
  const shapes = SHAPES.map((s) => (s.length === 0 ? [1] : s));
  const acc = shapes.map(newAcc);
  const p = P0.map((x) => [...x]);
  for (let t = 0; t < STEPS; t++) {
    const lrMult = sched(LOSSES[t] as number, t);
    p.forEach((pl, i) => {
      const g = (GRADS[t]?.[i] as number[]).map((x) => Math.min(1000, Math.max(-1000, x)));
      const ch = normalise(features(acc[i] as Acc, pl, g, shapes[i] as Shape, 0.999, 1e-6, 'celo'), shapes[i] as Shape, 'celo');
      const [dir, mag] = mlp(w, ch);
      const scale = Math.sqrt(pl.reduce((a, x) => a + x * x, 0) / pl.length + 1e-9);
      p[i] = pl.map((x, e) => x - lrMult * ((dir[e] as number) * (scale * Math.exp(0.001 * (mag[e] as number))) * 0.001));
    });
  }
  return p.map((pl, i) => pl.map((x, e) => x - ((P0[i] as number[])[e] as number)));
}

function referenceCeloAdam(theta: TensorTree): number[][] {
  const sched = referenceScheduler(theta, 100);
  const p = P0.map((x) => [...x]);
  const m = P0.map((x) => x.map(() => 0));
  const v = P0.map((x) => x.map(() => 0));
  for (let t = 0; t < STEPS; t++) {
    const lrMult = sched(LOSSES[t] as number, t);
    const n = t + 1;
    p.forEach((pl, i) => {
      const g = (GRADS[t]?.[i] as number[]).map((x) => Math.min(1000, Math.max(-1000, x)));
      m[i] = (m[i] as number[]).map((x, e) => 0.9 * x + 0.1 * (g[e] as number));
      v[i] = (v[i] as number[]).map((x, e) => 0.999 * x + 0.001 * (g[e] as number) ** 2);
      p[i] = pl.map((x, e) => {
        const mh = ((m[i] as number[])[e] as number) / (1 - 0.9 ** n);
        const vh = ((v[i] as number[])[e] as number) / (1 - 0.999 ** n);
        return x - mh * ((0.001 * lrMult) / (1e-8 + Math.sqrt(vh + 1e-10)));
      });
    });
  }
  return p.map((pl, i) => pl.map((x, e) => x - ((P0[i] as number[])[e] as number)));
}

/** ALGORITHMS.md 4.2 on one slice [r, c] (row-major), float64. */
function newtonSchulz64(x: number[], r: number, c: number): number[] {
  const tall = r > c;
  const [m, n] = tall ? [c, r] : [r, c];
  let X = Array.from({ length: m }, (_, i) => Array.from({ length: n }, (_, j) => (tall ? (x[j * c + i] as number) : (x[i * c + j] as number))));
  const norm = Math.sqrt(X.flat().reduce((a, v) => a + v * v, 0));
  X = X.map((row) => row.map((v) => v / (norm + 1e-8)));
  const mm = (P: number[][], Q: number[][]) => P.map((row) => (Q[0] as number[]).map((_, j) => row.reduce((a, v, k) => a + v * ((Q[k] as number[])[j] as number), 0)));
  for (let it = 0; it < 5; it++) {
    const XT = (X[0] as number[]).map((_, j) => X.map((row) => row[j] as number));
    const P = mm(X, XT);
    const PP = mm(P, P);
    const Q = P.map((row, i) => row.map((v, j) => -4.775 * v + 2.0315 * ((PP[i] as number[])[j] as number)));
    const QX = mm(Q, X);
    X = X.map((row, i) => row.map((v, j) => 3.4445 * v + ((QX[i] as number[])[j] as number)));
  }
  const out = new Array<number>(r * c);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[tall ? j * c + i : i * c + j] = (X[i] as number[])[j] as number;
  return out;
}

type Celo2Ref = { routing: 'pylo' | 'regex'; wd: number; regex?: RegExp };

function referenceCelo2(theta: TensorTree, o: Celo2Ref): number[][] {
  const th = theta as Record<string, tf.Tensor>;
  const T = (name: string) => {
    const W = toMat(th[name] as tf.Tensor); // (out, in)
    return (W[0] as number[]).map((_, i) => W.map((row) => row[i] as number));
  };
  const w = {
    w0: Array.from({ length: 14 }, (_, i) => T(`first_layer_weights.${i}`)).flat(),
    b0: toArr(th.first_layer_bias as tf.Tensor),
    w1: T('hidden.weight'),
    b1: toArr(th['hidden.bias'] as tf.Tensor),
    w2: T('output.weight'),
    b2: toArr(th['output.bias'] as tf.Tensor),
  };
  const PATHS = ['/conv/k', '/layer1/b', '/layer1/w', '/layer2/w', '/mid/w', '/s'];
  const matrices = SHAPES.map((s, i) => (s.length >= 2 ? i : -1)).filter((i) => i >= 0);
  const adam = SHAPES.map((s, i) => (o.routing === 'regex' ? (o.regex as RegExp).test(PATHS[i] as string) : s.length <= 1 || i === matrices[0] || i === matrices[matrices.length - 1]));
  const lr = 1e-3;
  const shapes = SHAPES.map((s) => (s.length === 0 ? [1] : s));
  const acc = shapes.map(newAcc);
  const m = P0.map((x) => x.map(() => 0));
  const v = P0.map((x) => x.map(() => 0));
  const p = P0.map((x) => [...x]);
  for (let t = 0; t < STEPS; t++) {
    const n = t + 1;
    p.forEach((pl, i) => {
      const g = GRADS[t]?.[i] as number[];
      const shape = shapes[i] as Shape;
      if (adam[i]) {
        m[i] = (m[i] as number[]).map((x, e) => 0.9 * x + 0.1 * (g[e] as number));
        v[i] = (v[i] as number[]).map((x, e) => 0.95 * x + 0.05 * (g[e] as number) ** 2);
        if (o.routing === 'regex') {
          p[i] = pl.map((x, e) => x - 20 * lr * (((m[i] as number[])[e] as number) / Math.sqrt(((v[i] as number[])[e] as number) + 1e-8)) - o.wd * 20 * lr * x);
        } else {
          p[i] = pl.map((x, e) => {
            const x1 = o.wd > 0 ? x * (1 - lr * o.wd) : x;
            return x1 - (lr / (1 - 0.9 ** n)) * (((m[i] as number[])[e] as number) / (Math.sqrt((v[i] as number[])[e] as number) / Math.sqrt(1 - 0.95 ** n) + 1e-8));
          });
        }
        return;
      }
      const gc = g.map((x) => Math.min(1000, Math.max(-1000, x)));
      const [dir] = mlp(w, normalise(features(acc[i] as Acc, pl, gc, shape, 0.95, 1e-8, 'celo2'), shape, 'celo2'));
      const slice = shape.length >= 2 ? (shape[shape.length - 1] as number) * (shape[shape.length - 2] as number) : prod(shape);
      let s: number[] = [];
      for (let b = 0; b < dir.length / slice; b++) {
        let part = dir.slice(b * slice, (b + 1) * slice);
        if (shape.length >= 2) part = newtonSchulz64(part, shape[shape.length - 2] as number, shape[shape.length - 1] as number);
        const rms = Math.sqrt(1e-9 + part.reduce((a, x) => a + x * x, 0) / slice);
        s = s.concat(part.map((x) => x / rms));
      }
      if (o.routing === 'regex') p[i] = pl.map((x, e) => x - lr * (s[e] as number) - o.wd * lr * x);
      else p[i] = pl.map((x, e) => x - lr * (s[e] as number)).map((x) => (o.wd > 0 ? x - lr * o.wd * x : x));
    });
  }
  return p.map((pl, i) => pl.map((x, e) => x - ((P0[i] as number[])[e] as number)));
}

// ---------------------------------------------------------------- the tests
describe('pretrained learned optimizers match a float64 reference of ALGORITHMS.md over 30 steps', () => {
  it.each([
    { name: 'celo', reference: referenceCelo },
    { name: 'celo-adam', reference: referenceCeloAdam },
  ] as const)('$name: displacement within 1e-3 relative on every leaf', ({ name, reference }) => {
    const { lopt, theta } = pretrained(name);
    const got = runPort(lopt.optimizer(theta), true);
    const want = reference(theta);
    expectDisplacementClose(got, want, 1e-3);
    disposeTree(theta);
  });

  it.each([
    { routing: 'pylo', wd: 0 },
    { routing: 'pylo', wd: 0.1 },
    { routing: 'regex', wd: 0.1, regex: '/b$' },
    { routing: 'regex', wd: 0, regex: '.*bias.*|.*embed.*' },
  ] as const)('celo2 (routing $routing, weightDecay $wd, regex $regex): displacement within 1e-4 relative', (o) => {
    const pre = pretrained('celo2');
    const { theta } = pre;
    const opts = { weightDecay: o.wd, routing: o.routing, ...('regex' in o ? { regex1d: o.regex } : {}) };
    const got = runPort(pre.optimizer(opts), false);
    const want = referenceCelo2(theta, { routing: o.routing, wd: o.wd, ...('regex' in o ? { regex: new RegExp(o.regex) } : {}) });
    expectDisplacementClose(got, want, 1e-4);
    disposeTree(theta);
  });
});
