// tfjs's own optimizer unit tests (tensorflow/tfjs, tfjs-core/src/optimizers/*_test.ts: adam,
// sgd, momentum, rmsprop, adagrad, adamax), ported to run lopt's optimizers through
// toTfjsOptimizer: the same problems (minimize sum(x^2)), the same expected numbers and
// tolerances (tfjs's expectArraysClose: 1e-3 absolute, 1e-2 where tfjs loosens it), the same
// memory checks, save/load of optimizer weights and config round trips. Where tfjs's expected
// numbers are checked, the same run also checks the matching tf.train optimizer for 10 steps.
// Adadelta differs by design (optax semantics) and the difference is asserted.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose } from '@lopt/testkit';
import { adadelta, adamax, registerAll, toTfjsOptimizer, LoptTfjsOptimizer } from './index.js';

beforeAll(() => registerAll());

/** One ported tfjs test case: the lopt optimizer, tfjs's reference optimizer and tfjs's expected numbers. */
interface Port {
  readonly name: string;
  readonly lopt: () => tf.Optimizer;
  readonly tfjs: () => tf.Optimizer;
  readonly x0: number[];
  readonly shape?: number[];
  readonly step1: number[];
  readonly step2: number[];
  /** tfjs's tolerance on step 2 (it loosens some to 1e-2). */
  readonly tol2?: number;
}

const sumSquares = (x: tf.Variable) => (): tf.Scalar => tf.sum(tf.square(x));

const PORTS: Port[] = [
  {
    name: 'adam',
    lopt: () => toTfjsOptimizer('adam', { learningRate: 0.1, beta1: 0.8, beta2: 0.9, epsilon: 1e-7 }),
    tfjs: () => tf.train.adam(0.1, 0.8, 0.9),
    x0: [2, 4],
    step1: [1.9, 3.9],
    step2: [1.8000001, 3.8002],
  },
  { name: 'sgd', lopt: () => toTfjsOptimizer('sgd', { learningRate: 0.1 }), tfjs: () => tf.train.sgd(0.1), x0: [4], shape: [], step1: [3.2], step2: [2.56] },
  {
    name: 'momentum',
    lopt: () => toTfjsOptimizer('sgd', { learningRate: 0.1, momentum: 0.5 }),
    tfjs: () => tf.train.momentum(0.1, 0.5),
    x0: [1, 2],
    step1: [0.8, 1.6],
    step2: [0.54, 1.08],
  },
  {
    name: 'momentum with Nesterov',
    lopt: () => toTfjsOptimizer('sgd', { learningRate: 0.1, momentum: 0.5, nesterov: true }),
    tfjs: () => tf.train.momentum(0.1, 0.5, true),
    x0: [1, 2],
    step1: [0.7, 1.4],
    step2: [0.44, 0.88],
  },
  {
    name: 'rmsprop',
    lopt: () => toTfjsOptimizer('rmsprop', { learningRate: 0.1, decay: 0.95, momentum: 0.1, epsilon: 1e-7, epsilonInSqrt: true }),
    tfjs: () => tf.train.rmsprop(0.1, 0.95, 0.1),
    x0: [1, 2],
    step1: [0.55279, 1.55279],
    step2: [0.28745, 1.222943],
    tol2: 1e-2,
  },
  {
    name: 'rmsprop centered',
    lopt: () => toTfjsOptimizer('rmsprop', { learningRate: 0.1, decay: 0.95, momentum: 0.1, epsilon: 1e-8, epsilonInSqrt: true, centered: true }),
    tfjs: () => tf.train.rmsprop(0.1, 0.95, 0.1, 1e-8, true),
    x0: [1, 2],
    step1: [0.54117, 1.541169],
    step2: [0.267785, 1.2035924],
    tol2: 1e-2,
  },
  {
    name: 'adagrad',
    lopt: () => toTfjsOptimizer('adagrad', { learningRate: 0.1, initialAccumulatorValue: 0.1, epsilon: 1e-7 }),
    tfjs: () => tf.train.adagrad(0.1, 0.1),
    x0: [1, 2],
    step1: [0.9012270405, 1.9003110428],
    step2: [0.8347372764, 1.83015597828],
    tol2: 1e-2,
  },
  {
    // tf.train.adamax's `decay` divides the learning rate by (1 + decay * step): a schedule here.
    name: 'adamax (decay 0.1 as a schedule)',
    lopt: () => toTfjsOptimizer(adamax({ learningRate: (t: number) => 0.1 / (1 + 0.1 * t), beta1: 0.8, beta2: 0.9, epsilon: 1e-7 })),
    tfjs: () => tf.train.adamax(0.1, 0.8, 0.9, undefined, 0.1),
    x0: [2, 4],
    step1: [1.9, 3.9],
    step2: [1.80697, 3.8086],
  },
];

