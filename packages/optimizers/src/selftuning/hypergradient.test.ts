import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, advance, disposeTree, type OptState, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { adam, adamw, cosineDecay, injectHyperparams, lion, rmsprop, sgd } from '../index.js';
import { hypergradient, readTrajectory, type HypergradientState } from './hypergradient.js';
import { START, adamStep, dot, fromTree, quadGrad, quadLoss, runQuadratic, toTree, errorCode, expectSecondStepThrows } from '../../test/selftuning-helpers.js';

function hg(state: OptState<HypergradientState>, name: string): number {
  return (state.state.hypergrad[name] as tf.Scalar).dataSync()[0] as number;
}

describe('hypergradient: SGD', () => {
  it('raw-space learning rate follows alpha <- alpha + kappa g_t . g_{t-1} (float64 reference)', () => {
    const alpha0 = 0.1;
    const kappa = 0.05;
    const steps = 6;
    // float64 reference of Baydin et al.'s rule on the quadratic
    let w = [...START];
    let alpha = alpha0;
    let gPrev: number[] = [];
    const alphas: number[] = [];
    const params: number[][] = [];
    for (let t = 0; t < steps; t++) {
      const g = quadGrad(w);
      if (t > 0) alpha += kappa * dot(g, gPrev);
      w = w.map((x, i) => x - alpha * (g[i] as number));
      gPrev = g;
      alphas.push(alpha);
      params.push([...w]);
    }
    for (const method of ['closed-form', 'autodiff'] as const) {
      const opt = hypergradient(sgd({ learningRate: alpha0 }), { hyperOptimizer: sgd({ learningRate: kappa }), spaces: { learningRate: 'raw' }, method });
      expect(opt.method).toBe(method);
      const seen: number[][] = [];
      let traj: number[] = [];
      runQuadratic(opt, steps, (state, t) => {
        seen.push(fromTree(state.params));
        if (t === steps - 1) traj = readTrajectory(opt, state).values.learningRate as number[];
      });
      expectClose(traj, alphas, { rtol: 1e-5, atol: 0 });
      seen.forEach((p, t) => expectClose(p, params[t] as number[], { rtol: 1e-5, atol: 1e-6 }));
      // alpha really moved (the test would fail for a no-op hyper step)
      expect(Math.abs((alphas[steps - 1] as number) - alpha0)).toBeGreaterThan(1e-3);
    }
  });

  it('log space: dL/dlog(alpha) = alpha dL/dalpha, and the learning rate stays positive', () => {
    const opt = hypergradient(sgd({ learningRate: 0.5 }), { hyperOptimizer: sgd({ learningRate: 5 }) });
    expect(opt.spaces.learningRate).toBe('log');
    let w = [...START];
    let logAlpha = Math.log(0.5);
    let gPrev: number[] = [];
    const alphas: number[] = [];
    for (let t = 0; t < 8; t++) {
      const g = quadGrad(w);
      if (t > 0) logAlpha += 5 * Math.exp(logAlpha) * dot(g, gPrev);
      const a = Math.exp(logAlpha);
      w = w.map((x, i) => x - a * (g[i] as number));
      gPrev = g;
      alphas.push(a);
    }
    let traj: number[] = [];
    runQuadratic(opt, 8, (state, t) => {
      if (t === 7) traj = opt.trajectory(state).values.learningRate as number[];
    });
    expectClose(traj, alphas, { rtol: 1e-4 });
    expect(Math.min(...traj)).toBeGreaterThan(0);
  });

  it('momentum is tuned through the trace: dL/dmu = -alpha g_{t+1} . b_{t-1}', () => {
    // Chandra et al.: b_t = mu b_{t-1} + g_t, w -= alpha b_t; d w_{t+1} / d mu = -alpha b_{t-1}.
    const alpha = 0.1;
    const mu = 0.6;
    const opt = hypergradient(sgd({ learningRate: alpha, momentum: mu }), { hyperOptimizer: sgd({ learningRate: 0 }) });
    expect(opt.tune).toEqual(['learningRate', 'momentum']);
    let w = [...START];
    let b = w.map(() => 0);
    let bPrev: number[] = [];
    const ref: { lr: number; mu: number }[] = [];
    for (let t = 0; t < 5; t++) {
      const g = quadGrad(w);
      if (t > 0) ref.push({ lr: -dot(g, b) * alpha, mu: -alpha * dot(g, bPrev) * 2 * mu * (1 - mu) });
      bPrev = b;
      b = b.map((x, i) => mu * x + (g[i] as number));
      w = w.map((x, i) => x - alpha * (b[i] as number));
    }
    const got: { lr: number; mu: number }[] = [];
    runQuadratic(opt, 5, (state, t) => {
      if (t > 0) got.push({ lr: hg(state, 'learningRate'), mu: hg(state, 'momentum') });
    });
    expectClose(got.map((x) => x.lr), ref.map((x) => x.lr), { rtol: 1e-4, atol: 1e-7 });
    expectClose(got.map((x) => x.mu), ref.map((x) => x.mu), { rtol: 1e-4, atol: 1e-7 });
  });
});

