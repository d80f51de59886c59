import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  LoptError,
  advance,
  advanceVectorized,
  disposeTree,
  foldIn,
  key,
  normal,
  stackTrees,
  treeFlatten,
  treeUnflatten,
  unstackTree,
  type LearnedOptimizer,
  type OptState,
  type TensorTree,
  type VectorizedOptState,
} from '@lopt/core';
import { adafacMlpLOpt } from './adafac-mlp-lopt.js';
import { mlpLOpt } from './mlp-lopt.js';

/** Params of several ranks: a factored matrix, a rank-3 tensor (largest axes not last), a vector. */
function makeParams(k: number): TensorTree {
  return { w: normal(foldIn(key(k), 1), [5, 3]), b: normal(foldIn(key(k), 2), [3]), c: normal(foldIn(key(k), 3), [4, 2, 6]) };
}

/** Params of rank <= 2 only (a matrix with more rows, one with more columns, a vector, a scalar): the fused kernel's domain. */
function makeFusedParams(k: number): TensorTree {
  return { w: normal(foldIn(key(k), 1), [7, 5]), v: normal(foldIn(key(k), 4), [3, 6]), b: normal(foldIn(key(k), 2), [5]), s: normal(foldIn(key(k), 3), []) };
}

/** K thetas: the initial theta plus per-copy perturbations (as PES's theta +/- eps_i). */
function makeThetas(lopt: LearnedOptimizer, k: number, std: number): TensorTree[] {
  const theta = lopt.init(key(7));
  const { leaves, structure } = treeFlatten(theta);
  const out = Array.from({ length: k }, (_, i) =>
    treeUnflatten(structure, leaves.map((x, j) => tf.tidy(() => tf.add(x, normal(foldIn(key(100 + i), j), x.shape, { std }))))),
  );
  disposeTree(theta);
  return out;
}

/** Runs `steps` updates of K copies per copy and batched; returns max |difference| of params and states. */
function compare(lopt: LearnedOptimizer, k: number, steps: number, std: number, params: (k: number) => TensorTree = makeParams): { maxDiff: number; maxScale: number } {
  const thetas = makeThetas(lopt, k, std);
  const singles = thetas.map((t) => lopt.optimizer(t));
  let states: OptState<unknown>[] = thetas.map((_, i) => singles[i]!.init(params(i), { numSteps: 50 }) as OptState<unknown>);
  // copies start at different iterations, as desynchronized inner trainings do
  states = states.map((s, i) => ({ ...s, iteration: 3 * i }));
  const stackedThetas = stackTrees(thetas);
  const vopt = lopt.vectorized!(stackedThetas)!;
  let vs: VectorizedOptState<unknown> = {
    params: stackTrees(states.map((s) => s.params)),
    state: stackTrees(states.map((s) => s.state as TensorTree)),
    iterations: states.map((s) => s.iteration),
  };
  for (let s = 0; s < steps; s++) {
    const grads = states.map((_, i) => params(1000 + 31 * s + i));
    states = states.map((st, i) => advance(singles[i]!, st, grads[i]!, {}));
    const g = stackTrees(grads);
    vs = advanceVectorized(vopt, vs, g);
    disposeTree([...grads, g]);
  }
  expect(vs.iterations).toEqual(states.map((s) => s.iteration));
  const got = unstackTree({ params: vs.params, state: vs.state as TensorTree }, k);
  let maxDiff = 0;
  let maxScale = 0;
  got.forEach((tree, i) => {
    const a = treeFlatten(tree).leaves;
    const b = treeFlatten({ params: states[i]!.params, state: states[i]!.state as TensorTree }).leaves;
    expect(a.length).toBe(b.length);
    a.forEach((x, j) => {
      const y = b[j]!;
      expect(x.shape).toEqual(y.shape);
      const xd = x.dataSync();
      const yd = y.dataSync();
      for (let e = 0; e < xd.length; e++) {
        maxDiff = Math.max(maxDiff, Math.abs(xd[e]! - yd[e]!));
        maxScale = Math.max(maxScale, Math.abs(yd[e]!));
      }
    });
  });
  disposeTree([...got, ...states.map((s) => ({ p: s.params, s: s.state as TensorTree })), vs.params, vs.state as TensorTree, stackedThetas, ...thetas]);
  return { maxDiff, maxScale };
}


