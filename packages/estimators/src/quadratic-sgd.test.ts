import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeTree, foldIn, treeLeaves } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { learnableSgdQuadratic, gaussHermite } from '../test/problems/quadratic-sgd.js';
import { tbptt } from './tbptt.js';
import { truncatedES } from './truncated-es.js';
import { truncatedPES } from './truncated-pes.js';
import { batchTheta } from './truncated-step.js';
import { disposeExcept } from './state.js';
import { TEST_KEY, episodeAverage, gaussianExpectation, meanAndSE } from '../test/test-utils.js';

// The PES paper's claims on learnable SGD over a quadratic: horizon T = 20, truncations K = 5.
const T = 20;
const K = 5;
const LR = 0.1;
const THETA = Math.log(LR);
const STD = 0.05;

/** Exact float64 gradients of the meta-loss (mean of L_0..L_19) with truncation k using theta + eps[k]. */
function gradients(ref: ReturnType<typeof learnableSgdQuadratic>['reference'], eps: ArrayLike<number>) {
  const u = Array.from({ length: T }, (_, s) => THETA + (eps[Math.floor(s / K)] as number));
  const { dL } = ref(u);
  let full = 0;
  let truncated = 0;
  for (let t = 0; t < T; t++) {
    for (let s = 0; s < t; s++) {
      const v = (dL[t] as Float64Array)[s] as number;
      full += v / T;
      if (Math.floor(s / K) === Math.floor(t / K)) truncated += v / T;
    }
  }
  return { full, truncated };
}