describe('hypergradient: Adam', () => {
  const h = { lr: 0.05, b1: 0.8, b2: 0.95, eps: 1e-8 };

  /** float64 run of Adam with fixed hyperparameters; per step t >= 1 the state before step t-1. */
  function reference(steps: number, epsRoot = 0) {
    let w = [...START];
    let m = w.map(() => 0);
    let v = w.map(() => 0);
    const hist: { w: number[]; g: number[]; m: number[]; v: number[]; dir: number[] }[] = [];
    for (let t = 0; t < steps; t++) {
      const g = quadGrad(w);
      const out = adamStep(w, g, m, v, t + 1, { ...h, epsRoot });
      hist.push({ w, g, m, v, dir: out.dir });
      w = out.w;
      m = out.m;
      v = out.v;
    }
    return hist;
  }

  it('the learning-rate hypergradient is -g_t . m^/(sqrt(v^)+eps) of the previous step (closed form and autodiff)', () => {
    const steps = 5;
    const ref = reference(steps);
    const expected = ref.slice(1).map((s, i) => -dot(s.g, (ref[i] as { dir: number[] }).dir));
    for (const method of ['closed-form', 'autodiff'] as const) {
      const opt = hypergradient(adam({ learningRate: h.lr, beta1: h.b1, beta2: h.b2 }), {
        hyperOptimizer: sgd({ learningRate: 0 }),
        tune: ['learningRate'],
        spaces: { learningRate: 'raw' },
        method,
      });
      const got: number[] = [];
      runQuadratic(opt, steps, (state, t) => {
        if (t > 0) got.push(hg(state, 'learningRate'));
      });
      expectClose(got, expected, { rtol: 1e-4, atol: 1e-7, label: method });
    }
  });

  it('beta1 and beta2 hypergradients match central finite differences of the loss after the previous step', () => {
    const steps = 5;
    const epsRoot = 1e-16; // what hypergradient adds when it tunes beta2 (TUNED_BETA2_EPSILON_ROOT)
    const ref = reference(steps, epsRoot);
    const unit = (x: number) => (Math.tanh(x) + 1) / 2;
    const fd = (t: number, which: 'b1' | 'b2'): number => {
      // d/dx f(w_{t-1} + u_{t-1}(beta(x))), state before step t-1 detached
      const s = ref[t - 1] as { w: number[]; g: number[]; m: number[]; v: number[] };
      const x0 = Math.atanh(2 * h[which] - 1);
      const f = (x: number) => quadLoss(adamStep(s.w, s.g, s.m, s.v, t, { ...h, [which]: unit(x), epsRoot }).w);
      const e = 1e-5;
      return (f(x0 + e) - f(x0 - e)) / (2 * e);
    };
    const got: { b1: number; b2: number; lr: number }[] = [];
    for (const method of ['closed-form', 'autodiff'] as const) {
      const opt = hypergradient(adam({ learningRate: h.lr, beta1: h.b1, beta2: h.b2 }), { hyperOptimizer: sgd({ learningRate: 0 }), method });
      expect(opt.tune).toEqual(['beta1', 'beta2', 'learningRate']);
      got.length = 0;
      runQuadratic(opt, steps, (state, t) => {
        if (t > 0) got.push({ b1: hg(state, 'beta1'), b2: hg(state, 'beta2'), lr: hg(state, 'learningRate') });
      });
      for (let t = 1; t < steps; t++) {
        const g = got[t - 1] as { b1: number; b2: number; lr: number };
        expectClose(g.b1, fd(t, 'b1'), { rtol: 2e-3, atol: 1e-7, label: `${method} beta1 step ${t}` });
        expectClose(g.b2, fd(t, 'b2'), { rtol: 2e-3, atol: 1e-7, label: `${method} beta2 step ${t}` });
        // log-space learning rate: alpha * (-g_t . dir_{t-1})
        expectClose(g.lr, h.lr * -dot((ref[t] as { g: number[] }).g, (ref[t - 1] as { dir: number[] }).dir), { rtol: 1e-4, atol: 1e-8 });
      }
    }
    // the beta hypergradients are not trivially zero
    expect(Math.abs(got[1]?.b1 ?? 0)).toBeGreaterThan(1e-4);
    expect(Math.abs(got[1]?.b2 ?? 0)).toBeGreaterThan(1e-6);
  });

  it('a coordinate whose gradient is always zero gives finite beta2 hypergradients (epsilonRoot added)', () => {
    const opt = hypergradient(adam({ learningRate: 1e-2 }), { hyperOptimizer: sgd({ learningRate: 1e-3 }) });
    expect(opt.config).toMatchObject({ method: 'closed-form' });
    let state = opt.init({ w: tf.tensor1d([1, 2, 3]) });
    for (let i = 0; i < 3; i++) {
      const g = { w: tf.tensor1d([0.5, 0, -0.25]) };
      state = advance(opt, state, g);
      disposeTree(g);
    }
    expect(Number.isFinite(hg(state, 'beta2'))).toBe(true);
    expect(hg(state, 'beta2')).not.toBe(0);
    disposeTree(state.params);
    disposeTree(state.state as unknown as TensorTree);
  });
});

