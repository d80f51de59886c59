import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, key, normal, type Key, type Task, type TensorTree } from '@lopt/core';
import { adam, chain, clip, cosineDecay, optimizerFrom, scale, sgd } from '@lopt/optimizers';
import { fitBehaviour, behaviourTable } from './behaviour.js';
import { fitClipping } from './fit-clipping.js';
import { fitMomentum } from './fit-momentum.js';
import { fitLearningRateSchedule } from './fit-schedule.js';
import { traceUpdates } from './trace.js';

/**
 * A noisy quadratic: `0.5 sum(c (w - n)^2)` with curvatures c in [0.2, 2] and a per-batch
 * target n ~ N(0, noise^2), so gradients change direction from step to step.
 */
function quadraticTask(dim: number, initScale: number, noise = 0.3): Task<tf.Tensor> {
  const c = tf.linspace(0.2, 2, dim);
  return {
    name: 'noisyQuadratic',
    init: (k: Key) => ({ w: normal(k, [dim], { std: initScale }) }),
    loss: (p: TensorTree, batch: tf.Tensor) => tf.tidy(() => tf.mul(0.5, tf.sum(tf.mul(c, tf.square(tf.sub((p as { w: tf.Tensor }).w, batch))))) as tf.Scalar),
    datasets: { train: { sample: (k: Key) => normal(k, [dim], { std: noise }) } },
  };
}