describe.each(PORTS)('tfjs $name test through toTfjsOptimizer', (p) => {
  it('basic: two minimize steps give tfjs\'s numbers, no tensors are added by the second, dispose frees the state', async () => {
    const initialTensors = tf.memory().numTensors;
    const optimizer = p.lopt();
    const x = tf.variable(tf.tensor(p.x0, p.shape ?? [p.x0.length]));
    const cost = optimizer.minimize(sumSquares(x), true)!;
    expectClose(await x.data(), p.step1, { rtol: 0, atol: 1e-3, label: `${p.name} step 1` });
    expectClose(await cost.data(), [p.x0.reduce((s, v) => s + v * v, 0)], { rtol: 0, atol: 1e-3 });
    cost.dispose();
    const numTensors = tf.memory().numTensors;
    expect(optimizer.minimize(sumSquares(x), false)).toBe(null);
    expectClose(await x.data(), p.step2, { rtol: 0, atol: p.tol2 ?? 1e-3, label: `${p.name} step 2` });
    expect(tf.memory().numTensors).toBe(numTensors);
    x.dispose();
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(initialTensors + 1); // the argument of tf.variable, as in tfjs's test
  });

  it('matches the tf.train optimizer over 10 steps in the same run (rtol 1e-4)', () => {
    const run = (opt: tf.Optimizer): number[][] => {
      const x = tf.variable(tf.tensor(p.x0, p.shape ?? [p.x0.length]));
      const out: number[][] = [];
      for (let i = 0; i < 10; i++) {
        opt.minimize(sumSquares(x));
        out.push(Array.from(x.dataSync()));
      }
      x.dispose();
      opt.dispose();
      return out;
    };
    const ours = run(p.lopt());
    const theirs = run(p.tfjs());
    ours.forEach((x, i) => expectClose(x, theirs[i]!, { rtol: 1e-4, atol: 1e-6, label: `${p.name} step ${i + 1}` }));
  });
});

/** tfjs's "continue training after loading weights": one step, weights into a new optimizer, the next steps' costs. */
async function continueAfterLoading(make: () => tf.Optimizer, x0: number[], costs: number[], x2?: number[]): Promise<void> {
  const x = tf.variable(tf.tensor1d(x0));
  let optimizer = make();
  optimizer.minimize(sumSquares(x));
  for (const [i, expected] of costs.entries()) {
    const next = make();
    await next.setWeights(await optimizer.getWeights());
    optimizer.dispose();
    optimizer = next;
    const cost = optimizer.minimize(sumSquares(x), true)!;
    expectClose(await cost.data(), [expected], { rtol: 0, atol: 1e-3, label: `cost after reload ${i + 1}` });
    expect(optimizer.iterations).toBe(i + 2);
    cost.dispose();
  }
  if (x2 !== undefined) expectClose(await x.data(), x2, { rtol: 0, atol: 1e-3 });
  optimizer.dispose();
  x.dispose();
}