describe('hypergradient: closed form equals autodiff', () => {
  const cases = [
    ['sgd', () => sgd({ learningRate: 0.1 })],
    ['sgd momentum', () => sgd({ learningRate: 0.05, momentum: 0.9, nesterov: true })],
    ['adam', () => adam({ learningRate: 0.05 })],
    ['adamw', () => adamw({ learningRate: 0.05, weightDecay: 0.1 })],
    ['lion', () => lion({ learningRate: 0.01 })],
    ['rmsprop', () => rmsprop({ learningRate: 0.01 })],
  ] as const;
  for (const [label, make, spaces] of [
    ['adam lr+betas, default spaces', () => adam({ learningRate: 0.05, beta1: 0.8, beta2: 0.95 }), {}],
    ['adamw lr+betas, raw lr', () => adamw({ learningRate: 0.05, weightDecay: 0.1 }), { learningRate: 'raw' }],
    ['adam beta2 only, unit', () => adam({ learningRate: 0.05 }), {}],
  ] as const) {
    it(label, () => {
      const tune = label.startsWith('adam beta2') ? ['beta2'] : undefined;
      const run = (method: 'closed-form' | 'autodiff') => {
        // SGD hyper-steps (Adam's normalized steps would amplify float32 rounding of tiny hypergradients)
        const opt = hypergradient(make(), { hyperOptimizer: sgd({ learningRate: label.includes('raw') ? 0.01 : 0.5 }), method, spaces, ...(tune ? { tune } : {}) });
        const traj: number[][] = [];
        const grads: number[][] = [];
        const p = runQuadratic(opt, 8, (state) => {
          const tr = opt.trajectory(state);
          traj.push(tr.names.map((n) => tr.values[n]?.at(-1) as number));
          grads.push(opt.tune.map((n) => hg(state, n)));
        });
        return { p, traj, grads };
      };
      const a = run('closed-form');
      const b = run('autodiff');
      expectClose(a.p, b.p, { rtol: 1e-5, atol: 1e-6 });
      a.traj.forEach((x, t) => expectClose(x, b.traj[t] as number[], { rtol: 1e-5 }));
      a.grads.forEach((x, t) => expectClose(x, b.grads[t] as number[], { rtol: 1e-3, atol: 1e-7, label: `step ${t}` }));
      expect(Math.abs((a.traj.at(-1)?.[0] as number) - (a.traj[0]?.[0] as number))).toBeGreaterThan(1e-5);
    });
  }
  for (const [label, make] of cases) {
    it(label, () => {
      const run = (method: 'closed-form' | 'autodiff') => {
        const opt = hypergradient(make(), { hyperOptimizer: adam({ learningRate: 0.05 }), tune: ['learningRate'], method });
        const lrs: number[] = [];
        const grads: number[] = [];
        const p = runQuadratic(opt, 8, (state) => {
          lrs.push(opt.trajectory(state).values.learningRate?.at(-1) as number);
          grads.push(hg(state, 'learningRate'));
        });
        return { p, lrs, grads };
      };
      const a = run('closed-form');
      const b = run('autodiff');
      expectClose(a.p, b.p, { rtol: 1e-5, atol: 1e-6 });
      expectClose(a.lrs, b.lrs, { rtol: 1e-5 });
      expectClose(a.grads, b.grads, { rtol: 1e-4, atol: 1e-7 });
      expect(Math.abs((a.lrs.at(-1) as number) - (a.lrs[0] as number))).toBeGreaterThan(1e-4);
    });
  }
});

