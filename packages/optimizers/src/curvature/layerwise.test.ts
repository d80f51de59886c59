// K-FAC, FOOF and mini-block Fisher on a small MLP whose exact per-example gradients and
// empirical Fisher are formed in float64 in this file: each method's first direction must equal
// the inverse of the damped matrix it claims (Kronecker product for K-FAC and FOOF, exact
// Fisher mini-blocks for MBF), solved here by Gaussian elimination on the explicit matrix.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, advance, deserializeTree, disposeLayerGradients, disposeTree, serializeTree, treeLeaves, valueAndLayerGrads, type DenseLayerTapping, type OptState, type Optimizer, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { foof, kfac, mbf } from '../index.js';

const [N, IN, HID, OUT] = [5, 3, 4, 3];
const X = Array.from({ length: N }, (_, n) => Array.from({ length: IN }, (_, i) => Math.sin(1.1 * n + 0.7 * i) + 0.3));
const Y = [0, 2, 1, 1, 0];
const W0 = Array.from({ length: IN }, (_, i) => Array.from({ length: HID }, (_, j) => 0.5 * Math.cos(0.9 * i + 1.3 * j)));
const B0 = Array.from({ length: HID }, (_, j) => 0.1 * j - 0.15);
const W1 = Array.from({ length: HID }, (_, i) => Array.from({ length: OUT }, (_, j) => 0.6 * Math.sin(0.4 * i - 0.8 * j + 0.2)));
const B1 = [0.05, -0.1, 0.02];

const tapping: DenseLayerTapping<{ x: tf.Tensor2D; y: tf.Tensor1D }> = {
  dense: [{ weight: 'l0.w', bias: 'l0.b' }, { weight: 'l1.w', bias: 'l1.b' }],
  loss(params, batch, tap) {
    const p = params as { l0: { w: tf.Tensor2D; b: tf.Tensor }; l1: { w: tf.Tensor2D; b: tf.Tensor } };
    const h = tf.tanh(tap(this.dense[0]!, batch.x, tf.add(tf.matMul(batch.x, p.l0.w), p.l0.b))) as tf.Tensor2D;
    const logits = tap(this.dense[1]!, h, tf.add(tf.matMul(h, p.l1.w), p.l1.b));
    return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.cast(batch.y, 'int32'), OUT), logits) as tf.Scalar;
  },
};

/** float64 forward/backward: per layer, the homogeneous inputs and the per-example pre-activation gradients. */
function perExample(): { a: number[][]; g: number[][] }[] {
  const s0 = X.map((x) => B0.map((b, j) => b + x.reduce((s, v, i) => s + v * W0[i]![j]!, 0)));
  const h = s0.map((r) => r.map(Math.tanh));
  const logits = h.map((r) => B1.map((b, j) => b + r.reduce((s, v, i) => s + v * W1[i]![j]!, 0)));
  const g1 = logits.map((l, n) => {
    const mx = Math.max(...l);
    const e = l.map((v) => Math.exp(v - mx));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v, j) => v / z - (j === Y[n] ? 1 : 0));
  });
  const g0 = g1.map((g, n) => W1.map((row, i) => row.reduce((s, w, j) => s + w * g[j]!, 0) * (1 - h[n]![i]! ** 2)));
  return [
    { a: X.map((x) => [...x, 1]), g: g0 },
    { a: h.map((x) => [...x, 1]), g: g1 },
  ];
}

