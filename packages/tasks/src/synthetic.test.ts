import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { key } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { rastriginTask, rosenbrockTask } from './index.js';

function lossAndGrad(task: ReturnType<typeof rosenbrockTask>, x: number[]): { loss: number; grad: number[] } {
  return tf.tidy(() => {
    const p = tf.tensor1d(x);
    const { value, grads } = tf.valueAndGrads((q: tf.Tensor) => task.loss(q, undefined as never))([p]);
    return { loss: value.dataSync()[0] as number, grad: Array.from((grads[0] as tf.Tensor).dataSync()) };
  });
}

describe('synthetic functions', () => {
  it('rosenbrock: value and analytic gradient (float64 reference)', () => {
    const task = rosenbrockTask({ dim: 3 });
    const x = [0.3, -0.7, 1.2];
    const { loss, grad } = lossAndGrad(task, x);
    let ref = 0;
    const g = [0, 0, 0];
    for (let i = 0; i < 2; i++) {
      const [a, b] = [x[i] as number, x[i + 1] as number];
      ref += 100 * (b - a * a) ** 2 + (1 - a) ** 2;
      g[i]! += -400 * a * (b - a * a) - 2 * (1 - a);
      g[i + 1]! += 200 * (b - a * a);
    }
    expectClose(loss, ref, { rtol: 1e-5 });
    expectClose(grad, g, { rtol: 1e-4 });
    expectClose(lossAndGrad(task, [1, 1, 1]).loss, 0, { atol: 0 });
    const p = task.init(key(0)) as tf.Tensor;
    for (const v of p.dataSync()) expect(Math.abs(v)).toBeLessThanOrEqual(2);
    p.dispose();
  });

  it('rastrigin: zero at the origin, 2A-free value at integer points, analytic gradient', () => {
    const task = rastriginTask({ dim: 2 });
    expectClose(lossAndGrad(task, [0, 0]).loss, 0, { atol: 1e-5 });
    // At integers the cosine is 1: loss = sum x^2.
    expectClose(lossAndGrad(task, [1, -2]).loss, 5, { rtol: 1e-5 });
    const x = [0.3, -1.1];
    const { grad } = lossAndGrad(task, x);
    expectClose(grad, x.map((v) => 2 * v + 20 * Math.PI * Math.sin(2 * Math.PI * v)), { rtol: 1e-4 });
  });
});
