// The task conformance suite must fail for broken tasks: each check is shown to catch the
// fault it exists for.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { normal, type Key, type Task, type TensorTree } from '@lopt/core';
import { checkTaskData, checkTaskGradients, checkTaskInit, checkTaskLoss, checkTaskNoLeak } from '@lopt/testkit';
import { quadraticTask } from './index.js';

const good = quadraticTask({ dim: 4 });

/** sum(p^2) whose gradient is wrongly 3p (custom gradient). */
const wrongGradient: Task = {
  name: 'wrong-gradient',
  init: good.init,
  loss: (params: TensorTree) => {
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const x = args[0] as tf.Tensor;
      return { value: tf.sum(tf.square(x)), gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.mul(tf.mul(dy as tf.Tensor, 3), x) };
    });
    return f(params as tf.Tensor) as tf.Scalar;
  },
};

describe('the task conformance suite rejects broken tasks', () => {
  it('a wrong gradient fails the finite-difference check', () => {
    expect(() => checkTaskGradients(wrongGradient)).toThrow(/finite difference/);
    expect(checkTaskGradients(good).coordinates.length).toBe(1);
  });

  it('a non-deterministic init fails', () => {
    let calls = 0;
    const task: Task = { ...good, name: 'random-init', init: (k: Key) => normal({ k0: k.k0, k1: (k.k1 + calls++) >>> 0 }, [4]) };
    expect(() => checkTaskInit(task)).toThrow(/not deterministic/);
  });

  it('a non-scalar or non-finite loss fails', () => {
    expect(() => checkTaskLoss({ ...good, name: 'vector-loss', loss: (p: TensorTree) => tf.square(p as tf.Tensor) as unknown as tf.Scalar })).toThrow(/scalar/);
    expect(() => checkTaskLoss({ ...good, name: 'nan-loss', loss: (p: TensorTree) => tf.mul(tf.sum(p as tf.Tensor), Number.NaN) as tf.Scalar })).toThrow(/not finite/);
  });

  it('a leaking loss fails the leak check', () => {
    const leaky: Task = { ...good, name: 'leaky', loss: (p: TensorTree, b: TensorTree) => { tf.keep(tf.zeros([1])); return good.loss(p, b); } };
    expect(() => checkTaskNoLeak(leaky, { leakSteps: 5 })).toThrow(/leaked/);
  });

  it('batches that ignore the key fail', () => {
    const constant: Task = { ...good, name: 'constant-batch', datasets: { train: { sample: () => ({ x: tf.ones([2]) }) } } };
    expect(() => checkTaskData(constant)).toThrow(/same batch/);
  });
});
