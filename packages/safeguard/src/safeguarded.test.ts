import * as tf from '@tensorflow/tfjs-core';
import { collectTensors, type TensorTree } from '@lopt/core';
import { sgd } from '@lopt/optimizers';
import { expectClose } from '@lopt/testkit';
import { describe, expect, it } from 'vitest';
import { gradientNormResidual } from './residual.js';
import { MU_UPDATES, safeguarded, type SafeguardedState } from './safeguarded.js';
import { guardStats } from './stats.js';
import { quadratic, randomMlpOptimizer, scripted, train, values } from '../test/fixtures.js';

const free = (...v: unknown[]): void => tf.dispose(collectTensors(v));
const half = (q: TensorTree): tf.Scalar => tf.tidy(() => tf.mul(0.5, tf.sum(tf.square((q as { x: tf.Tensor }).x))) as tf.Scalar);
const oneD = { lossFn: half, loss64: (x: readonly number[]) => 0.5 * (x[0] as number) ** 2 };

describe('safeguarded (GL2O) acceptance rule, hand-computed', () => {
  // f = x^2/2, x0 = 1, residual |f'(x)| = |x|, mu0 = |x0| = 1, delta = 0.5, EMA theta = 0.5,
  // fallback T(x) = x - 0.5 f'(x) = x/2. The learned step is x - a_t x with a = [0.8, -1, 0.5].
  //  t0: y = 0.2, r = 0.2 <= 0.5*1   -> accept; mu = 0.5*0.2 + 0.5*1   = 0.6
  //  t1: y = 0.4, r = 0.4 >  0.5*0.6 -> reject; x = T(0.2) = 0.1; mu stays 0.6
  // 'taken' (the learned state did not advance on t1, so a = -1 again):
  //  t2: y = 0.2, r = 0.2 <= 0.3     -> accept; mu = 0.5*0.2 + 0.5*0.6 = 0.4
  //  t3: y = 0.1, r = 0.1 <= 0.2     -> accept; mu = 0.25
  // 'both' (the learned state advanced on t1 too, so a = 0.5):
  //  t2: y = 0.05, r = 0.05 <= 0.3   -> accept; mu = 0.325
  //  t3: y = 0.025 <= 0.1625         -> accept; mu = 0.175
  const cases = {
    taken: { xs: [0.2, 0.1, 0.2, 0.1], mus: [0.6, 0.6, 0.4, 0.25] },
    both: { xs: [0.2, 0.1, 0.05, 0.025], mus: [0.6, 0.6, 0.325, 0.175] },
  } as const;
  it.each(['taken', 'both'] as const)("matches the hand computation (advance: '%s')", (policy) => {
    const opt = safeguarded(scripted([0.8, -1, 0.5]), sgd({ learningRate: 0.5 }), {
      residualFn: gradientNormResidual(half),
      delta: 0.5,
      muUpdate: 'ema',
      theta: 0.5,
      advance: policy,
    });
    const xs: number[] = [];
    const mus: number[] = [];
    const r = train(opt, oneD, { x: tf.tensor1d([1]) }, 4, {
      onStep: (_t, s) => {
        xs.push(values(s.params)[0] as number);
        mus.push(s.state.mu.dataSync()[0] as number);
      },
    });
    expectClose(xs, cases[policy].xs, { rtol: 1e-6 });
    expectClose(mus, cases[policy].mus, { rtol: 1e-6 });
    const s = guardStats(r.state);
    expect([s.accepted, s.rejected, s.learnedSteps, s.fallbackSteps, s.checks]).toEqual([3, 1, 3, 1, 4]);
    expect(s.residualEvals).toBe(5); // one in init (mu0), one per check
    free(r.state);
  });
});

