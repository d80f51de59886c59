// Lion and Yogi take the sign of small numbers (Lion: the interpolated momentum; Yogi:
// v - g^2). They are checked over 40 steps with gradients from 1e-9 to 1e-2 against float64
// references written from optax's definitions, on the WASM backend (whose tfjs 4.22 Sign
// kernel returned 0 below FLT_EPSILON until @lopt/backend replaced it) and on the CPU backend.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, it } from 'vitest';
import { advance, disposeTree, key, normalArray, type Optimizer } from '@lopt/core';
import { initBackend } from '@lopt/backend';
import { expectClose } from '@lopt/testkit';
import { chain, lion, optimizerFrom, scaleByLearningRate, scaleByYogi, yogi } from '../index.js';

const N = 64;
const STEPS = 40;
const initial = tf.getBackend();
afterAll(async () => {
  await tf.setBackend(initial);
});

/** float32 values: coordinate j has magnitude 10^(lo + (hi - lo) j / (N - 1)), sign and size jitter from the key. */
function scaled(seed: number, lo: number, hi: number): number[] {
  const z = normalArray(key(seed), N);
  return Array.from(z, (v, j) => Math.fround(v * 10 ** (lo + ((hi - lo) * j) / (N - 1))));
}
const P0 = Array.from(normalArray(key(11), N), (v) => Math.fround(v));
const gradsAt = (t: number, lo: number, hi: number): number[] => scaled(1000 + t, lo, hi);

/** Runs `opt` for STEPS steps from P0 and returns the parameters after each step. */
function runTfjs(opt: Optimizer<unknown>, lo: number, hi: number): number[][] {
  let state = opt.init(tf.tensor1d(P0));
  const out: number[][] = [];
  for (let t = 1; t <= STEPS; t++) {
    const g = tf.tensor1d(gradsAt(t, lo, hi));
    state = advance(opt, state, g);
    g.dispose();
    out.push(Array.from((state.params as tf.Tensor).dataSync()));
  }
  disposeTree(state.params);
  disposeTree(state.state as tf.Tensor[]);
  return out;
}

/** Runs a float64 per-coordinate reference `step(p, g, j, t)` with the same gradients. */
function runReference(step: (p: number, g: number, j: number, t: number) => number, lo: number, hi: number): number[][] {
  let p = [...P0];
  const out: number[][] = [];
  for (let t = 1; t <= STEPS; t++) {
    const g = gradsAt(t, lo, hi);
    p = p.map((x, j) => step(x, g[j]!, j, t));
    out.push([...p]);
  }
  return out;
}

/** Each step's parameters and parameter changes agree with the reference. */
function expectSameTrajectory(actual: number[][], expected: number[][], label: string): void {
  actual.forEach((p, s) => {
    expectClose(p, expected[s]!, { rtol: 1e-5, atol: 1e-7, label: `${label} step ${s + 1}` });
    const before = s === 0 ? P0 : actual[s - 1]!;
    const beforeRef = s === 0 ? P0 : expected[s - 1]!;
    expectClose(p.map((x, j) => x - before[j]!), expected[s]!.map((x, j) => x - beforeRef[j]!), { rtol: 1e-3, atol: 1e-7, label: `${label} step ${s + 1} change` });
  });
}

/** optax yogi in float64: both moments start at v0; `v -= (1 - b2) sign(v - g^2) g^2`; bias-corrected Adam step. */
function yogiReference(lr: number, b1: number, b2: number, eps: number, v0: number): (x: number, g: number, j: number, t: number) => number {
  const m = new Array<number>(N).fill(v0);
  const v = new Array<number>(N).fill(v0);
  return (x, g, j, t) => {
    m[j] = b1 * m[j]! + (1 - b1) * g;
    v[j] = v[j]! - (1 - b2) * Math.sign(v[j]! - g * g) * g * g;
    return x - (lr * (m[j]! / (1 - b1 ** t))) / (Math.sqrt(v[j]! / (1 - b2 ** t)) + eps);
  };
}

describe.each(['wasm', 'cpu'] as const)('sign-based optimizers with tiny gradients and moments (%s)', (backend) => {
  it('lion: sign((1-b1) g + b1 m) is ±1 down to |g| = 1e-9 (optax lion, 40 steps)', async () => {
    await initBackend({ backend });
    const [lr, b1, b2, wd] = [0.01, 0.9, 0.99, 0.01];
    const m = new Array<number>(N).fill(0);
    const ref = runReference((x, g, j) => {
      const u = Math.sign((1 - b1) * g + b1 * m[j]!);
      m[j] = b2 * m[j]! + (1 - b2) * g;
      return x - lr * (u + wd * x);
    }, -9, -2);
    expectSameTrajectory(runTfjs(lion({ learningRate: lr, beta1: b1, beta2: b2, weightDecay: wd }), -9, -2), ref, `lion on ${backend}`);
  });

  it('yogi: v keeps moving when v - g^2 is below FLT_EPSILON (optax yogi, 40 steps)', async () => {
    await initBackend({ backend });
    const [lr, b1, b2, eps, v0] = [0.01, 0.9, 0.9, 1e-8, 1e-8];
    const ref = runReference(yogiReference(lr, b1, b2, eps, v0), -6, -2);
    const opt = optimizerFrom(chain(scaleByYogi({ beta1: b1, beta2: b2, epsilon: eps, initialAccumulatorValue: v0 }), scaleByLearningRate(lr)), 'yogi');
    expectSameTrajectory(runTfjs(opt, -6, -2), ref, `yogi on ${backend}`);
  });

  it('yogi with its defaults and gradients near sqrt(v0) = 1e-3 (optax yogi, 40 steps)', async () => {
    await initBackend({ backend });
    const ref = runReference(yogiReference(0.01, 0.9, 0.999, 1e-3, 1e-6), -3.5, -2.5);
    expectSameTrajectory(runTfjs(yogi({ learningRate: 0.01 }), -3.5, -2.5), ref, `yogi defaults on ${backend}`);
  });
});
