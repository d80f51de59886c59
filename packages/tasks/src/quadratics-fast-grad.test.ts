// The quadratics' analytic gradients (the hand-derived path) against tfjs autodiff, against the
// float64 formula and central differences of a float64 loss, the Hessian through nested tapes
// (second-order gradients unchanged: the autodiff path runs there), and memory over many steps.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { key, normalArray, split, treeLeaves, treeUnflatten, treeFlatten, disposeTree, type Task, type TensorTree } from '@lopt/core';
import { leakCheck } from '@lopt/testkit';
import { logQuadraticLoss, noisyQuadraticFromConfig, noisyQuadraticLoss, quadraticFromConfig, quadraticLoss, quadraticTask, scaledQuadraticLoss, sumQuadraticLoss, sumQuadraticTask, logQuadraticTask } from './quadratics.js';
import { centralDifference, expectGradsClose, f32, secondOrderOn, valueAndGradsOn, type PathLoss } from './fast-grad-test-helpers.js';

const DIM = 7;
const host = (seed: number): Float64Array => f32(normalArray(key(seed), DIM));
const scale = Array.from(f32(Array.from(normalArray(key(91), DIM), (v) => 0.5 + v * v)));
const target = Array.from(host(92));
const noise = host(93);
const NOISE_STD = 0.7;

interface Case {
  name: string;
  leaves: number; // parameter vectors
  loss: PathLoss;
  /** float64 loss of the host parameter vectors (noise-free part for the noisy quadratic). */
  loss64: (ps: Float64Array[]) => number;
  /** float64 gradient, one array per vector (includes the gradient noise). */
  grad64: (ps: Float64Array[]) => number[][];
  /** float64 Hessian-vector product of the loss's gradient (the task's Hessian is diagonal or block-constant here). */
  hess64: (ps: Float64Array[], vs: number[][]) => number[][];
}

const sum = (xs: Iterable<number>): number => Array.from(xs).reduce((a, b) => a + b, 0);
const noiseT = (): tf.Tensor => tf.tensor1d(Float32Array.from(noise));

const CASES: Case[] = [
  {
    name: 'quadratic sum(p^2)',
    leaves: 1,
    loss: ([p], path) => quadraticLoss(p!, path),
    loss64: ([p]) => sum(p!.map((v) => v * v)),
    grad64: ([p]) => [Array.from(p!, (v) => 2 * v)],
    hess64: (_, [v]) => [v!.map((x) => 2 * x)],
  },
  {
    name: 'sum-quadratic sum((a+b)^2)',
    leaves: 2,
    loss: ([a, b], path) => sumQuadraticLoss(a!, b!, path),
    loss64: ([a, b]) => sum(a!.map((v, i) => (v + b![i]!) ** 2)),
    grad64: ([a, b]) => [Array.from(a!, (v, i) => 2 * (v + b![i]!)), Array.from(a!, (v, i) => 2 * (v + b![i]!))],
    hess64: (_, [va, vb]) => {
      const g = va!.map((x, i) => 2 * (x + vb![i]!));
      return [g, g];
    },
  },
  {
    name: 'log-quadratic log(sum(p^2))',
    leaves: 1,
    loss: ([p], path) => logQuadraticLoss(p!, path),
    loss64: ([p]) => Math.log(sum(p!.map((v) => v * v))),
    grad64: ([p]) => {
      const s = sum(p!.map((v) => v * v));
      return [Array.from(p!, (v) => (2 * v) / s)];
    },
    hess64: ([p], [v]) => {
      const s = sum(p!.map((x) => x * x));
      const pv = sum(p!.map((x, i) => x * v![i]!));
      return [Array.from(p!, (x, i) => (2 * v![i]!) / s - (4 * x * pv) / (s * s))];
    },
  },
  {
    name: 'scaled quadratic sum(scale (p - target)^2)',
    leaves: 1,
    loss: ([p], path) => scaledQuadraticLoss(p!, scale, target, path),
    loss64: ([p]) => sum(p!.map((v, i) => scale[i]! * (v - target[i]!) ** 2)),
    grad64: ([p]) => [Array.from(p!, (v, i) => 2 * scale[i]! * (v - target[i]!))],
    hess64: (_, [v]) => [v!.map((x, i) => 2 * scale[i]! * x)],
  },
  {
    name: 'noisy quadratic',
    leaves: 1,
    loss: ([p], path) => tf.tidy(() => noisyQuadraticLoss(p!, noiseT(), scale, target, NOISE_STD, path)),
    loss64: ([p]) => sum(p!.map((v, i) => (scale[i]! * (target[i]! - v)) ** 2)),
    grad64: ([p]) => [Array.from(p!, (v, i) => 2 * scale[i]! ** 2 * (v - target[i]!) + NOISE_STD * noise[i]!)],
    hess64: (_, [v]) => [v!.map((x, i) => 2 * scale[i]! ** 2 * x)],
  },
];

