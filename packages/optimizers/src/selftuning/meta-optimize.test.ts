import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { advance, disposeTree, foldIn, key, normal, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { adafactor, adam, adamw, lion, rmsprop, sgd } from '../index.js';
import { hypergradient } from './hypergradient.js';
import { metaOptimize } from './meta-optimize.js';
import { START, adamStep, fromTree, quadGrad, runQuadratic, errorCode, expectSecondStepThrows } from '../../test/selftuning-helpers.js';

describe('metaOptimize', () => {
  it('gamma = 0 with an SGD base and the sgd meta-algorithm equals hypergradient SGD on log alpha, step for step', () => {
    const alpha0 = 0.2;
    const eta = 3;
    const mo = metaOptimize(sgd({ learningRate: alpha0 }), { gamma: 0, metaOptimizer: 'sgd', metaStepSize: eta });
    const hd = hypergradient(sgd({ learningRate: alpha0 }), { hyperOptimizer: sgd({ learningRate: eta }), spaces: { learningRate: 'log' } });
    const steps = 10;
    const run = (opt: typeof mo | typeof hd) => {
      const params: number[][] = [];
      let alphas: number[] = [];
      runQuadratic(opt as typeof hd, steps, (state, t) => {
        params.push(fromTree(state.params));
        if (t === steps - 1) alphas = Object.values((opt as typeof hd).trajectory(state).values)[0] as number[];
      });
      return { params, alphas };
    };
    const a = run(mo);
    const b = run(hd);
    expectClose(a.alphas, b.alphas, { rtol: 1e-5 });
    a.params.forEach((p, t) => expectClose(p, b.params[t] as number[], { rtol: 1e-5, atol: 1e-6 }));
    expect(Math.abs(Math.log((a.alphas.at(-1) as number) / alpha0))).toBeGreaterThan(0.05);
  });

  it('AdamW base, gamma 0.9, weight decay, per-tensor blocks: trace, sign and blocks match a float64 reference of HF.py', () => {
    const [lr, wd, gamma, eta] = [0.05, 0.1, 0.9, 0.5];
    const h = { lr: 1, b1: 0.9, b2: 0.999, eps: 1e-8 };
    const opt = metaOptimize(adamw({ learningRate: lr, weightDecay: wd }), { gamma, metaOptimizer: 'sgd', metaStepSize: eta, blocks: 'tensor' });
    const blockOf = [0, 0, 0, 1, 1, 1, 1]; // a: [3] then w: [2, 2]
    let w = [...START];
    let m = w.map(() => 0);
    let v = w.map(() => 0);
    let H = w.map(() => 0);
    const beta = [Math.log(lr), Math.log(lr)];
    const alphas: number[][] = [];
    const params: number[][] = [];
    for (let t = 0; t < 8; t++) {
      const g = quadGrad(w);
      const z = [0, 0];
      H.forEach((x, i) => (z[blockOf[i] as number] = (z[blockOf[i] as number] as number) + x * (g[i] as number)));
      if (t > 0) z.forEach((zb, b) => (beta[b] = (beta[b] as number) - eta * zb));
      const alpha = beta.map(Math.exp);
      const out = adamStep(w, g, m, v, t + 1, h);
      const delta = w.map((x, i) => (alpha[blockOf[i] as number] as number) * ((out.dir[i] as number) + wd * x));
      H = H.map((x, i) => gamma * (1 - wd * (alpha[blockOf[i] as number] as number)) * x - (delta[i] as number));
      w = w.map((x, i) => x - (delta[i] as number));
      m = out.m;
      v = out.v;
      alphas.push(alpha);
      params.push([...w]);
    }
    expect(opt.blockNames({ a: tf.zeros([3]), w: tf.zeros([2, 2]) } as TensorTree)).toEqual(['a', 'w']);
    runQuadratic(opt, 8, (state, t) => {
      expectClose(fromTree(state.params), params[t] as number[], { rtol: 1e-4, atol: 1e-6, label: `params ${t}` });
      if (t === 7) {
        const tr = opt.trajectory(state);
        expect(tr.names).toEqual(['a', 'w']);
        expectClose(tr.values.a as number[], alphas.map((x) => x[0] as number), { rtol: 1e-4 });
        expectClose(tr.values.w as number[], alphas.map((x) => x[1] as number), { rtol: 1e-4 });
      }
    });
    // the two blocks really diverged
    const last = alphas.at(-1) as number[];
    expect(Math.abs(Math.log((last[0] as number) / (last[1] as number)))).toBeGreaterThan(1e-3);
  });

  it("with the 'fixed' meta-algorithm every base equals the plain optimizer (unit-learning-rate rebuild scales exactly)", () => {
    const bases = [
      ['sgd', () => sgd({ learningRate: 0.1 })],
      ['sgd momentum', () => sgd({ learningRate: 0.05, momentum: 0.9 })],
      ['rmsprop', () => rmsprop({ learningRate: 0.01, decay: 0.9 })],
      ['adam', () => adam({ learningRate: 0.05 })],
      ['adamw', () => adamw({ learningRate: 0.05, weightDecay: 0.1 })],
      ['lion', () => lion({ learningRate: 0.01, weightDecay: 0.1 })],
    ] as const;
    for (const [label, make] of bases) {
      const opt = metaOptimize(make(), { metaOptimizer: 'fixed', blocks: 'tensor' });
      let traj: number[] = [];
      const a = runQuadratic(opt, 5, (state, t) => {
        if (t === 4) traj = opt.trajectory(state).values.w as number[];
      });
      expectClose(a, runQuadratic(make(), 5), { rtol: 1e-5, atol: 1e-7, label });
      expectClose(traj, Array(5).fill(make().config.learningRate as number), { rtol: 1e-6, label });
    }
  });

  it('one step size: the numeric (fused-kernel) base step equals the per-block composed path', () => {
    // On a single-leaf tree, 'tensor' blocks are one block, computed with composed ops.
    for (const make of [() => adamw({ learningRate: 0.05, weightDecay: 0.1 }), () => lion({ learningRate: 0.01, weightDecay: 0.1 }), () => sgd({ learningRate: 0.1, momentum: 0.5 })]) {
      const run = (blocks: 'scalar' | 'tensor') => {
        const opt = metaOptimize(make(), { blocks, gamma: 0.9, metaOptimizer: 'sgd', metaStepSize: 0.5 });
        let state = opt.init({ w: tf.tensor1d(START) });
        const alphas: number[] = [];
        for (let i = 0; i < 8; i++) {
          const w = Array.from((state.params as { w: tf.Tensor }).w.dataSync());
          const g = { w: tf.tensor1d(quadGrad(w)) };
          state = advance(opt, state, g);
          disposeTree(g);
          alphas.push(Object.values(opt.trajectory(state).values)[0]?.at(-1) as number);
        }
        const p = Array.from((state.params as { w: tf.Tensor }).w.dataSync());
        disposeTree([state.params, state.state as unknown as TensorTree]);
        return { p, alphas };
      };
      const a = run('scalar');
      const b = run('tensor');
      expectClose(a.p, b.p, { rtol: 1e-4, atol: 1e-6, label: make().name });
      expectClose(a.alphas, b.alphas, { rtol: 1e-4, label: make().name });
      expect(Math.abs(Math.log((a.alphas.at(-1) as number) / (a.alphas[0] as number)))).toBeGreaterThan(1e-3);
    }
  });

  it("'layer' blocks group the leaves of a parent node", () => {
    const opt = metaOptimize(sgd({ learningRate: 0.1 }), { blocks: 'layer' });
    const p = { layer00: { w: tf.zeros([2, 2]), b: tf.zeros([2]) }, layer01: { w: tf.zeros([2, 1]), b: tf.zeros([1]) }, scale: tf.zeros([]) };
    expect(opt.blockNames(p)).toEqual(['layer00', 'layer01', '<root>']);
    expect(metaOptimize(sgd(), { blocks: 'tensor' }).blockNames(p)).toEqual(['layer00.b', 'layer00.w', 'layer01.b', 'layer01.w', 'scale']);
    expect(metaOptimize(sgd()).blockNames(p)).toEqual(['alpha']);
    disposeTree(p);
  });

  it('on a noisy quadratic the step size moves toward the best fixed step size from 100x too small and 10x too large', () => {
    // f = 1/2 |w|^2 with gradient noise N(0, sigma^2) per coordinate, T steps from w0 = 1.
    // E f(w_T) = d/2 [ r^T w0^2 + alpha^2 sigma^2 (1 - r^T) / (1 - r) ], r = (1 - alpha)^2:
    // minimized over alpha in float64 to get the best fixed step size for this horizon.
    const [d, sigma, T] = [16, 1, 300];
    const expected = (a: number) => {
      const r = (1 - a) ** 2;
      return (d / 2) * (r ** T + (a * a * sigma * sigma * (1 - r ** T)) / (1 - r));
    };
    let best = 0;
    for (let e = -5, bl = Infinity; e <= 0; e += 1e-3) {
      const l = expected(10 ** e);
      if (l < bl) [bl, best] = [l, 10 ** e];
    }
    expect(best).toBeGreaterThan(5e-3);
    expect(best).toBeLessThan(5e-2);
    const k = key(7);
    const finalAlpha = (alpha0: number) => {
      const opt = metaOptimize(sgd({ learningRate: alpha0 }), { metaOptimizer: 'adam', metaStepSize: 0.1, gamma: 0.9 });
      let state = opt.init({ w: tf.ones([d]) });
      for (let i = 0; i < T; i++) {
        const g = tf.tidy(() => ({ w: tf.add((state.params as { w: tf.Tensor }).w, tf.mul(sigma, normal(foldIn(k, i), [d]))) }));
        state = advance(opt, state, g);
        disposeTree(g);
      }
      const alphas = opt.trajectory(state).values.alpha as number[];
      disposeTree([state.params, state.state as unknown as TensorTree]);
      // geometric mean over the last 50 steps (the meta-gradient is noisy)
      return Math.exp(alphas.slice(-50).reduce((s, a) => s + Math.log(a), 0) / 50);
    };
    for (const factor of [0.01, 10]) {
      const got = finalAlpha(best * factor);
      const before = Math.abs(Math.log(factor));
      const after = Math.abs(Math.log(got / best));
      console.log(`metaOptimize noisy quadratic: alpha* = ${best.toPrecision(3)}, start ${factor}x -> ${(got / best).toPrecision(3)}x after ${T} steps`);
      // a 100x / 10x error shrinks to less than 3x (log 3 = 1.10), from both sides
      expect(after).toBeLessThan(Math.log(3));
      expect(after).toBeLessThan(0.5 * before);
    }
  });

  it('validates its options with LoptError naming the option', () => {
    const code = errorCode;
    expect(code(() => metaOptimize(adafactor()))).toBe('INVALID_OPTION:base');
    expect(code(() => metaOptimize(rmsprop({ momentum: 0.9 })))).toBe('INVALID_OPTION:base');
    expect(code(() => metaOptimize(sgd(), { gamma: 1.5 }))).toBe('INVALID_OPTION:gamma');
    expect(code(() => metaOptimize(sgd(), { blocks: 'row' as never }))).toBe('INVALID_OPTION:blocks');
    expect(code(() => metaOptimize(sgd(), { alpha0: 0 }))).toBe('INVALID_OPTION:alpha0');
    expect(code(() => metaOptimize(sgd(), { metaOptimizer: 'adagrad' as never }))).toBe('INVALID_OPTION:metaOptimizer');
    expect(code(() => metaOptimize(sgd(), { metaStepSize: -1 }))).toBe('INVALID_OPTION:metaStepSize');
    expect(code(() => metaOptimize(sgd(), { eta: 1 } as never))).toBe('INVALID_OPTION:eta');
    expect(code(() => metaOptimize(adamw({ weightDecay: 0.5, mask: { a: false, w: true } })).init({ a: tf.ones([3]), w: tf.ones([2, 2]) }))).toBe(
      'INVALID_OPTION:base',
    );
  });

  it('rejects a non-finite meta-gradient with NON_FINITE', () => {
    expectSecondStepThrows(metaOptimize(sgd({ learningRate: 0.1 }), { metaOptimizer: 'adam' }), Number.POSITIVE_INFINITY, /Infinity/);
  });
});
