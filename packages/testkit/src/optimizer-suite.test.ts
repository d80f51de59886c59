// The optimizer conformance checks must fail on optimizers that break the contract.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { assertSameStructure, treeMap, type OptState, type Optimizer, type TensorTree } from '@lopt/core';
import {
  checkOptimizerNoLeak,
  checkOptimizerPurity,
  checkOptimizerRejectsMismatch,
  checkOptimizerResume,
  checkOptimizerShapes,
  describeOptimizerConformance,
} from './index.js';

type S = { count: tf.Tensor };

function sgdLike(overrides: Partial<Optimizer<S>> = {}, lr = 0.1): Optimizer<S> {
  return {
    name: 'sgdLike',
    init: (params) => ({ params, state: { count: tf.scalar(0, 'int32') }, iteration: 0 }),
    update(state, grads) {
      assertSameStructure(state.params, grads);
      return tf.tidy(() => ({
        params: treeMap((p, g) => tf.sub(p, tf.mul(lr, g as tf.Tensor)), state.params, grads),
        state: { count: tf.add(state.state.count, tf.scalar(1, 'int32')) },
        iteration: state.iteration + 1,
      }) as unknown as tf.TensorContainer) as unknown as OptState<S>;
    },
    ...overrides,
  };
}

describeOptimizerConformance('reference sgd', () => sgdLike() as Optimizer<unknown>);

describe('optimizer conformance checks catch broken optimizers', () => {
  it('a leaking optimizer', () => {
    const base = sgdLike();
    const leaky = sgdLike({ update: (s, g, c) => { tf.keep(tf.scalar(1)); return base.update(s, g, c); } });
    expect(() => checkOptimizerNoLeak(leaky as Optimizer<unknown>, { leakSteps: 30 })).toThrow(/grew/);
  });
  it('an optimizer that mutates its state in place', () => {
    const base = sgdLike();
    const mutating = sgdLike({
      update(s, g, c) {
        const next = base.update(s, g, c);
        (s.state.count as tf.Variable | tf.Tensor).dispose();
        return next;
      },
    });
    expect(() => checkOptimizerPurity(mutating as Optimizer<unknown>)).toThrow(/disposed/);
  });
  it('an optimizer whose state is not in the checkpoint (host counter)', () => {
    let hidden = 0;
    const base = sgdLike();
    const hostState = sgdLike({
      update(s, g, c) {
        hidden++;
        const next = base.update(s, g, c);
        return { ...next, params: tf.tidy(() => treeMap((p) => tf.mul(p, 1 + 1e-3 * hidden), next.params as TensorTree)) };
      },
    });
    expect(() => checkOptimizerResume(hostState as Optimizer<unknown>)).toThrow(/differs/);
  });
  it('an optimizer that changes a parameter dtype', () => {
    const base = sgdLike();
    const casting = sgdLike({ update: (s, g, c) => { const n = base.update(s, g, c); return { ...n, params: treeMap((p) => tf.cast(p, 'int32'), n.params) }; } });
    expect(() => checkOptimizerShapes(casting as Optimizer<unknown>)).toThrow(/shape\/dtype/);
  });
  it('an optimizer that ignores mismatched gradients', () => {
    const lax = sgdLike({ update: (s) => s });
    expect(() => checkOptimizerRejectsMismatch(lax as Optimizer<unknown>)).toThrow(/LoptError/);
  });
});
