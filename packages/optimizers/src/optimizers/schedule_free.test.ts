// Schedule-Free SGD and AdamW: first steps against float64 references written from optax
// contrib's `schedule_free` (plain JS numbers), optax's own documented example values, its
// unit tests (zero learning rate, wrapper equals shortcut), convergence, leaks and bad options.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, advance, disposeTree, type OptState, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { adamw, optimizerFrom, scheduleFree, scheduleFreeAdamw, scheduleFreeEvalParams, scheduleFreeSgd } from '../index.js';
import { GRADS, P0, expectTrajectory, runSteps, type Leaves } from '../../test/reference.js';

/** The base step of a reference: per leaf, gradient -> update (state kept by the closure). */
type BaseStep = (g: number[], p: number[], leaf: number, baseCount: number, lr: number) => number[];

/**
 * float64 Schedule-Free around `base`, over P0 and GRADS (optax: the schedule sees the
 * counter from 1, the base optimizer its own counter from 0).
 */
function scheduleFreeReference(base: BaseStep, schedule: (t: number) => number, b1: number, power = 2, steps = GRADS.length): Leaves[] {
  let y = P0.map((l) => [...l]);
  let z = P0.map((l) => [...l]);
  let [maxLr, sum] = [0, 0];
  const out: Leaves[] = [];
  for (let t = 1; t <= steps; t++) {
    const g = GRADS[(t - 1) % GRADS.length] as Leaves;
    maxLr = Math.max(maxLr, schedule(t));
    const w = maxLr ** power;
    sum += w;
    const c = sum === 0 ? 0 : w / sum;
    const lrBase = schedule(t - 1);
    const zNew = z.map((zl, i) => {
      const u = base(g[i] as number[], y[i] as number[], i, t - 1, lrBase);
      return zl.map((v, j) => v + (u[j] as number));
    });
    y = y.map((yl, i) =>
      yl.map((v, j) => {
        const zo = (z[i] as number[])[j] as number;
        const zn = (zNew[i] as number[])[j] as number;
        const x = (1 - c) * ((v - (1 - b1) * zo) / b1) + c * zn;
        return b1 * x + (1 - b1) * zn;
      }),
    );
    z = zNew;
    out.push(y.map((l) => [...l]));
  }
  return out;
}

const warm = (peak: number, steps: number) => (t: number) => (t >= steps ? peak : (peak * t) / steps);

describe('scheduleFreeSgd', () => {
  it('first steps match a float64 reference (warm-up, weight decay)', () => {
    const [lr, b1, wd] = [0.2, 0.9, 0.05];
    const ref = scheduleFreeReference((g, p, _i, _n, l) => g.map((gj, j) => -l * (gj + wd * (p[j] as number))), warm(lr, 2), b1, 2, 6);
    expectTrajectory(runSteps(scheduleFreeSgd({ learningRate: lr, warmupSteps: 2, weightDecay: wd }), 6), ref, 'scheduleFreeSgd');
  });

  it("reproduces optax's documented example (f = sum x^2 from [1, 2, 3])", () => {
    const f = evalObjective(scheduleFreeSgd(), [1, 2, 3], 5);
    // optax.contrib.schedule_free_sgd docstring: 1.40E+01, 1.75E-14, 9.96E-01, 8.06E-01, 2.41E-01
    expectClose(f, [14.0, 0, 0.996, 0.806, 0.241], { rtol: 5e-3, atol: 1e-5, label: 'eval objective' });
  });
});

describe('scheduleFreeAdamw', () => {
  it('first steps match a float64 reference (warm-up, decoupled weight decay)', () => {
    const [lr, b1, b2, eps, wd] = [0.05, 0.9, 0.99, 1e-8, 0.01];
    const v = P0.map((l) => l.map(() => 0));
    const ref = scheduleFreeReference(
      (g, p, i, n, l) =>
        g.map((gj, j) => {
          const vi = v[i] as number[];
          vi[j] = b2 * (vi[j] as number) + (1 - b2) * gj * gj;
          const vh = (vi[j] as number) / (1 - b2 ** (n + 1));
          return -l * (gj / (Math.sqrt(vh) + eps) + wd * (p[j] as number));
        }),
      warm(lr, 3),
      b1,
      2,
      6,
    );
    expectTrajectory(runSteps(scheduleFreeAdamw({ learningRate: lr, warmupSteps: 3, beta2: b2, weightDecay: wd }), 6), ref, 'scheduleFreeAdamw');
  });

  it("reproduces optax's documented example (learning rate 1)", () => {
    const f = evalObjective(scheduleFreeAdamw({ learningRate: 1 }), [1, 2, 3], 5);
    // optax.contrib.schedule_free_adamw(1.0) docstring: 5.00, 3.05, 1.73, 0.894, 0.413
    expectClose(f, [5.0, 3.05, 1.73, 0.894, 0.413], { rtol: 6e-3, label: 'eval objective' });
  });

  it('equals scheduleFree around adamw without momentum (optax test_schedule_free_adamw)', () => {
    const wrapped = optimizerFrom(scheduleFree(adamw({ learningRate: 1, beta1: 0, weightDecay: 1e-4, fused: false }).transformation, { learningRate: 1 }), 'sf');
    const a = runSteps(scheduleFreeAdamw({ learningRate: 1, weightDecay: 1e-4 }), 5);
    const b = runSteps(wrapped, 5);
    a.forEach((step, s) => step.forEach((leaf, i) => expectClose(leaf, (b[s] as Leaves)[i] as number[], { rtol: 1e-6, atol: 1e-6 })));
  });
});