describe('traceUpdates', () => {
  it('records p[t+1] - p[t] and the gradient of sampled coordinates, without leaking', () => {
    const task = quadraticTask(32, 1);
    const before = tf.memory().numTensors;
    const trace = traceUpdates(sgd({ learningRate: 0.1 }), task, { steps: 12, coordinates: 10, key: key(1) });
    expect(tf.memory().numTensors).toBe(before);
    expect(trace.grads.length).toBe(12);
    expect(trace.updates[0]?.length).toBe(10);
    expect(trace.losses.length).toBe(12);
    expect(new Set(trace.indices).size).toBe(10);
    expect(trace.paths.every((p) => p === 'w')).toBe(true);
    // SGD: the update is exactly -lr * g (up to float32 rounding of p[t+1] - p[t]).
    trace.updates.forEach((row, t) => row.forEach((u, i) => expect(u).toBeCloseTo(-0.1 * (trace.grads[t]?.[i] as number), 5)));
    // The loss goes down on average.
    expect(trace.losses[11] as number).toBeLessThan(trace.losses[0] as number);
  });

  it('rejects bad options and a diverging run with LoptError', () => {
    const task = quadraticTask(4, 1);
    expect(() => traceUpdates(sgd(), task, { steps: 0 })).toThrow(/steps/);
    expect(() => traceUpdates(sgd(), task, { steps: 2, coordinates: 0 })).toThrow(/coordinates/);
    expect(() => traceUpdates(sgd(), task, { steps: 2, coordinate: 3 } as never)).toThrow(LoptError);
    expect(() => traceUpdates({} as never, task, { steps: 2 })).toThrow(/optimizer/);
    expect(() => traceUpdates(sgd(), {} as never, { steps: 2 })).toThrow(/task/);
    const diverging = quadraticTask(4, 1e10);
    const before = tf.memory().numTensors;
    expect(() => traceUpdates(sgd({ learningRate: 1e20 }), diverging, { steps: 20 })).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('behaviour fits recover known optimizers', () => {
  it('SGD with momentum 0.9: beta ~0.9 and its learning rate', () => {
    const trace = traceUpdates(sgd({ learningRate: 0.02, momentum: 0.9 }), quadraticTask(64, 2), { steps: 40, coordinates: 32, key: key(2) });
    const fit = fitMomentum(trace.grads, trace.updates);
    expect(Math.abs(fit.beta - 0.9)).toBeLessThan(0.005);
    expect(fit.learningRate).toBeCloseTo(0.02, 4);
    expect(fit.r2).toBeGreaterThan(0.9999);
    // Other betas explain less: the R² curve peaks at the fit.
    const at = (b: number) => fit.curve.find((c) => Math.abs(c.beta - b) < 1e-9)?.r2 as number;
    expect(at(0.5)).toBeLessThan(0.99);
    expect(at(0)).toBeLessThan(at(0.5));
    // fitBehaviour: no clipping in an SGD-momentum run.
    expect(fitBehaviour(trace).clipping.clipped).toBe(false);
    // Plain SGD fits beta ~0.
    const plain = traceUpdates(sgd({ learningRate: 0.05 }), quadraticTask(64, 2), { steps: 30, coordinates: 32, key: key(3) });
    expect(fitMomentum(plain.grads, plain.updates).beta).toBeLessThan(0.005);
  });

  it("Adam with a cosine schedule: the per-step scale is the schedule, closest template 'cosine'", () => {
    const steps = 60;
    const schedule = cosineDecay({ initValue: 0.05, decaySteps: steps });
    const trace = traceUpdates(adam({ learningRate: schedule }), quadraticTask(64, 2), { steps, coordinates: 48, key: key(4) });
    const fit = fitLearningRateSchedule(trace.grads, trace.updates, { momentum: 0.9, precondition: { beta2: 0.999 } });
    fit.scale.forEach((s, t) => expect(Math.abs(s - schedule(t))).toBeLessThan(1e-3 * 0.05 + 1e-3 * schedule(t)));
    expect(fit.closest.name).toBe('cosine');
    expect(fit.closest.amplitude).toBeCloseTo(0.05, 3);
    expect(fit.closest.relativeResidual).toBeLessThan(0.01);
    // The same run against a constant Adam: 'constant'.
    const flat = traceUpdates(adam({ learningRate: 0.05 }), quadraticTask(64, 2), { steps, coordinates: 48, key: key(4) });
    expect(fitLearningRateSchedule(flat.grads, flat.updates, { momentum: 0.9, precondition: { beta2: 0.999 } }).closest.name).toBe('constant');
    // fitBehaviour finds the cosine through its Adam-direction fit too.
    expect(fitBehaviour(trace).adamSchedule.closest.name).toBe('cosine');
  });

  it('clipped SGD: the threshold of the update-vs-gradient response', () => {
    const opt = optimizerFrom(chain(clip(0.5), scale(-0.1)), 'clippedSgd');
    const trace = traceUpdates(opt, quadraticTask(64, 3), { steps: 20, coordinates: 64, key: key(5) });
    const fit = fitClipping(trace.grads.flat(), trace.updates.flat());
    expect(fit.clipped).toBe(true);
    expect(Math.abs(fit.threshold - 0.5) / 0.5).toBeLessThan(0.01);
    expect(fit.slope).toBeCloseTo(0.1, 4);
    expect(fit.saturation).toBeCloseTo(0.05, 4);
    expect(fit.r2).toBeGreaterThan(0.9999);
    expect(fit.linearR2).toBeLessThan(0.95);
    // Unclipped SGD: no saturation.
    const plain = traceUpdates(sgd({ learningRate: 0.1 }), quadraticTask(64, 3), { steps: 20, coordinates: 64, key: key(5) });
    expect(fitClipping(plain.grads.flat(), plain.updates.flat()).clipped).toBe(false);
    // fitBehaviour: clipping of the raw gradient explains the run better than any momentum.
    const b = fitBehaviour(trace);
    expect(b.clippingInput).toBe('gradient');
    expect(Math.abs(b.clipping.threshold - 0.5) / 0.5).toBeLessThan(0.01);
    expect(b.clipping.r2).toBeGreaterThan(b.momentum.r2);
    expect(behaviourTable(b).map((r) => r.behaviour)).toHaveLength(5);
  });

  it('fits a threshold to a response curve on a grid (the playground form) exactly', () => {
    const g = Array.from({ length: 81 }, (_, i) => -4 + i * 0.1);
    const u = g.map((x) => -0.2 * Math.max(-1.234, Math.min(1.234, x)));
    const fit = fitClipping(g, u);
    expect(fit.threshold).toBeCloseTo(1.234, 6);
    expect(fit.slope).toBeCloseTo(0.2, 8);
    expect(fit.r2).toBeCloseTo(1, 10);
  });
});

describe('behaviour fits reject bad input with LoptError', () => {
  const g = [[1, 2], [3, 4], [5, 6]];
  it('names the offending argument', () => {
    expect(() => fitMomentum([[1, 2]], [[1, 2]])).toThrow(/grads/);
    expect(() => fitMomentum(g, [[1, 2], [3, 4]])).toThrow(/same shape/);
    expect(() => fitMomentum(g, [[1, 2], [3], [5, 6]])).toThrow(/updates\[1\]/);
    expect(() => fitMomentum(g, [[1, 2], [3, Number.NaN], [5, 6]])).toThrow(/updates\[1\]\[1\]/);
    expect(() => fitMomentum(g, [[0, 0], [0, 0], [0, 0]])).toThrow(/all zero/);
    expect(() => fitMomentum(g, g, { betas: [1.5] })).toThrow(/betas\[0\]/);
    expect(() => fitLearningRateSchedule(g, g, { momentum: -1 })).toThrow(/momentum/);
    expect(() => fitLearningRateSchedule(g, g, { precondition: { beta2: 2 } })).toThrow(/beta2/);
    expect(() => fitLearningRateSchedule(g, g, { warmup: 3 } as never)).toThrow(LoptError);
    expect(() => fitClipping([1, 2, 3], [1, 2])).toThrow(/same length/);
    expect(() => fitClipping([1, 2], [1, 2])).toThrow(/at least 3/);
    expect(() => fitClipping([0, 0, 0], [1, 2, 3])).toThrow(/all zero/);
    expect(() => fitClipping('x' as never, [1])).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });
});