describe('hypergradient: towers', () => {
  it('a raw-space SGD/SGD/SGD tower matches its float64 reference at both levels', () => {
    const [alpha0, kappa0, kappa2] = [0.05, 0.002, 1e-3];
    const opt = hypergradient(sgd({ learningRate: alpha0 }), {
      spaces: { learningRate: 'raw' },
      hyperOptimizer: hypergradient(sgd({ learningRate: kappa0 }), { spaces: { learningRate: 'raw' }, hyperOptimizer: sgd({ learningRate: kappa2 }) }),
    });
    let w = [...START];
    let alpha = alpha0;
    let kappa = kappa0;
    let gPrev: number[] = [];
    let hPrev = 0;
    const alphas: number[] = [];
    const kappas: number[] = [];
    for (let t = 0; t < 8; t++) {
      const g = quadGrad(w);
      if (t > 0) {
        const h1 = -dot(g, gPrev); // dL/dalpha
        if (t > 1) kappa += kappa2 * h1 * hPrev; // level 2: dL/dkappa = -h_t h_{t-1}
        kappas.push(kappa);
        alpha -= kappa * h1;
        hPrev = h1;
      }
      w = w.map((x, i) => x - alpha * (g[i] as number));
      gPrev = g;
      alphas.push(alpha);
    }
    runQuadratic(opt, 8, (state, t) => {
      if (t !== 7) return;
      const l0 = opt.trajectory(state);
      const l1 = opt.trajectory(state, { level: 1 });
      expectClose(l0.values.learningRate as number[], alphas, { rtol: 1e-4 });
      expect(l1.steps).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expectClose(l1.values.learningRate as number[], kappas, { rtol: 1e-4 });
      expect(() => opt.trajectory(state, { level: 2 })).toThrow(LoptError);
    });
    expect(Math.abs((kappas.at(-1) as number) - kappa0)).toBeGreaterThan(1e-5);
  });

  it('the issue example builds and trains: hypergradient(adam(), { hyperOptimizer: hypergradient(sgd(1e-5), { hyperOptimizer: sgd(1e-6) }) })', () => {
    const opt = hypergradient(adam(), { hyperOptimizer: hypergradient(sgd({ learningRate: 1e-5 }), { hyperOptimizer: sgd({ learningRate: 1e-6 }) }) });
    const p = runQuadratic(opt, 20);
    expect(quadLoss(p)).toBeLessThan(quadLoss(START));
  });
});