describe('GL2O mu sequence', () => {
  const p = quadratic(12, 20, 4);
  // Independent float64 residual at the float32 params: ||Lambda (x - c)||.
  const residual64 = (x: readonly number[]): number => Math.sqrt(x.reduce((s, xi, i) => s + ((p.lambdas[i] as number) * (xi - (p.c[i] as number))) ** 2, 0));

  it.each(MU_UPDATES)("is non-increasing, changes only on accepted steps, and follows the '%s' rule", (rule) => {
    const theta = 0.3;
    const window = 3;
    const delta = 0.1;
    const opt = safeguarded(randomMlpOptimizer(5, 8, 0.2), sgd({ learningRate: 1 / p.L }), {
      residualFn: gradientNormResidual(p.lossFn),
      delta,
      muUpdate: rule,
      theta,
      window,
    });
    const mus: number[] = [];
    const accepted: boolean[] = [];
    const res: number[] = [];
    let prevAccepted = 0;
    const r = train(opt, p, p.init(), 60, {
      onStep: (_t, s: { params: TensorTree; state: SafeguardedState<unknown, unknown> }) => {
        mus.push(s.state.mu.dataSync()[0] as number);
        const acc = guardStats(s as never).accepted;
        accepted.push(acc > prevAccepted);
        prevAccepted = acc;
        res.push(residual64(values(s.params)));
      },
    });
    // mu0 as the guard computed it (float32 residual at the initial params), checked against float64.
    const s0 = opt.init(p.init());
    const mu0 = s0.state.mu.dataSync()[0] as number;
    expectClose(mu0, residual64(values(s0.params)), { rtol: 1e-5 });
    free(s0);
    const all = [mu0, ...mus];
    const recent: number[] = new Array<number>(window).fill(mu0);
    for (let t = 0; t < mus.length; t++) {
      const before = all[t] as number;
      const after = all[t + 1] as number;
      expect(after).toBeLessThanOrEqual(before); // exact, in float32
      if (!accepted[t]) {
        expect(after).toBe(before);
        continue;
      }
      const rr = res[t] as number; // the residual at the accepted candidate = the new params
      expect(rr).toBeLessThanOrEqual((1 - delta) * before * (1 + 1e-4));
      recent.shift();
      recent.push(rr);
      const expected =
        rule === 'geometric' ? (1 - theta) * before : rule === 'ema' ? theta * rr + (1 - theta) * before : rule === 'recent' ? rr : Math.max(...recent);
      expectClose(after, Math.min(expected, before), { rtol: 1e-4, atol: 1e-6 });
    }
    // Not vacuous: both branches occurred.
    const nAcc = accepted.filter(Boolean).length;
    expect(nAcc).toBeGreaterThan(0);
    expect(nAcc).toBeLessThan(mus.length);
    free(r.state);
  });
});

describe('safeguarded options and state', () => {
  it('takes mu0 from the options without evaluating the residual in init', () => {
    let calls = 0;
    const residualFn = (q: TensorTree): tf.Scalar => {
      calls++;
      return tf.tidy(() => tf.norm((q as { x: tf.Tensor }).x) as tf.Scalar);
    };
    const opt = safeguarded(scripted([0.5]), sgd({ learningRate: 0.5 }), { residualFn, mu0: 2 });
    const s = opt.init({ x: tf.tensor1d([1]) });
    expect(calls).toBe(0);
    expect(s.state.mu.dataSync()[0]).toBe(2);
    expect(guardStats(s).residualEvals).toBe(0);
    free(s);
  });

  it('throws NON_FINITE when the initial residual is not finite', () => {
    const opt = safeguarded(scripted([0.5]), sgd({ learningRate: 0.5 }), { residualFn: () => tf.scalar(Number.NaN) });
    const x = tf.tensor1d([1]);
    expect(() => opt.init({ x })).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
    x.dispose();
  });

  it('checks every `every` steps: residual evaluations = 1 + ceil(n / every)', () => {
    const opt = safeguarded(scripted([0.5]), sgd({ learningRate: 0.5 }), { residualFn: gradientNormResidual(half), every: 4 });
    const r = train(opt, oneD, { x: tf.tensor1d([1]) }, 10);
    const s = guardStats(r.state);
    expect(s.checks).toBe(3);
    expect(s.residualEvals).toBe(4);
    expect(s.learnedSteps).toBe(10); // a good learned step (x -> x/2) is accepted at every check
    expectClose(values(r.state.params), [0.5 ** 10], { rtol: 1e-5 });
    free(r.state);
  });
});
