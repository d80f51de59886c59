// metaTrain of a real learned optimizer from @lopt/learned on a task family from @lopt/tasks
// (test-only imports: the estimators' sources never import those packages).
import { describe, expect, it } from 'vitest';
import { disposeTree, key as makeKey, type Optimizer, type TensorTree } from '@lopt/core';
import { adafacMlpLOpt } from '@lopt/learned';
import { adam } from '@lopt/optimizers';
import { fixedDimQuadraticFamily } from '@lopt/tasks';
import { lOptTruncatedStep } from './lopt-truncated-step.js';
import { metaTrain } from './meta-train.js';
import { truncatedPES } from './truncated-pes.js';
import { constantTruncation } from './truncation.js';
import { heldOutLoss } from './test-utils.js';

describe('metaTrain with @lopt/learned and @lopt/tasks', () => {
  it('adafacMlpLOpt meta-trained with PES on a quadratic family beats its initial value and adam (default lr) on held-out tasks', async () => {
    const family = fixedDimQuadraticFamily({ dim: 8, maxCondition: 10 });
    const lopt = adafacMlpLOpt();
    const horizon = 30;
    const steps = 200;
    const step = lOptTruncatedStep({ taskFamily: family, learnedOptimizer: lopt, truncation: constantTruncation(horizon), numTasks: 4, randomInitialIterationOffset: horizon });
    const kEval = makeKey(4242);
    const evalTheta = (th: TensorTree) => heldOutLoss((n) => lopt.optimizer(th as never, { numSteps: n }) as Optimizer<unknown>, family, kEval, 8, horizon);
    const theta0 = lopt.init(makeKey(1));
    const initial = evalTheta(theta0);
    const adamLoss = heldOutLoss(() => adam(), family, kEval, 8, horizon);
    const r = await metaTrain({
      learnedOptimizer: lopt,
      estimators: [truncatedPES({ truncatedStep: step, unrollLength: 5, std: 0.01 })],
      outerOptimizer: adam({ learningRate: 1e-2 }),
      steps,
      key: makeKey(1),
      theta: theta0,
    });
    const trained = evalTheta(r.theta);
    const h = r.history;
    const first = h.slice(0, 20).reduce((a, m) => a + m.meanLoss, 0) / 20;
    const last = h.slice(-20).reduce((a, m) => a + m.meanLoss, 0) / 20;
    console.log(
      `adafacMlpLOpt + PES, ${steps} outer steps: training meta-loss ${first.toFixed(3)} -> ${last.toFixed(3)}; ` +
        `held-out mean loss initial ${initial.toFixed(4)} -> trained ${trained.toFixed(4)}, adam(1e-3) ${adamLoss.toFixed(4)}; ` +
        `${((h[h.length - 1]?.stepsPerSecond ?? 0) * 60).toFixed(1)} outer steps/min`,
    );
    expect(trained).toBeLessThan(0.9 * initial);
    expect(trained).toBeLessThan(adamLoss);
    disposeTree([theta0, r.theta]);
  });
});