describe('hypergradient: trajectory and options', () => {
  it('a full trajectory buffer halves its resolution and keeps every power-of-two-stride step', () => {
    const opt = hypergradient(sgd({ learningRate: 0.1 }), { hyperOptimizer: sgd({ learningRate: 0.01 }), trajectoryLength: 4 });
    const all: number[] = [];
    runQuadratic(opt, 11, (state, t) => {
      all.push(opt.trajectory(state).values.learningRate?.at(-1) as number);
      const tr = opt.trajectory(state);
      const stride = t + 1 <= 4 ? 1 : t + 1 <= 8 ? 2 : 4;
      expect(tr.steps).toEqual(Array.from({ length: Math.floor(t / stride) + 1 }, (_, r) => r * stride));
      if (t === 10) expectClose(tr.values.learningRate as number[], [all[0], all[4], all[8]] as number[], { rtol: 0, atol: 0 });
    });
  });

  it('validates its options with LoptError naming the option', () => {
    const hyper = sgd({ learningRate: 0.1 });
    const code = errorCode;
    expect(code(() => hypergradient(sgd(), {} as never))).toBe('INVALID_OPTION:hyperOptimizer');
    expect(code(() => hypergradient(sgd(), { hyperOptimizer: hyper, tune: ['beta1'] }))).toBe('INVALID_OPTION:tune');
    expect(code(() => hypergradient(sgd({ learningRate: cosineDecay({ initValue: 0.1, decaySteps: 10 }) }), { hyperOptimizer: hyper }))).toBe('INVALID_OPTION:opt');
    expect(code(() => hypergradient(injectHyperparams(sgd)({ learningRate: (t: number) => 1 / (t + 1) }), { hyperOptimizer: hyper }))).toBe('INVALID_OPTION:tune');
    expect(code(() => hypergradient(adam({ nesterov: true }), { hyperOptimizer: hyper, method: 'closed-form' }))).toBe('INVALID_OPTION:method');
    expect(code(() => hypergradient(injectHyperparams(adam)({ learningRate: 1e-3, beta1: 0.9 }), { hyperOptimizer: hyper, method: 'closed-form' }))).toBe(
      'INVALID_OPTION:method',
    );
    expect(code(() => hypergradient(sgd(), { hyperOptimizer: hyper, spaces: { learningRate: 'exp' as never } }))).toBe('INVALID_OPTION:spaces.learningRate');
    expect(code(() => hypergradient(sgd(), { hyperOptimizer: hyper, spaces: { momentum: 'unit' } }))).toBe('INVALID_OPTION:spaces.momentum');
    expect(code(() => hypergradient(sgd(), { hyperOptimizer: hyper, trajectoryLength: 3 }))).toBe('INVALID_OPTION:trajectoryLength');
    expect(code(() => hypergradient(sgd(), { hyperOptimizer: hyper, kappa: 1 } as never))).toBe('INVALID_OPTION:kappa');
    expect(code(() => hypergradient(injectHyperparams(adam)({ learningRate: 1e-3, beta2: 0.99 }), { hyperOptimizer: hyper }))).toBe('INVALID_OPTION:epsilonRoot');
    // a learning rate of 0 has no logarithm; a momentum of 0 is on the unit-space boundary
    expect(code(() => hypergradient(sgd({ learningRate: 0 }), { hyperOptimizer: hyper }).init(toTree(START)))).toBe('INVALID_OPTION:learningRate');
    expect(code(() => hypergradient(sgd({ momentum: 0 }), { hyperOptimizer: hyper }).init(toTree(START)))).toBe('INVALID_OPTION:momentum');
    // a mask is not in the JSON config: rebuilding would decay every leaf, so init refuses
    expect(code(() => hypergradient(adamw({ weightDecay: 0.1, mask: { a: true, w: false } }), { hyperOptimizer: hyper }).init(toTree(START)))).toBe(
      'INVALID_OPTION:opt',
    );
  });

  it('an injected optimizer is used as is (a mask survives)', () => {
    const mask = { a: true, w: false };
    const opt = hypergradient(injectHyperparams(adamw)({ learningRate: 0.05, weightDecay: 0.5, mask }), {
      hyperOptimizer: sgd({ learningRate: 0 }),
      tune: ['learningRate'],
    });
    const plain = adamw({ learningRate: 0.05, weightDecay: 0.5, mask });
    const a = runQuadratic(opt, 4);
    const b = runQuadratic(plain, 4);
    expectClose(a, b, { rtol: 1e-5, atol: 1e-7 });
  });

  it('closed-form Adam: a raw learning rate pushed below 0 fails with INVALID_OPTION naming it', () => {
    const opt = hypergradient(adam({ learningRate: 1e-3 }), { hyperOptimizer: sgd({ learningRate: 100 }), spaces: { learningRate: 'raw' }, tune: ['learningRate'] });
    let state = opt.init({ w: tf.tensor1d([1]) });
    const g1 = { w: tf.tensor1d([1]) };
    state = advance(opt, state, g1);
    const g2 = { w: tf.tensor1d([-1]) }; // dL/dlr = -g2 . dir1 = +1, so lr <- 1e-3 - 100
    let err: unknown;
    try {
      opt.update(state, g2);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LoptError);
    expect((err as LoptError).option).toBe('learningRate');
    disposeTree([g1, g2, state.params, state.state as unknown as TensorTree]);
  });

  it('rejects non-finite hypergradients with NON_FINITE', () => {
    expectSecondStepThrows(hypergradient(sgd({ learningRate: 0.1 }), { hyperOptimizer: sgd({ learningRate: 0.1 }) }), Number.NaN, /NaN/);
  });
});
