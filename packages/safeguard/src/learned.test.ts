// Guards around real @lopt/learned optimizers (randomly initialised, i.e. never meta-trained)
// and through the tf.Optimizer adapter of @lopt/optimizers.
import * as tf from '@tensorflow/tfjs-core';
import { collectTensors, key, type Optimizer } from '@lopt/core';
import { learnableSgd, lstmL2L } from '@lopt/learned';
import { sgd, toTfjsOptimizer } from '@lopt/optimizers';
import { describe, expect, it } from 'vitest';
import { divergenceGuard } from './divergenceGuard.js';
import { lossGuarded } from './lossGuarded.js';
import { gradientNormResidual } from './residual.js';
import { safeguarded } from './safeguarded.js';
import { guardStats } from './stats.js';
import { quadratic, train } from '../test/fixtures.js';

const free = (...v: unknown[]): void => tf.dispose(collectTensors(v));
const p = quadratic(10, 10, 8);

describe('real learned optimizers from @lopt/learned behind a guard', () => {
  it('a randomly initialised lstmL2L stalls alone and converges to 1e-4 behind lossGuarded and safeguarded', () => {
    const arch = lstmL2L();
    const theta = arch.init(key(0));
    const steps = 100;
    const alone = train(arch.optimizer(theta), p, p.init(), 40);
    const aloneLoss = alone.losses[40] as number;
    expect(aloneLoss).toBeGreaterThan(1e-2); // stalls (or wanders): far from the optimum
    for (const guarded of [
      lossGuarded(arch.optimizer(theta), sgd({ learningRate: 1 / p.L }), { lossFn: p.lossFn }),
      safeguarded(arch.optimizer(theta), sgd({ learningRate: 1 / p.L }), { residualFn: gradientNormResidual(p.lossFn) }),
    ] as Optimizer<unknown>[]) {
      const r = train(guarded, p, p.init(), steps);
      expect(r.losses[steps]).toBeLessThan(1e-4);
      free(r.state);
    }
    free(alone.state, theta);
  });

  it('learnableSgd with a diverging learning rate is caught by divergenceGuard', () => {
    const arch = learnableSgd({ learningRate: 3 / p.L });
    const theta = arch.init(key(0));
    const alone = train(arch.optimizer(theta), p, p.init(), 40);
    expect(alone.losses[40]).toBeGreaterThan(1e3 * (alone.losses[0] as number));
    const guarded = train(divergenceGuard(arch.optimizer(theta), sgd({ learningRate: 1 / p.L }), { lossFn: p.lossFn }) as Optimizer<unknown>, p, p.init(), 150);
    expect(guarded.losses[150]).toBeLessThan(1e-4);
    expect(guardStats(guarded.state as never).rejected).toBeGreaterThan(0);
    free(alone.state, guarded.state, theta);
  });
});

describe('toTfjsOptimizer composition', () => {
  it('a guarded optimizer drives tf.Optimizer.minimize (state kept per variable)', () => {
    const lam = tf.tensor1d(p.lambdas);
    const c = tf.tensor1d(p.c);
    const w = tf.variable(tf.tensor1d(Array.from({ length: p.lambdas.length }, () => 3)), true, 'safeguard_test_w');
    const lossOf = (x: tf.Tensor): tf.Scalar => tf.tidy(() => tf.mul(0.5, tf.sum(tf.mul(lam, tf.square(tf.sub(x, c))))) as tf.Scalar);
    const guarded = lossGuarded(learnableSgd({ learningRate: 3 / p.L }).optimizer(learnableSgd({ learningRate: 3 / p.L }).init(key(0))), sgd({ learningRate: 1 / p.L }), {
      // The adapter passes one variable per update, keyed by its name.
      lossFn: (params) => lossOf((params as Record<string, tf.Tensor>)['safeguard_test_w'] as tf.Tensor),
    });
    const opt = toTfjsOptimizer(guarded as Optimizer<unknown>);
    const step = (): void => opt.minimize(() => lossOf(w), true)?.dispose() ?? undefined;
    step(); // creates the per-variable state
    const before = tf.memory().numTensors;
    for (let i = 1; i < 100; i++) step();
    const final = lossOf(w);
    expect(final.dataSync()[0]).toBeLessThan(1e-4);
    const s = opt.stateOf('safeguard_test_w');
    expect(s).toBeDefined();
    const stats = guardStats({ params: {}, state: s?.state as never, iteration: s?.iteration ?? 0 });
    expect(stats.iteration).toBe(100);
    expect(stats.fallbackSteps).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before + 1); // only `final`
    tf.dispose([final, lam, c, w]);
    opt.dispose();
  });
});