describe('scheduleFreeEvalParams', () => {
  it('returns the initial parameters when the learning rate is zero (optax test_learning_rate_zero)', () => {
    const opt = scheduleFreeSgd({ learningRate: 0 });
    const y = evalTrajectory(opt, [1, 2], 5);
    expectClose(y.at(-1) as number[], [1, 2], { atol: 0 });
  });

  it("is the optimizers' evalParams", () => {
    const opt = scheduleFreeAdamw({ learningRate: 0.1 });
    let state = opt.init({ w: tf.tensor1d([1, -2]) });
    const g = { w: tf.tensor1d([0.5, 1]) };
    state = advance(opt, state, g);
    state = advance(opt, state, g);
    const a = scheduleFreeEvalParams(state) as { w: tf.Tensor };
    const b = opt.evalParams!(state) as { w: tf.Tensor };
    expectClose(Array.from(b.w.dataSync()), Array.from(a.w.dataSync()), { atol: 0 });
    expect(Array.from(a.w.dataSync())).not.toEqual(Array.from((state.params as { w: tf.Tensor }).w.dataSync()));
    disposeTree([a, b, g, state.params, state.state as TensorTree]);
  });

  it('keeps rank-0 parameters rank 0', () => {
    const opt = scheduleFreeSgd();
    const state = opt.init({ s: tf.scalar(1) });
    const x = scheduleFreeEvalParams(state) as { s: tf.Tensor };
    expect(x.s.shape).toEqual([]);
    disposeTree([x, state.params, state.state as TensorTree]);
  });

  it('rejects a state that is not Schedule-Free, naming it', () => {
    const state = adamw().init({ w: tf.zeros([2]) });
    expect(() => scheduleFreeEvalParams(state)).toThrow(/Schedule-Free optimizer/);
    disposeTree([state.params, state.state as TensorTree]);
  });
});

describe('Schedule-Free convergence and memory', () => {
  it.each([
    ['scheduleFreeSgd', () => scheduleFreeSgd({ learningRate: 0.1 }), 1e-3],
    // x is the uniform average of every z since the start, so its error decays like 1/t:
    // the start is 11 away, 2000 steps leave ~5e-3.
    ['scheduleFreeAdamw', () => scheduleFreeAdamw({ learningRate: 0.1, warmupSteps: 10 }), 1e-2],
  ])('%s reaches the parabola minimum at its evaluation parameters, with flat memory', (_name, make, atol) => {
    const target = [1, -1, 1];
    const opt = make();
    let state: OptState<unknown> = opt.init({ x: tf.tensor1d([-1, 10, 1]) });
    let baseline = 0;
    for (let step = 0; step < 2000; step++) {
      const y = (state.params as { x: tf.Tensor }).x.dataSync();
      const grads = { x: tf.tensor1d(Array.from(y, (v, i) => 2 * (v - (target[i] as number)))) };
      state = advance(opt, state, grads);
      disposeTree(grads);
      if (step === 10) baseline = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(baseline);
    const x = scheduleFreeEvalParams(state) as { x: tf.Tensor };
    expectClose(Array.from(x.x.dataSync()), target, { atol });
    disposeTree([x, state.params, state.state as TensorTree]);
  });
});

describe('Schedule-Free options', () => {
  it.each([
    [() => scheduleFreeSgd({ beta1: 0 }), 'beta1'],
    [() => scheduleFreeSgd({ beta1: 1.5 }), 'beta1'],
    [() => scheduleFreeSgd({ warmupSteps: 0 }), 'warmupSteps'],
    [() => scheduleFreeSgd({ warmupSteps: 2.5 }), 'warmupSteps'],
    [() => scheduleFreeAdamw({ beta2: 1 }), 'beta2'],
    [() => scheduleFreeAdamw({ learningRate: -1 }), 'learningRate'],
    [() => scheduleFreeAdamw({ weightLrPower: -1 }), 'weightLrPower'],
    [() => scheduleFreeAdamw({ learningrate: 1 } as never), 'learningrate'],
  ])('rejects a bad option, naming it (%#)', (make, option) => {
    try {
      make();
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(LoptError);
      expect((e as LoptError).message).toContain(option);
    }
  });
});

/** Runs `opt` on f = sum x^2 and returns the evaluation parameters after each step. */
function evalTrajectory(opt: ReturnType<typeof scheduleFreeSgd>, x0: number[], steps: number): number[][] {
  let state: OptState<unknown> = opt.init({ x: tf.tensor1d(x0) });
  const out: number[][] = [];
  for (let i = 0; i < steps; i++) {
    const grads = tf.tidy(() => ({ x: tf.mul(2, (state.params as { x: tf.Tensor }).x) }));
    state = advance(opt, state, grads);
    disposeTree(grads);
    const x = scheduleFreeEvalParams(state) as { x: tf.Tensor };
    out.push(Array.from(x.x.dataSync()));
    disposeTree(x);
  }
  disposeTree([state.params, state.state as TensorTree]);
  return out;
}

function evalObjective(opt: ReturnType<typeof scheduleFreeSgd>, x0: number[], steps: number): number[] {
  return evalTrajectory(opt, x0, steps).map((x) => x.reduce((s, v) => s + v * v, 0));
}
