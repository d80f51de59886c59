import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { LoptError } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { adam, registerAll, sgd, toTfjsOptimizer, LoptTfjsOptimizer } from './index.js';

function makeModel(): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ units: 5, inputShape: [3], activation: 'tanh' }));
  model.add(tfl.layers.dense({ units: 1 }));
  return model;
}

function data(): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < 16; i++) {
    const a = Math.sin(i * 1.3);
    const b = Math.cos(i * 0.7);
    const c = ((i % 5) - 2) / 2;
    x.push(a, b, c);
    y.push(0.7 * a - 1.2 * b + 0.3 * c * c);
  }
  return { xs: tf.tensor2d(x, [16, 3]), ys: tf.tensor2d(y, [16, 1]) };
}

describe('toTfjsOptimizer', () => {
  it('drives tfjs-layers model.fit to the same weights as tf.train.adam after 20 steps', async () => {
    const { xs, ys } = data();
    const ref = makeModel();
    const ours = makeModel();
    // deterministic initial weights (no unseeded randomness in tests)
    const init = ref.getWeights().map((w, k) => tf.tensor(Array.from({ length: w.size }, (_, j) => 0.5 * Math.sin(1 + j * 1.7 + k)), w.shape));
    const init_ = init.map((t) => tf.clone(t));
    ref.setWeights(init);
    ours.setWeights(init);
    tf.dispose(init);
    const [lr, b1, b2, eps] = [0.01, 0.9, 0.999, 1e-7];
    ref.compile({ optimizer: tf.train.adam(lr, b1, b2, eps), loss: 'meanSquaredError' });
    const opt = toTfjsOptimizer(adam({ learningRate: lr, beta1: b1, beta2: b2, epsilon: eps }));
    ours.compile({ optimizer: opt, loss: 'meanSquaredError' });
    const h1 = await ref.fit(xs, ys, { epochs: 20, batchSize: 16, shuffle: false, verbose: 0 });
    const h2 = await ours.fit(xs, ys, { epochs: 20, batchSize: 16, shuffle: false, verbose: 0 });
    const wr = ref.getWeights();
    const wo = ours.getWeights();
    expect(wo.length).toBe(4);
    // Tolerance 1e-5 at the weights' scale (they are O(0.1..1)): tf.train.adam forms its bias
    // correction from float32 running products (1 - float32(0.999) is off by 1.3e-5 relative),
    // lopt from float64 powers, which accounts for differences of about 1e-6.
    wo.forEach((w, i) => expectClose(w, (wr[i] as tf.Tensor).dataSync() as Float32Array, { rtol: 1e-5, atol: 1e-5, label: `weight ${i}` }));
    const moved = wo.map((w, i) => tf.max(tf.abs(tf.sub(w, init_[i] as tf.Tensor))).dataSync()[0] as number);
    expect(Math.max(...moved)).toBeGreaterThan(0.05); // the weights really moved
    const l1 = h1.history.loss as number[];
    const l2 = h2.history.loss as number[];
    expect(l2[19]).toBeLessThan(l2[0] as number);
    expectClose(l2, l1, { rtol: 1e-4 });
    expect(opt.iterations).toBe(20);
    registerAll(); // getConfig names a registered spec
    expect(opt.getConfig()).toMatchObject({ name: 'adam', learningRate: lr, beta1: b1, beta2: b2, epsilon: eps });
    tf.dispose([xs, ys]);
  });

  it('keeps moments with their variables when the gradient map is reordered or subset', () => {
    const a = tf.variable(tf.tensor1d([1, -1]), true, 'lopt_test_a');
    const b = tf.variable(tf.tensor1d([0.5]), true, 'lopt_test_b');
    const opt = toTfjsOptimizer(adam({ learningRate: 0.1 }));
    const ga = [[0.3, -0.6], [1.0, 0.2]];
    const gb = [[2.0], [-0.5], [0.25]];
    opt.applyGradients({ lopt_test_a: tf.tensor1d(ga[0]!), lopt_test_b: tf.tensor1d(gb[0]!) });
    opt.applyGradients({ lopt_test_b: tf.tensor1d(gb[1]!), lopt_test_a: tf.tensor1d(ga[1]!) });
    opt.applyGradients([{ name: 'lopt_test_b', tensor: tf.tensor1d(gb[2]!) }]);
    // float64 reference: each variable runs Adam on its own gradient sequence
    const adamRef = (p0: number[], gs: number[][]) => {
      const m = p0.map(() => 0);
      const v = p0.map(() => 0);
      const p = [...p0];
      gs.forEach((g, s) => {
        const t = s + 1;
        g.forEach((gj, j) => {
          m[j] = 0.9 * m[j]! + 0.1 * gj;
          v[j] = 0.999 * v[j]! + 0.001 * gj * gj;
          p[j] = p[j]! - (0.1 * (m[j]! / (1 - 0.9 ** t))) / (Math.sqrt(v[j]! / (1 - 0.999 ** t)) + 1e-8);
        });
      });
      return p;
    };
    expectClose(a, adamRef([1, -1], ga), { rtol: 1e-5 });
    expectClose(b, adamRef([0.5], gb), { rtol: 1e-5 });
    expect(opt.stateOf('lopt_test_a')?.iteration).toBe(2);
    expect(opt.stateOf('lopt_test_b')?.iteration).toBe(3);
    opt.dispose();
    a.dispose();
    b.dispose();
  });

  it('getWeights / setWeights round-trip by name resumes exactly', async () => {
    const make = () => tf.variable(tf.tensor1d([1, 2, 3]), true, 'lopt_test_w');
    const grads = [[0.1, -0.2, 0.3], [0.5, 0.5, -1], [1, 0, 2], [-0.3, 0.3, 0.1]];
    const w = make();
    const opt = toTfjsOptimizer(adam({ learningRate: 0.05 }));
    for (const g of grads.slice(0, 2)) opt.applyGradients({ lopt_test_w: tf.tensor1d(g) });
    const weights = await opt.getWeights();
    expect(weights.map((x) => x.name)).toEqual(['iter', 'lopt_test_w/iteration', 'lopt_test_w/0.count', 'lopt_test_w/0.mu.lopt_test_w', 'lopt_test_w/0.nu.lopt_test_w']);
    const saved = weights.map((x) => ({ name: x.name, tensor: tf.clone(x.tensor) }));
    const paramsAt2 = tf.clone(w);
    for (const g of grads.slice(2)) opt.applyGradients({ lopt_test_w: tf.tensor1d(g) });
    const direct = Array.from(w.dataSync());
    const opt2 = toTfjsOptimizer(adam({ learningRate: 0.05 }));
    w.assign(paramsAt2);
    await opt2.setWeights(saved);
    expect(opt2.iterations).toBe(2);
    for (const g of grads.slice(2)) opt2.applyGradients({ lopt_test_w: tf.tensor1d(g) });
    expect(Array.from(w.dataSync())).toEqual(direct);
    opt.dispose();
    opt2.dispose();
    w.dispose();
  });

  it('works with minimize() and rejects bad input', () => {
    const x = tf.variable(tf.scalar(3), true, 'lopt_test_x');
    const opt = toTfjsOptimizer(sgd({ learningRate: 0.25 }));
    for (let i = 0; i < 3; i++) opt.minimize(() => tf.square(x) as tf.Scalar);
    expectClose(x, [3 * 0.5 ** 3]);
    expect(opt).toBeInstanceOf(LoptTfjsOptimizer);
    expect(() => opt.applyGradients({ lopt_test_x: tf.tensor1d([1, 2]) })).toThrow(LoptError);
    expect(() => opt.applyGradients({ no_such_variable_xyz: tf.scalar(1) })).toThrow(/no_such_variable_xyz/);
    expect(() => toTfjsOptimizer({} as never)).toThrow(LoptError);
    opt.dispose();
    x.dispose();
  });

  it('does not leak tensors per step', () => {
    const x = tf.variable(tf.tensor1d([1, 2]), true, 'lopt_test_leak');
    const opt = toTfjsOptimizer(adam({ learningRate: 0.1 }));
    const step = (i: number) => {
      const g = tf.tensor1d([0.1, 0.2]);
      // model.fit runs the optimizer inside an enclosing tidy; state must survive it
      if (i % 2 === 0) tf.tidy(() => opt.applyGradients({ lopt_test_leak: g }));
      else opt.applyGradients({ lopt_test_leak: g });
      g.dispose();
    };
    step(0);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) step(i);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    x.dispose();
  });

  it('passes the loss of minimize (model.fit) to the lopt optimizer as ctx.loss, without leaking', () => {
    const x = tf.variable(tf.tensor1d([1, -2]), true, 'lopt_test_ctx_loss');
    const seen: number[] = [];
    const inner = sgd({ learningRate: 0.1 });
    const recorder = {
      name: 'recorder',
      init: inner.init,
      update: (state: Parameters<typeof inner.update>[0], grads: Parameters<typeof inner.update>[1], ctx?: { loss?: tf.Scalar }) => {
        seen.push(ctx?.loss === undefined ? Number.NaN : (ctx.loss.dataSync()[0] as number));
        return inner.update(state, grads);
      },
    };
    const opt = toTfjsOptimizer(recorder);
    const f = () => tf.sum(tf.square(x)) as tf.Scalar;
    opt.minimize(f);
    const before = tf.memory().numTensors;
    const cost = opt.minimize(f, true) as tf.Scalar;
    // sum(x^2) = 5, then x <- x - 0.1 * 2x = 0.8x, so 3.2.
    expect(seen[0]).toBeCloseTo(5, 5);
    expect(seen[1]).toBeCloseTo(3.2, 5);
    expect(cost.dataSync()[0]).toBeCloseTo(3.2, 5);
    cost.dispose();
    expect(tf.memory().numTensors).toBe(before);
    opt.applyGradients({ lopt_test_ctx_loss: tf.tensor1d([0, 0]) });
    expect(Number.isNaN(seen[2])).toBe(true); // outside minimize there is no loss
    opt.dispose();
    x.dispose();
  });
});