/**
 * The stacked optimizer of `lopt` over one theta per entry of `iterations` (keys 1, 2, ...), from
 * per-copy states on `make(i)` at those iterations, keeps tf.memory flat over 30 steps.
 */
function expectFlatMemory(lopt: ReturnType<typeof adafacMlpLOpt>, make: (i: number) => TensorTree, iterations: number[]): void {
  const thetas = iterations.map((_, i) => lopt.init(key(i + 1)));
  const st = stackTrees(thetas);
  const vopt = lopt.vectorized!(st)!;
  const s0 = thetas.map((theta, i) => lopt.optimizer(theta).init(make(i)));
  let vs: VectorizedOptState<unknown> = { params: stackTrees(s0.map((s) => s.params)), state: stackTrees(s0.map((s) => s.state)), iterations };
  disposeTree(s0.map((s) => ({ p: s.params, s: s.state })));
  const g = stackTrees(iterations.map((_, i) => make(5 + i)));
  vs = advanceVectorized(vopt, vs, g);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 30; i++) vs = advanceVectorized(vopt, vs, g);
  expect(tf.memory().numTensors).toBe(before);
  disposeTree([g, vs.params, vs.state as TensorTree, st, ...thetas]);
}
describe('vectorized learned optimizers', () => {
  const cases: [string, () => LearnedOptimizer][] = [
    ['adafacMlpLOpt (default)', () => adafacMlpLOpt()],
    ['adafacMlpLOpt (quickstart, composed)', () => adafacMlpLOpt({ stepMult: 0.03, expMult: 1, fused: false })],
    ['mlpLOpt', () => mlpLOpt()],
  ];
  for (const [name, make] of cases) {
    for (const k of [1, 3, 6]) {
      it(`${name}: K=${k} copies with per-copy theta equal the unbatched updates over 4 steps`, () => {
        const lopt = make();
        const { maxDiff, maxScale } = compare(lopt, k, 4, 0.05);
        expect(maxScale).toBeGreaterThan(0.1);
        expect(maxDiff).toBeLessThan(2e-5 * Math.max(1, maxScale));
      });
    }
  }

  for (const k of [1, 5]) {
    it(`adafacMlpLOpt (fused, params of rank <= 2): K=${k} stacked copies equal the per-copy fused updates exactly`, () => {
      // Both sides run the same kernel on the same values; the stacked path only reads and
      // writes the copies in place, so the results are bit-identical.
      const { maxDiff, maxScale } = compare(adafacMlpLOpt({ fused: true }), k, 5, 0.05, makeFusedParams);
      expect(maxScale).toBeGreaterThan(0.1);
      expect(maxDiff).toBe(0);
    });
  }

  it('adafacMlpLOpt (fused, params of rank <= 2): stacked updates keep tf.memory flat', () => {
    expectFlatMemory(adafacMlpLOpt({ fused: true }), makeFusedParams, [0, 4, 9]);
  });

  it('adafacMlpLOpt: batched updates keep tf.memory flat over many steps', () => {
    expectFlatMemory(adafacMlpLOpt(), makeParams, [0, 0]);
  });

  it('bad input: wrong iteration count, mismatched grads and unstacked thetas throw LoptError naming the option', () => {
    const lopt = adafacMlpLOpt();
    const thetas = stackTrees([lopt.init(key(1)), lopt.init(key(2))]);
    const vopt = lopt.vectorized!(thetas)!;
    const p = stackTrees([makeParams(1), makeParams(2)]);
    const s = stackTrees([0, 1].map(() => lopt.optimizer(lopt.init(key(1))).init(makeParams(1)).state));
    expect(() => vopt.update({ params: p, state: s, iterations: [0] }, p)).toThrow(/state\.iterations/);
    expect(() => vopt.update({ params: p, state: s, iterations: [0, 0] }, { w: (p as Record<string, tf.Tensor>).w! })).toThrow(LoptError);
    const mixed = { ...(lopt.init(key(3)) as Record<string, TensorTree>), momentum_decays: tf.zeros([5, 3]) };
    expect(() => lopt.vectorized!(mixed as TensorTree)).toThrow(/thetas/);
  });
});
