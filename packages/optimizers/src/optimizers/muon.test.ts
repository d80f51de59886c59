// Muon against a float64 port of optax contrib's muon: Nesterov-bias-corrected momentum,
// Newton–Schulz (Frobenius normalization, transpose when rows > cols), width or consistent-RMS
// scaling, decoupled decay, and optax's Nesterov AdamW for the leaves that are not matrices.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, advance, disposeTree, type OptState, type TensorTree } from '@lopt/core';
import { cosineDecay, muon } from '../index.js';
import { GRADS, P0, expectTrajectory, runSteps, type Leaves } from '../../test/reference.js';

type Mat = number[][];
const mm = (a: Mat, b: Mat): Mat => a.map((r) => b[0]!.map((_, j) => r.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
const tr = (a: Mat): Mat => a[0]!.map((_, j) => a.map((r) => r[j]!));

function newtonSchulz64(x: Mat, steps = 5, eps = 1e-8): Mat {
  const [a, b, c] = [3.4445, -4.775, 2.0315];
  const t = x.length > x[0]!.length;
  let y = t ? tr(x) : x;
  const norm = Math.sqrt(y.flat().reduce((s, v) => s + v * v, 0));
  y = y.map((r) => r.map((v) => v / (norm + eps)));
  for (let i = 0; i < steps; i++) {
    const p = mm(y, tr(y));
    const q = p.map((r, i2) => r.map((v, j) => b * v + c * mm(p, p)[i2]![j]!));
    y = y.map((r, i2) => r.map((v, j) => a * v + mm(q, y)[i2]![j]!));
  }
  return t ? tr(y) : y;
}

interface Ref { lr: number; beta: number; wd: number; adamLr: number; b1: number; b2: number; eps: number; rms?: number }

function muonReference(r: Ref, steps: number): Leaves[] {
  let [vec, mat] = [[...P0[0]!], [...P0[1]!]];
  let mu = mat.map(() => 0);
  let [m, v] = [vec.map(() => 0), vec.map(() => 0)];
  const out: Leaves[] = [];
  for (let t = 1; t <= steps; t++) {
    const [gv, gm] = GRADS[(t - 1) % GRADS.length]!;
    mu = mu.map((x, i) => r.beta * x + (1 - r.beta) * gm![i]!);
    const mHat = mu.map((x, i) => (r.beta * x) / (1 - r.beta ** (t + 1)) + ((1 - r.beta) * gm![i]!) / (1 - r.beta ** t));
    const o = newtonSchulz64([mHat.slice(0, 2), mHat.slice(2)]).flat();
    const scale = r.rms === undefined ? 1 : Math.sqrt(2) * r.rms; // a 2x2 matrix: width scaling is 1
    mat = mat.map((x, i) => x - r.lr * (scale * o[i]! + r.wd * x));
    m = m.map((x, i) => r.b1 * x + (1 - r.b1) * gv![i]!);
    v = v.map((x, i) => r.b2 * x + (1 - r.b2) * gv![i]! ** 2);
    vec = vec.map((x, i) => {
      const mh = (r.b1 * m[i]!) / (1 - r.b1 ** (t + 1)) + ((1 - r.b1) * gv![i]!) / (1 - r.b1 ** t);
      return x - (r.adamLr * mh) / (Math.sqrt(v[i]! / (1 - r.b2 ** t)) + r.eps);
    });
    out.push([[...vec], [...mat]]);
  }
  return out;
}

describe('muon', () => {
  it('matches a float64 port of optax contrib muon (matrix: Muon, vector: Nesterov AdamW)', () => {
    const r: Ref = { lr: 0.02, beta: 0.95, wd: 0.1, adamLr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8 };
    expectTrajectory(runSteps(muon({ learningRate: r.lr, weightDecay: r.wd, adamLearningRate: r.adamLr }), 6), muonReference(r, 6), 'muon', 1e-4);
  });

  it('with consistent-RMS scaling', () => {
    const r: Ref = { lr: 0.02, beta: 0.9, wd: 0, adamLr: 0.02, b1: 0.9, b2: 0.999, eps: 1e-8, rms: 0.2 };
    expectTrajectory(runSteps(muon({ learningRate: r.lr, beta: 0.9, consistentRms: 0.2 }), 6), muonReference(r, 6), 'muon rms', 1e-4);
  });

  it('scales a wide [in, out] matrix by sqrt(out / in) and leaves its transpose unscaled', () => {
    const g = tf.tensor2d(Array.from({ length: 64 }, (_, i) => Math.sin(i + 1) + 0.3 * Math.cos(3 * i)), [4, 16]);
    const rmsOfStep = (grad: tf.Tensor) => {
      const opt = muon({ learningRate: 1, nesterov: false, beta: 0 });
      const s = opt.update(opt.init({ w: tf.zerosLike(grad) }), { w: grad });
      return Math.sqrt(tf.mean(tf.square((s.params as { w: tf.Tensor }).w)).dataSync()[0] as number);
    };
    // the two orthogonalizations are transposes of each other, so only the shape scaling differs
    expect(rmsOfStep(g) / rmsOfStep(tf.transpose(g))).toBeCloseTo(2, 4);
  });

  it('reaches the minimum of a matrix quadratic with a decaying learning rate, with flat memory', () => {
    const target = tf.tensor2d([[1, -2, 0.5], [0.3, 2, -1], [-0.7, 0.1, 1.5], [2, 0, -0.4]]);
    const opt = muon({ learningRate: cosineDecay({ initValue: 0.1, decaySteps: 600 }) });
    let state: OptState<unknown> = opt.init({ w: tf.zeros([4, 3]) });
    let baseline = 0;
    for (let i = 0; i < 600; i++) {
      const grads = tf.tidy(() => ({ w: tf.mul(2, tf.sub((state.params as { w: tf.Tensor }).w, target)) }));
      state = advance(opt, state, grads);
      disposeTree(grads);
      if (i === 5) baseline = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(baseline);
    const err = tf.max(tf.abs(tf.sub((state.params as { w: tf.Tensor }).w, target))).dataSync()[0]!;
    expect(err).toBeLessThan(3e-2);
    disposeTree([state.params, state.state as TensorTree, target]);
  });

  it.each([
    [{ beta: 1 }, 'beta'],
    [{ nsSteps: -1 }, 'iterations'],
    [{ consistentRms: 0 }, 'consistentRms'],
    [{ adamB2: 1 }, 'adamB2'],
    [{ preconditioning: 'aol' }, 'preconditioning'],
  ])('rejects %o naming the option', (options, name) => {
    expect(() => muon(options as never)).toThrow(LoptError);
    expect(() => muon(options as never)).toThrow(name);
  });
});
