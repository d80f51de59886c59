import * as tf from '@tensorflow/tfjs-core';
import { collectTensors, type Optimizer, type TensorTree } from '@lopt/core';
import { sgd } from '@lopt/optimizers';
import { describe, expect, it } from 'vitest';
import { divergenceGuard } from './divergenceGuard.js';
import { lossGuarded } from './lossGuarded.js';
import { gradientNormResidual } from './residual.js';
import { safeguarded } from './safeguarded.js';
import { guardStats } from './stats.js';
import { distance, divergingSgd, logisticRegression, quadratic, randomMlpOptimizer, train, type Problem } from '../test/fixtures.js';

// A deliberately bad "learned" optimizer behind each guard, with SGD (lr = 1/L) as fallback,
// must reach the float64 optimum to 1e-4 (loss gap) while the unguarded one diverges or stalls.

const quad = quadratic(20, 10, 3);
const logreg = logisticRegression(64, 5, 0.1, 7);

type Guard = (bad: Optimizer<TensorTree[]> | Optimizer<{ m: TensorTree }>, p: Problem) => Optimizer<unknown>;
const guards: Record<string, Guard> = {
  lossGuarded: (bad, p) => lossGuarded(bad as Optimizer<unknown>, sgd({ learningRate: 1 / p.L }), { lossFn: p.lossFn }) as Optimizer<unknown>,
  safeguarded: (bad, p) =>
    safeguarded(bad as Optimizer<unknown>, sgd({ learningRate: 1 / p.L }), { residualFn: gradientNormResidual(p.lossFn) }) as Optimizer<unknown>,
  divergenceGuard: (bad, p) => divergenceGuard(bad as Optimizer<unknown>, sgd({ learningRate: 1 / p.L }), { lossFn: p.lossFn }) as Optimizer<unknown>,
};

function finalGap(p: Problem, opt: Optimizer<unknown>, steps: number): { gap: number; dist: number; report: ReturnType<typeof guardStats> | undefined; losses: number[] } {
  const { state, losses } = train(opt, p, p.init(), steps);
  const gap = (losses[losses.length - 1] as number) - p.fStar;
  const dist = distance(state.params, p.xStar);
  const report = (state.state as { stats?: unknown } | undefined)?.stats ? guardStats(state as never) : undefined;
  tf.dispose(collectTensors([state.params, state.state]));
  return { gap, dist, report, losses };
}

describe.each([
  ['strongly convex quadratic (kappa 10)', quad, 150],
  ['L2-regularised logistic regression', logreg, 200],
] as const)('a diverging learned optimizer on a %s', (_label, problem, steps) => {
  const bad = divergingSgd(problem.L, problem === logreg ? 40 : 3);

  it('diverges without a guard', () => {
    const { losses } = train(bad, problem, problem.init(), 40);
    const last = losses[losses.length - 1] as number;
    expect(!Number.isFinite(last) || last > 1e3 * (losses[0] as number)).toBe(true);
  });

  it.each(Object.keys(guards))('converges to 1e-4 of the optimum behind %s', (g) => {
    const { gap, dist, report } = finalGap(problem, (guards[g] as Guard)(bad, problem), steps);
    expect(gap).toBeLessThan(1e-4);
    expect(gap).toBeGreaterThan(-1e-5); // never below the float64 optimum (sanity of the reference)
    expect(dist).toBeLessThan(1e-2);
    expect(report?.rejected).toBeGreaterThan(0);
  });
});

describe('a random-weight per-parameter MLP learned optimizer', () => {
  for (const [label, problem, steps] of [
    ['quadratic', quad, 150],
    ['logistic regression', logreg, 200],
  ] as const) {
    it(`stalls or diverges alone, converges behind lossGuarded and safeguarded (${label})`, () => {
      const mlp = randomMlpOptimizer(11);
      const alone = train(mlp, problem, problem.init(), steps);
      const aloneGap = (alone.losses[alone.losses.length - 1] as number) - problem.fStar;
      tf.dispose(collectTensors([alone.state.params, alone.state.state]));
      expect(!(aloneGap < 1e-2)).toBe(true);
      for (const g of ['lossGuarded', 'safeguarded'] as const) {
        const { gap } = finalGap(problem, (guards[g] as Guard)(randomMlpOptimizer(11), problem), steps);
        expect(gap).toBeLessThan(1e-4);
      }
    });
  }
});
