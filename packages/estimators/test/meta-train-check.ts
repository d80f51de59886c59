// The meta-training acceptance check shared by the meta-train tests: PES meta-training must
// beat the initial theta on held-out tasks, and the un-updated theta must fail the same check.
import { expect } from 'vitest';
import { disposeTree, key as makeKey, type TensorTree } from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { metaTrain } from '../src/meta-train.js';
import { truncatedPES } from '../src/truncated-pes.js';
import { pairedImprovement } from './test-utils.js';

type MetaTrainOptions = Parameters<typeof metaTrain>[0];

/**
 * Meta-trains `lopt` from its initial theta at `seed` with PES (unroll 5, std 0.01) on `step` and
 * Adam at `learningRate` for `steps` outer steps, and checks that the held-out values of
 * `evalTheta` (log-losses per task) improve on the initial theta's by more than `margin`
 * (paired), and that the un-updated theta fails the same check (the planted negation).
 * `report` gives the line logged for the run.
 */
export async function expectMetaTrainingImproves(o: {
  lopt: MetaTrainOptions['learnedOptimizer'];
  step: Parameters<typeof truncatedPES>[0]['truncatedStep'];
  seed: number;
  steps: number;
  learningRate: number;
  margin: number;
  evalTheta: (theta: TensorTree) => number[];
  report: (check: ReturnType<typeof pairedImprovement>, r: Awaited<ReturnType<typeof metaTrain>>) => string;
}): Promise<void> {
  const theta0 = o.lopt.init(makeKey(o.seed));
  const initial = o.evalTheta(theta0);
  const r = await metaTrain({
    learnedOptimizer: o.lopt,
    estimators: [truncatedPES({ truncatedStep: o.step, unrollLength: 5, std: 0.01 })],
    outerOptimizer: adam({ learningRate: o.learningRate }),
    steps: o.steps,
    key: makeKey(o.seed),
    theta: theta0,
  });
  const trained = o.evalTheta(r.theta);
  const check = pairedImprovement(trained, initial, o.margin);
  console.log(o.report(check, r));
  expect(trained.every(Number.isFinite)).toBe(true);
  expect(check.holds).toBe(true);
  // Planted negation: theta never updated (evaluated again) fails the same check.
  expect(pairedImprovement(o.evalTheta(theta0), initial, o.margin).holds).toBe(false);
  disposeTree([theta0, r.theta]);
}