describe('tfjs save/load-weights tests through toTfjsOptimizer', () => {
  it('adam: continue training after loading weights (20 -> 18.82 -> 17.681284)', async () => {
    await continueAfterLoading(() => toTfjsOptimizer('adam', { learningRate: 0.1, beta1: 0.8, beta2: 0.9, epsilon: 1e-7 }), [2, 4], [18.82, 17.681284]);
  });
  it('sgd: set and get weights (x 4 -> 3.2 -> 2.56 -> 2.048)', async () => {
    const x = tf.variable(tf.scalar(4));
    const o1 = toTfjsOptimizer('sgd', { learningRate: 0.1 });
    o1.minimize(sumSquares(x));
    const o2 = toTfjsOptimizer('sgd', { learningRate: 0.1 });
    await o2.setWeights(await o1.getWeights());
    o2.minimize(sumSquares(x));
    expectClose(await x.data(), [2.56], { rtol: 0, atol: 1e-3 });
    expect(o2.iterations).toBe(2);
    const o3 = toTfjsOptimizer('sgd', { learningRate: 0.1 });
    await o3.setWeights(await o2.getWeights());
    o3.minimize(sumSquares(x));
    expectClose(await x.data(), [2.048], { rtol: 0, atol: 1e-3 });
    expect(o3.iterations).toBe(3);
    for (const o of [o1, o2, o3]) o.dispose();
    x.dispose();
  });
  it('momentum (Nesterov): save, load weights and continue training (cost 2.45, x [0.44, 0.88])', async () => {
    await continueAfterLoading(() => toTfjsOptimizer('sgd', { learningRate: 0.1, momentum: 0.5, nesterov: true }), [1, 2], [2.45], [0.44, 0.88]);
  });
  it('rmsprop: save and load weights, centered = false (cost 2.7167187, x [0.2874418, 1.2294267])', async () => {
    const make = () => toTfjsOptimizer('rmsprop', { learningRate: 0.1, decay: 0.95, momentum: 0.1, epsilon: 1e-7, epsilonInSqrt: true });
    await continueAfterLoading(make, [1, 2], [2.7167187], [0.2874418, 1.2294267]);
  });
  it('rmsprop: save, load weights and continue training, centered = true (costs 2.668063, 1.520341)', async () => {
    const make = () => toTfjsOptimizer('rmsprop', { learningRate: 0.1, decay: 0.95, momentum: 0.1, epsilon: 1e-7, epsilonInSqrt: true, centered: true });
    await continueAfterLoading(make, [1, 2], [2.668063, 1.520341]);
  });
  it('adagrad: continue training after loading weights (cost 18.82179)', async () => {
    await continueAfterLoading(() => toTfjsOptimizer('adagrad', { learningRate: 0.1, initialAccumulatorValue: 0.1, epsilon: 1e-7 }), [2, 4], [18.82179]);
  });
  it('serialization round-trip: fromConfig(getConfig()) has the same config and the same updates', () => {
    for (const [spec, options] of [
      ['adam', { learningRate: 0.1, beta1: 0.2, beta2: 0.3, epsilon: 2e-8 }],
      ['sgd', { learningRate: 0.1, momentum: 0.2, nesterov: true }],
      ['rmsprop', { learningRate: 0.1, decay: 0.5, momentum: 0.1, epsilon: 1e-7, centered: true }],
      ['adagrad', { learningRate: 0.1, initialAccumulatorValue: 0.2 }],
      ['adamax', { learningRate: 0.1, beta1: 0.2, beta2: 0.3, epsilon: 2e-8 }],
    ] as const) {
      const original = toTfjsOptimizer(spec, options);
      const config = JSON.parse(JSON.stringify(original.getConfig()));
      const reserialized = LoptTfjsOptimizer.fromConfig(LoptTfjsOptimizer, config) as LoptTfjsOptimizer;
      expect(reserialized.getConfig()).toEqual(original.getConfig());
      expect(reserialized.optimizer.name).toBe(spec);
      original.dispose();
      reserialized.dispose();
    }
  });
});

describe('adadelta differs from tf.train.adadelta by design (optax semantics)', () => {
  it("uses the updated squared-gradient average, so its first step is sqrt(eps / (1-rho) g^2) g, not tfjs's g", async () => {
    // tfjs divides by the average *before* this step's update (0 on step 1, so its step is
    // lr * g: x [1, 2] -> [0.8, 1.6]); optax and lopt divide by the updated average.
    const [lr, rho, eps] = [0.1, 0.95, 1e-6];
    const x = tf.variable(tf.tensor1d([1, 2]));
    const ours = toTfjsOptimizer(adadelta({ learningRate: lr, rho, epsilon: eps }));
    ours.minimize(sumSquares(x));
    const expected = [1, 2].map((x0) => {
      const g = 2 * x0;
      const accGrad = (1 - rho) * g * g;
      return x0 - lr * (Math.sqrt(0 + eps) / Math.sqrt(accGrad + eps)) * g;
    });
    expectClose(await x.data(), expected, { rtol: 1e-6, label: 'lopt adadelta step 1 (optax)' });
    const y = tf.variable(tf.tensor1d([1, 2]));
    const theirs = tf.train.adadelta(lr, rho);
    theirs.minimize(sumSquares(y));
    expectClose(await y.data(), [0.8, 1.6], { rtol: 0, atol: 1e-3, label: 'tf.train.adadelta step 1' });
    expect(Math.abs((await x.data())[0]! - 0.8)).toBeGreaterThan(0.19); // the documented difference
    ours.dispose();
    theirs.dispose();
    tf.dispose([x, y]);
  });
});