describe('learnable SGD on a quadratic (PES paper claims)', () => {
  const problem = learnableSgdQuadratic({ numTasks: 1 });

  it('Gauss-Hermite rule integrates Gaussian moments exactly', () => {
    const { nodes, weights } = gaussHermite(8);
    const m = (p: number) => nodes.reduce((a, z, i) => a + (weights[i] as number) * z ** p, 0);
    expectClose([m(0), m(1), m(2), m(4), m(6)], [1, 0, 1, 3, 15], { rtol: 1e-12, atol: 1e-12 });
  });

  it('unrolled losses match the float64 reference', () => {
    const p = learnableSgdQuadratic({ numTasks: 3 });
    const theta = p.theta(THETA);
    const batched = batchTheta(theta, 3);
    const s0 = p.truncatedStep.init(batched, TEST_KEY);
    const r = p.truncatedStep.unroll(batched, s0, TEST_KEY, 22);
    const { losses } = p.reference(new Array(T).fill(THETA));
    const got = r.out.losses.arraySync() as number[][];
    for (let t = 0; t < T; t++) expectClose(got[t] as number[], [losses[t], losses[t], losses[t]] as number[], { rtol: 1e-5 });
    expect(r.out.isDone[T - 1]).toEqual([true, true, true]);
    expect(r.out.mask[T]).toEqual([false, false, false]); // the reset step
    expect(r.out.iteration[T]).toEqual([0, 0, 0]);
    expectClose(got[T + 1] as number[], [losses[0], losses[0], losses[0]] as number[], { rtol: 1e-5 });
    disposeTree([theta, batched, r.out.losses]);
    s0.x.dispose();
    r.state.x.dispose();
  });

  it('TBPTT with a truncation equal to the horizon equals the exact gradient (float32 precision)', () => {
    const p = learnableSgdQuadratic({ numTasks: 2 });
    const est = tbptt({ truncatedStep: p.truncatedStep, unrollLength: T });
    const theta = p.theta(THETA);
    const ws = est.init(theta, TEST_KEY);
    const r = est.estimate(theta, ws, TEST_KEY);
    const exact = gradients(problem.reference, [0, 0, 0, 0]).full;
    const got = treeLeaves(r.grad)[0]?.dataSync()[0] as number;
    console.log(`TBPTT(K=T) gradient ${got}, exact float64 ${exact}`);
    expectClose(got, exact, { rtol: 2e-5, atol: 1e-7 });
    const meanLoss = problem.reference(new Array(T).fill(THETA)).losses.reduce((a, b) => a + b, 0) / T;
    expectClose(r.meanLoss, meanLoss, { rtol: 1e-5 });
    disposeTree([theta, r.grad]);
    disposeExcept([ws, r.state]);
  });

  it('PES is unbiased for the smoothed full-horizon gradient; truncated ES and TBPTT are biased toward smaller steps', () => {
    // Exact targets: E over independent per-truncation perturbations (what the estimators see).
    const smoothed = gaussianExpectation(T / K, STD, 8, (e) => gradients(problem.reference, e).full);
    const smoothedTrunc = gaussianExpectation(T / K, STD, 8, (e) => gradients(problem.reference, e).truncated);
    const exact = gradients(problem.reference, [0, 0, 0, 0]);

    const N = 384;
    const R = 24;
    const p = learnableSgdQuadratic({ numTasks: N });
    const theta = p.theta(THETA);
    const pes = truncatedPES({ truncatedStep: p.truncatedStep, unrollLength: K, std: STD });
    const es = truncatedES({ truncatedStep: p.truncatedStep, unrollLength: K, std: STD });
    const tb = tbptt({ truncatedStep: learnableSgdQuadratic({ numTasks: 1 }).truncatedStep, unrollLength: K });
    const before = tf.memory().numTensors;
    const pesSamples = Array.from({ length: R }, (_, r) => episodeAverage(pes, theta, foldIn(TEST_KEY, 1), r, T / K));
    const esSamples = Array.from({ length: R }, (_, r) => episodeAverage(es, theta, foldIn(TEST_KEY, 2), r, T / K));
    const tbpttValue = episodeAverage(tb, theta, foldIn(TEST_KEY, 3), 0, T / K);
    expect(tf.memory().numTensors).toBe(before);
    const P = meanAndSE(pesSamples);
    const E = meanAndSE(esSamples);
    console.log(
      `exact full ${exact.full.toFixed(5)}, smoothed full ${smoothed.toFixed(5)}, exact truncated ${exact.truncated.toFixed(5)}, smoothed truncated ${smoothedTrunc.toFixed(5)}\n` +
        `PES mean ${P.mean.toFixed(5)} +- ${P.se.toFixed(5)} (SE, ${R * N} episodes); truncated ES ${E.mean.toFixed(5)} +- ${E.se.toFixed(5)}; TBPTT ${tbpttValue.toFixed(5)}`,
    );
    // PES agrees with the smoothed full-horizon gradient within 4 standard errors.
    expect(Math.abs(P.mean - smoothed)).toBeLessThan(4 * P.se);
    // ... and is far from the truncated gradient.
    expect(Math.abs(P.mean - smoothedTrunc)).toBeGreaterThan(6 * P.se);
    // Truncated ES matches the (smoothed) truncated gradient, not the full one.
    expect(Math.abs(E.mean - smoothedTrunc)).toBeLessThan(4 * E.se);
    expect(Math.abs(E.mean - smoothed)).toBeGreaterThan(6 * E.se);
    // TBPTT is deterministic here: exactly the truncated gradient.
    expectClose(tbpttValue, exact.truncated, { rtol: 1e-4, atol: 1e-7 });
    // Direction (short-horizon bias): both see less benefit from a larger step than there is.
    expect(exact.full).toBeLessThan(0);
    expect(exact.truncated).toBeLessThan(0);
    expect(Math.abs(exact.truncated)).toBeLessThan(0.6 * Math.abs(exact.full));
    disposeTree(theta);
  });

  it('PES stays unbiased across episode ends inside truncations (the boundary bookkeeping)', () => {
    // Lockstep tasks, K = 5, episodes of 20 training steps + 1 reset step: over 105 steps
    // (21 truncations, 5 episodes) every episode end falls at another truncation position,
    // including the last one (accumulator reset to 0) and the first one.
    const truncations = 21;
    const steps = truncations * K;
    const M = new Array<number>(truncations).fill(K); // unmasked steps per truncation
    for (let e = 0; 21 * e + 20 < steps; e++) M[Math.floor((21 * e + 20) / K)]! -= 1;
    let target = 0;
    for (let e = 0; 21 * e < steps; e++) {
      const start = 21 * e;
      const ks = [...new Set(Array.from({ length: T }, (_, tau) => Math.floor((start + tau) / K)))];
      target += gaussianExpectation(ks.length, STD, 6, (eps) => {
        const u = Array.from({ length: T }, (_, tau) => THETA + (eps[ks.indexOf(Math.floor((start + tau) / K))] as number));
        const { dL } = problem.reference(u);
        let g = 0;
        for (let tau = 0; tau < T; tau++) {
          const w = 1 / (M[Math.floor((start + tau) / K)] as number);
          for (let s = 0; s < tau; s++) g += w * ((dL[tau] as Float64Array)[s] as number);
        }
        return g;
      });
    }
    target /= truncations;
    const N = 256;
    const R = 12;
    const p = learnableSgdQuadratic({ numTasks: N });
    const theta = p.theta(THETA);
    const pes = truncatedPES({ truncatedStep: p.truncatedStep, unrollLength: K, std: STD });
    const samples = Array.from({ length: R }, (_, r) => episodeAverage(pes, theta, foldIn(TEST_KEY, 4), r, truncations));
    const P = meanAndSE(samples);
    console.log(`steady-state PES ${P.mean.toFixed(5)} +- ${P.se.toFixed(5)}, exact ${target.toFixed(5)}`);
    expect(Math.abs(P.mean - target)).toBeLessThan(4 * P.se);
    disposeTree(theta);
  });
});