function solve(m: number[][], b: number[]): number[] {
  const n = b.length;
  const a = m.map((r, i) => [...r, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k <= n; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  return a.map((r, i) => r[n]! / r[i]!);
}
const kron = (a: number[][], b: number[][]) => a.flatMap((ra) => b.map((rb) => ra.flatMap((x) => rb.map((y) => x * y))));
const second = (v: number[][]) => v[0]!.map((_, i) => v[0]!.map((_, j) => v.reduce((s, r) => s + r[i]! * r[j]!, 0) / v.length));
const addDiag = (m: number[][], c: number) => m.map((r, i) => r.map((x, j) => x + (i === j ? c : 0)));
/** The layer's mean gradient, vec([W; b]) row-major (rows = inputs + 1, cols = outputs). */
const meanGrad = (l: { a: number[][]; g: number[][] }) => l.a[0]!.flatMap((_, i) => l.g[0]!.map((_, j) => l.a.reduce((s, a, n) => s + a[i]! * l.g[n]![j]!, 0) / N));

/** One step with lr 1 and no momentum from the fixed parameters; returns each layer's [W; b] displacement, row-major. */
function firstDirection(opt: Optimizer<unknown>): number[][] {
  const params = { l0: { w: tf.tensor2d(W0), b: tf.tensor1d(B0) }, l1: { w: tf.tensor2d(W1), b: tf.tensor1d(B1) } };
  const batch = { x: tf.tensor2d(X), y: tf.tensor1d(Y) };
  const lg = valueAndLayerGrads(tapping, params as TensorTree, batch);
  const state = opt.init(params as TensorTree);
  const next = opt.update(state, lg.grads, { loss: lg.loss, layers: lg.layers });
  const p1 = next.params as typeof params;
  const disp = (a: tf.Tensor, b: tf.Tensor) => Array.from(tf.sub(a, b).dataSync());
  // [W row-major, b] is [W; b] row-major
  const out = [0, 1].map((i) => {
    const k = i === 0 ? 'l0' : 'l1';
    const dw = disp(params[k].w, p1[k].w);
    const db = disp(params[k].b, p1[k].b);
    return [...dw, ...db];
  });
  disposeLayerGradients(lg);
  disposeTree([params as TensorTree, batch as unknown as TensorTree, next.params, next.state as TensorTree, state.state as TensorTree]);
  return out;
}

describe('curvature directions equal the inverse of the damped matrix each method claims', () => {
  const layers = perExample();
  const common = { learningRate: 1, momentum: 0, inverseInterval: 1 };

  it('K-FAC: (A + pi sqrt(l) I) kron (G + sqrt(l)/pi I) with the exact input and output-gradient moments', () => {
    const damping = 0.05;
    const got = firstDirection(kfac({ ...common, damping, klClip: 0 }));
    layers.forEach((l, i) => {
      const A = second(l.a);
      const G = second(l.g);
      const pi = Math.sqrt(A.reduce((s, r, j) => s + r[j]!, 0) / A.length / (G.reduce((s, r, j) => s + r[j]!, 0) / G.length));
      const d = solve(kron(addDiag(A, pi * Math.sqrt(damping)), addDiag(G, Math.sqrt(damping) / pi)), meanGrad(l));
      expectClose(got[i]!, d, { rtol: 2e-3, atol: 1e-5, label: `kfac layer ${i}` });
    });
  });

  it('FOOF: (A + l I) kron I', () => {
    const damping = 0.05;
    const got = firstDirection(foof({ ...common, damping }));
    layers.forEach((l, i) => {
      const d = solve(kron(addDiag(second(l.a), damping), addDiag(l.g[0]!.map(() => l.g[0]!.map(() => 0)), 1)), meanGrad(l));
      expectClose(got[i]!, d, { rtol: 2e-3, atol: 1e-5, label: `foof layer ${i}` });
    });
  });

  it('MBF: blocks of the exact empirical Fisher (2 outputs per block, so a last partial block too)', () => {
    const damping = 0.05;
    const got = firstDirection(mbf({ ...common, damping, blockSize: 2 }));
    layers.forEach((l, i) => {
      const rows = l.a[0]!.length;
      const cols = l.g[0]!.length;
      const perEx = l.a.map((a, n) => a.flatMap((ai) => l.g[n]!.map((gj) => ai * gj)));
      const F = second(perEx);
      const v = meanGrad(l);
      const d = new Array<number>(rows * cols).fill(0);
      for (let r = 0; r < rows; r++) {
        for (let c0 = 0; c0 < cols; c0 += 2) {
          const idx = [c0, c0 + 1].filter((c) => c < cols).map((c) => r * cols + c);
          const sol = solve(addDiag(idx.map((p) => idx.map((q) => F[p]![q]!)), damping), idx.map((p) => v[p]!));
          idx.forEach((p, k) => (d[p] = sol[k]!));
        }
      }
      expectClose(got[i]!, d, { rtol: 2e-3, atol: 1e-5, label: `mbf layer ${i}` });
    });
  });

  it('names the layer when ctx.layers is missing, and rejects bad options', () => {
    const opt = kfac();
    const params = { l0: { w: tf.zeros([2, 2]), b: tf.zeros([2]) } };
    const st = opt.init(params as TensorTree);
    expect(() => opt.update(st, params as TensorTree)).toThrow(/l0\.w/);
    expect(() => kfac({ damping: 0 })).toThrow(LoptError);
    expect(() => mbf({ blockSize: 0 })).toThrow(/blockSize/);
    expect(() => foof({ layers: [{ weight: 'nope' }] }).init(params as TensorTree)).toThrow(/nope/);
    expect(() => foof({ dampning: 1 } as never)).toThrow(/dampning/);
    disposeTree([params as TensorTree, st.state as TensorTree]);
  });
});


describe('curvature optimizers train with flat memory', () => {
  it.each([
    ['kfac', () => kfac({ learningRate: 0.05, damping: 0.05, inverseInterval: 5 })],
    ['foof', () => foof({ learningRate: 0.1, damping: 0.05, inverseInterval: 5 })],
    ['mbf', () => mbf({ learningRate: 0.1, damping: 0.05, inverseInterval: 5, blockSize: 2 })],
  ])('%s lowers the loss over 60 steps without leaking', (_name, make) => {
    const opt = make() as Optimizer<unknown>;
    const batch = { x: tf.tensor2d(X), y: tf.tensor1d(Y) };
    let state: OptState<unknown> = opt.init({ l0: { w: tf.tensor2d(W0), b: tf.tensor1d(B0) }, l1: { w: tf.tensor2d(W1), b: tf.tensor1d(B1) } } as TensorTree);
    let first = 0;
    let last = 0;
    let baseline = 0;
    for (let i = 0; i < 60; i++) {
      const lg = valueAndLayerGrads(tapping, state.params, batch);
      if (i === 0) first = lg.loss.dataSync()[0]!;
      last = lg.loss.dataSync()[0]!;
      state = advance(opt, state, lg.grads, { loss: lg.loss, layers: lg.layers });
      disposeLayerGradients(lg);
      if (i === 5) baseline = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(baseline);
    expect(last).toBeLessThan(first * 0.5);
    disposeTree([state.params, state.state as TensorTree, batch as unknown as TensorTree]);
  });
});

describe('curvature optimizer checkpoints', () => {
  it.each([
    ['kfac', () => kfac({ learningRate: 0.05, damping: 0.05, inverseInterval: 3 })],
    ['mbf', () => mbf({ learningRate: 0.1, damping: 0.05, inverseInterval: 3, blockSize: 2 })],
  ])('%s resumes bit-exactly from a checkpoint (4 + 4 steps = 8 steps)', (_name, make) => {
    const opt = make() as Optimizer<unknown>;
    const batch = { x: tf.tensor2d(X), y: tf.tensor1d(Y) };
    const run = (from: OptState<unknown>, steps: number) => {
      let state = from;
      for (let i = 0; i < steps; i++) {
        const lg = valueAndLayerGrads(tapping, state.params, batch);
        state = advance(opt, state, lg.grads, { loss: lg.loss, layers: lg.layers });
        disposeLayerGradients(lg);
      }
      return state;
    };
    const init = () => opt.init({ l0: { w: tf.tensor2d(W0), b: tf.tensor1d(B0) }, l1: { w: tf.tensor2d(W1), b: tf.tensor1d(B1) } } as TensorTree);
    const straight = run(init(), 8);
    const half = run(init(), 4);
    const bytes = serializeTree({ params: half.params, state: half.state as TensorTree }, { kind: 'optimizer-state', name: opt.name, extra: { iteration: 4 } });
    const tree = deserializeTree(bytes, { kind: 'optimizer-state', name: opt.name }).tree as { params: TensorTree; state: TensorTree };
    const resumed = run({ params: tree.params, state: tree.state, iteration: 4 }, 4);
    const a = treeLeaves({ p: straight.params, s: straight.state as TensorTree }).map((t) => Array.from(t.dataSync()));
    const b = treeLeaves({ p: resumed.params, s: resumed.state as TensorTree }).map((t) => Array.from(t.dataSync()));
    expect(b).toEqual(a);
    disposeTree([straight.params, straight.state as TensorTree, half.params, half.state as TensorTree, resumed.params, resumed.state as TensorTree, batch as unknown as TensorTree]);
  });
});