describe('quadratics: analytic gradients (the hand-derived path)', () => {
  CASES.forEach((c, n) => {
    it(`${c.name}: equals autodiff, the float64 formula and central differences`, () => {
      const hosts = Array.from({ length: c.leaves }, (_, i) => host(10 * n + i));
      const leaves = hosts.map((h) => tf.tensor1d(Float32Array.from(h)));
      const fast = valueAndGradsOn(c.loss, leaves, 'fast');
      const auto = valueAndGradsOn(c.loss, leaves, 'autodiff');
      expect(fast.value).toBe(auto.value);
      expectGradsClose(fast.grads, auto.grads, 1e-6, 1e-6);
      expect(Math.abs(fast.value - c.loss64(hosts))).toBeLessThan(1e-5 * Math.max(1, Math.abs(fast.value)));
      const want = c.grad64(hosts);
      expectGradsClose(fast.grads, want, 1e-5, 1e-5);
      // central differences of the float64 loss; the noise enters only the gradient
      const noiseShift = c.name.startsWith('noisy') ? (j: number) => NOISE_STD * noise[j]! : () => 0;
      hosts.forEach((h, i) => {
        for (let j = 0; j < DIM; j++) expect(Math.abs(fast.grads[i]![j]! - (centralDifference(() => c.loss64(hosts), h, j) + noiseShift(j)))).toBeLessThan(1e-4);
      });
      tf.dispose(leaves);
    });

    it(`${c.name}: second-order gradients are unchanged (nested tapes take autodiff) and equal the float64 Hessian`, () => {
      const hosts = Array.from({ length: c.leaves }, (_, i) => host(10 * n + i + 5));
      const leaves = hosts.map((h) => tf.tensor1d(Float32Array.from(h)));
      const auto = secondOrderOn(c.loss, leaves, 'auto');
      expect(auto).toBe(secondOrderOn(c.loss, leaves, 'autodiff'));
      // d/dθ |g|² = 2 H g
      const g = c.grad64(hosts);
      const want = c.hess64(hosts, g).map((row) => row.map((v) => 2 * v));
      expectGradsClose(auto.split(';').map((s) => s.split(',').map(Number)), want, 1e-4, 1e-4);
      tf.dispose(leaves);
    });
  });

  const tasks: [string, () => Task][] = [
    ['quadraticTask', () => quadraticTask({ dim: DIM })],
    ['sumQuadraticTask', () => sumQuadraticTask({ dim: DIM })],
    ['logQuadraticTask', () => logQuadraticTask({ dim: DIM })],
    ['quadraticFromConfig', () => quadraticFromConfig({ dim: DIM, scale, target })],
    ['noisyQuadraticFromConfig', () => noisyQuadraticFromConfig({ dim: DIM, scale, center: target, noiseStd: NOISE_STD })],
  ];
  it.each(tasks)('%s: task gradients (fast path under one tape) equal the float64 formula; memory stays flat over 200 steps', (name, make) => {
    const task = make();
    const c = CASES[tasks.findIndex(([t]) => t === name)]!;
    const params = task.init(split(key(3), 1)[0]!);
    const { structure } = treeFlatten(params);
    const leaves = treeLeaves(params);
    const batch = task.datasets ? (tf.tidy(() => ({ noise: noiseT() })) as TensorTree) : undefined;
    const grads = (): tf.Tensor[] => tf.grads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch as TensorTree))(leaves);
    const got = grads();
    expectGradsClose(
      got.map((t) => t.dataSync()),
      c.grad64(leaves.map((l) => Float64Array.from(l.dataSync()))),
      1e-5,
      1e-5,
    );
    tf.dispose(got);
    expect(leakCheck(() => tf.dispose(grads()), 200)).toBe(0);
    disposeTree([params, ...(batch ? [batch] : [])]);
  });
});
