import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { deserializeTree, disposeTree, key as makeKey, serializeTree, treeLeaves, treeMap, type GradientEstimator, type TensorTree } from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { lOptTruncatedStep } from './lopt-truncated-step.js';
import { metaTrain } from './meta-train.js';
import { memoryCheckpointStore } from './meta-train-checkpoint.js';
import { FLOAT32_MAX, robustGlobalNorm } from './meta-train-checks.js';
import { perParameterMlpLOpt } from '../test/problems/learned-optimizers.js';
import { quadraticTaskFamily } from '../test/problems/quadratic-family.js';
import { truncatedPES } from './truncated-pes.js';
import { constantTruncation } from './truncation.js';

function values(tree: TensorTree): number[] {
  return treeLeaves(tree).flatMap((t) => Array.from(t.dataSync()));
}

/** An estimator whose loss explodes: finite gradients of magnitude `scale` (sign alternating by coordinate), loss 1e30. */
function explodingEstimator(scale: number): GradientEstimator<null> {
  return {
    name: 'exploding',
    init: () => null,
    estimate: (theta) => ({
      grad: treeMap((t) => tf.tidy(() => tf.mul(tf.sub(tf.mul(tf.cast(tf.greater(tf.randomUniform(t.shape, 0, 1, 'float32', 1), 0.5), 'float32'), 2), 1), scale)), theta),
      meanLoss: 1e30,
      state: null,
      metrics: {},
    }),
  };
}

function setup() {
  const lopt = perParameterMlpLOpt({ hidden: 4 });
  const step = lOptTruncatedStep({ taskFamily: quadraticTaskFamily({ dim: 4 }), learnedOptimizer: lopt, truncation: constantTruncation(6), numTasks: 2 });
  return { lopt, step };
}

