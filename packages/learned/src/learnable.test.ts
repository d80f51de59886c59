import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { advance, disposeTree, key, normal, type OptState, type TensorTree } from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { expectClose, expectTreeClose } from '@lopt/testkit';
import { learnableAdam, learnableSgd, learnableSgdm } from './learnable.js';

describe('learnable hand-designed optimizers', () => {
  it('learnableAdam with its initial theta follows the trajectory of adam with the same values', () => {
    const cfg = { learningRate: 0.05, beta1: 0.8, beta2: 0.99, epsilon: 1e-6 };
    const lopt = learnableAdam(cfg);
    const theta = lopt.init(key(0));
    const mine = lopt.optimizer(theta);
    const ref = adam(cfg);
    const p0 = (): TensorTree => ({ a: normal(key(1), [3, 4]), b: normal(key(2), [5]) });
    let s1: OptState = mine.init(p0());
    let s2: OptState = ref.init(p0()) as OptState;
    for (let t = 0; t < 25; t++) {
      const g = { a: normal(key(100 + t), [3, 4]), b: normal(key(200 + t), [5]) };
      s1 = advance(mine, s1, g);
      s2 = advance(ref as never, s2, g);
      disposeTree(g);
    }
    expectTreeClose(s1.params, s2.params, { rtol: 2e-5, atol: 1e-6 });
  });

  it('learnableSgdm takes the steps of optax sgd(lr, momentum) (trace = g + mu trace)', () => {
    const lopt = learnableSgdm({ learningRate: 0.1, momentum: 0.5 });
    const opt = lopt.optimizer(lopt.init(key(0)));
    let s: OptState = opt.init(tf.tensor1d([1, -2]));
    const gs = [[0.5, 1], [-1, 0.25], [0.2, 0.2]];
    let trace = [0, 0];
    let p = [1, -2];
    for (const g of gs) {
      s = advance(opt, s, tf.tensor1d(g));
      trace = trace.map((t, i) => (g[i] as number) + 0.5 * t);
      p = p.map((x, i) => x - 0.1 * (trace[i] as number));
    }
    expectClose(s.params as tf.Tensor, p, { rtol: 1e-6 });
  });

  it('meta-training learnableSgd through a 10-step unroll moves its learning rate to the analytic optimum', () => {
    // f(p) = 0.5 h |p|^2, h = 2. After t SGD steps p_t = (1 - lr h)^t p0; the meta-loss is the
    // sum of the losses over the unroll (Andrychowicz et al.), minimized at lr* = 1 / h = 0.5.
    const h = 2;
    const T = 10;
    const p0 = tf.tensor1d([1, -0.5, 0.25]);
    const sq0 = 1 + 0.25 + 0.0625;
    const metaLoss = (logLr: tf.Tensor): tf.Scalar => {
      const opt = learnableSgd().optimizer({ log_lr: logLr as tf.Scalar });
      let s = opt.init(p0);
      const losses: tf.Tensor[] = [];
      for (let t = 0; t < T; t++) {
        s = opt.update(s, tf.mul(h, s.params as tf.Tensor));
        losses.push(tf.mul(0.5 * h, tf.sum(tf.square(s.params as tf.Tensor))));
      }
      return tf.addN(losses) as tf.Scalar;
    };
    const grad = tf.grad(metaLoss);
    const lr0 = 0.05;
    let logLr = Math.log(lr0);
    // The meta-gradient equals the analytic d/dlog(lr) of sum_t h/2 (1 - lr h)^(2t) |p0|^2.
    let analytic = 0;
    for (let t = 1; t <= T; t++) analytic += 0.5 * h * sq0 * 2 * t * (1 - lr0 * h) ** (2 * t - 1) * (-h * lr0);
    expectClose(grad(tf.scalar(logLr)), analytic, { rtol: 1e-4 });
    for (let i = 0; i < 20; i++) {
      const gv = tf.tidy(() => grad(tf.scalar(logLr)).dataSync()[0] as number);
      logLr -= 0.3 * gv;
    }
    expect(Math.exp(logLr)).toBeCloseTo(0.5, 2);
  });

  it('validates options', () => {
    expect(() => learnableSgd({ learningRate: -1 })).toThrow(/learningRate/);
    expect(() => learnableAdam({ beta1: 1 })).toThrow(/beta1/);
    expect(() => learnableSgdm({ momentum: 2 } as never)).toThrow(/momentum/);
    expect(() => learnableSgd({ lr: 0.1 } as never)).toThrow(/learnableSgd: unknown option 'lr'\. Known options: /);
  });
});