describe('metaTrain on huge but finite estimates (issue 14, item 1)', () => {
  it('the gradient norm is finite where float32 sum of squares overflows (float64 reference)', () => {
    const g = [tf.tensor1d([3e20, -4e20]), tf.tensor2d([[1e20, 0]])];
    const naive = tf.tidy(() => tf.sqrt(tf.addN(g.map((t) => tf.sum(tf.square(t))))).dataSync()[0] as number);
    expect(naive).toBe(Infinity);
    const reference = Math.sqrt(3e20 ** 2 + 4e20 ** 2 + 1e20 ** 2);
    expect(Math.abs(robustGlobalNorm(g) - reference) / reference).toBeLessThan(1e-6);
    expect(robustGlobalNorm([tf.zeros([3])])).toBe(0);
    tf.dispose(g);
  });

  it('without clipping it stops with NON_FINITE naming the outer state, instead of freezing theta', async () => {
    const { lopt } = setup();
    await expect(metaTrain({ learnedOptimizer: lopt, estimators: [explodingEstimator(1e25)], outerOptimizer: adam({ learningRate: 1e-2 }), steps: 5, key: makeKey(1) })).rejects.toThrow(
      expect.objectContaining({ code: 'NON_FINITE', message: expect.stringMatching(/outer step 1: 'outer\.state\..*' became NaN or Infinity .*1 step\(s\) had a gradient whose squares overflow float32.*clipGradNorm/) }),
    );
  });

  it('with clipGradNorm it keeps learning: theta moves every step, and the overflow steps are counted', async () => {
    const { lopt } = setup();
    const before = tf.memory().numTensors;
    const thetas: number[][] = [];
    const r = await metaTrain({
      learnedOptimizer: lopt,
      estimators: [explodingEstimator(1e25)],
      outerOptimizer: adam({ learningRate: 1e-2 }),
      steps: 8,
      key: makeKey(1),
      clipGradNorm: 10,
      onStep: (_m, theta) => {
        thetas.push(values(theta));
      },
    });
    expect(r.history.map((m) => m.overflowSteps)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(r.history.every((m) => m.clipped === 1 && Number.isFinite(m.gradNorm) && m.gradNorm * m.gradNorm > FLOAT32_MAX)).toBe(true);
    for (let i = 1; i < thetas.length; i++) expect(thetas[i]).not.toEqual(thetas[i - 1]);
    expect(values(r.theta).every(Number.isFinite)).toBe(true);
    disposeTree(r.theta);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('moderate gradients are not counted as overflow', async () => {
    const { lopt } = setup();
    const r = await metaTrain({ learnedOptimizer: lopt, estimators: [explodingEstimator(1e3)], steps: 3, key: makeKey(1) });
    expect(r.history.map((m) => m.overflowSteps)).toEqual([0, 0, 0]);
    disposeTree(r.theta);
  });
});

describe('metaTrain validates the state it resumes from (issue 14, item 5)', () => {
  /** Runs 2 steps into a store; returns the checkpoint bytes and a rewriter that recomputes the hash. */
  async function checkpoint() {
    const { lopt, step } = setup();
    const estimators = [truncatedPES({ truncatedStep: step, unrollLength: 2, std: 0.01 })];
    const store = memoryCheckpointStore();
    const options = { learnedOptimizer: lopt, estimators, outerOptimizer: adam({ learningRate: 1e-2 }), steps: 4, key: makeKey(2) };
    const r = await metaTrain({ ...options, steps: 2, checkpoint: { store, every: 1 } });
    disposeTree(r.theta);
    const bytes = (await store.load()) as Uint8Array;
    const tamper = (edit: (leaves: tf.Tensor[], extra: Record<string, unknown>) => tf.Tensor[]): Uint8Array => {
      const { tree, metadata } = deserializeTree(bytes);
      const leaves = treeLeaves(tree);
      const extra = { ...metadata.extra };
      const edited = edit(leaves, extra);
      const out = serializeTree(edited, { kind: metadata.kind, name: metadata.name, config: metadata.config, extra });
      tf.dispose([...leaves, ...edited]);
      return out;
    };
    const resume = async (b: Uint8Array) => {
      const s = memoryCheckpointStore();
      await s.save(b);
      return metaTrain({ ...options, checkpoint: { store: s, every: 1 } });
    };
    return { bytes, tamper, resume };
  }

  it('accepts the untouched checkpoint (control), then refuses NaN data, a step beyond the run, and swapped tensors, naming the field', async () => {
    const { bytes, tamper, resume } = await checkpoint();
    const before = tf.memory().numTensors;
    const ok = await resume(bytes);
    expect(ok.resumedFrom).toBe(2);
    expect(values(ok.theta).every(Number.isFinite)).toBe(true);
    disposeTree(ok.theta);

    const nan = tamper((leaves) => leaves.map((t, i) => (i === 0 ? tf.fill(t.shape, NaN) : tf.clone(t))));
    await expect(resume(nan)).rejects.toThrow(expect.objectContaining({ code: 'NON_FINITE', message: expect.stringMatching(/'outer\.[\w.]+' holds NaN or Infinity/) }));

    const far = tamper((leaves, extra) => {
      extra.step = 1e12;
      return leaves.map((t) => tf.clone(t));
    });
    await expect(resume(far)).rejects.toThrow(/field 'step' must be an integer in \[0, 4\] \(the run has 4 outer steps\), got 1000000000000/);

    const counters = tamper((leaves, extra) => {
      extra.nanLossSteps = 7;
      return leaves.map((t) => tf.clone(t));
    });
    await expect(resume(counters)).rejects.toThrow(/field 'nanLossSteps' must be an integer in \[0, 2\]/);

    // Swap two tensors of different shapes (their byte ranges and the hash are rewritten).
    const swapped = tamper((leaves) => {
      const sizes = leaves.map((t) => t.shape.join(','));
      const j = sizes.findIndex((s) => s !== sizes[0]);
      return leaves.map((t, i) => tf.clone(i === 0 ? (leaves[j] as tf.Tensor) : i === j ? (leaves[0] as tf.Tensor) : t));
    });
    await expect(resume(swapped)).rejects.toThrow(expect.objectContaining({ code: 'CHECKPOINT_MISMATCH', message: expect.stringMatching(/checkpoint's '[\w.]+' is float32\[.*\], but this config needs float32\[/) }));
    expect(tf.memory().numTensors).toBe(before);
  });
});
