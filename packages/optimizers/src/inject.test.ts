import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { advance, disposeTree, LoptError, treeLeaves, type OptState, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { adam, adamw, cosineDecay, getHyperparams, injectHyperparams, lion, radam, rmsprop, setHyperparams, sgd } from './index.js';
import type { InjectHyperparamsState } from './inject.js';
import { runSteps } from '../test/reference.js';

describe('injectHyperparams', () => {
  it('injectHyperparams(adam) equals adam, and likewise for other factories', () => {
    const cases: [string, () => unknown, () => unknown][] = [
      ['adam', () => injectHyperparams(adam)({ learningRate: 0.1, beta1: 0.8 }), () => adam({ learningRate: 0.1, beta1: 0.8 })],
      ['adamw-schedule', () => injectHyperparams(adamw)({ learningRate: cosineDecay({ initValue: 0.1, decaySteps: 3 }), weightDecay: 0.1 }), () => adamw({ learningRate: cosineDecay({ initValue: 0.1, decaySteps: 3 }), weightDecay: 0.1 })],
      ['sgd-nesterov', () => injectHyperparams(sgd)({ learningRate: 0.1, momentum: 0.9, nesterov: true }), () => sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true })],
      ['rmsprop', () => injectHyperparams(rmsprop)({ learningRate: 0.01, centered: true }), () => rmsprop({ learningRate: 0.01, centered: true })],
      ['lion', () => injectHyperparams(lion)({ learningRate: 0.01 }), () => lion({ learningRate: 0.01 })],
      ['radam', () => injectHyperparams(radam)({ learningRate: 0.01, beta2: 0.9 }), () => radam({ learningRate: 0.01, beta2: 0.9 })],
    ];
    for (const [label, injected, plain] of cases) {
      const a = runSteps(injected() as never, 6);
      const b = runSteps(plain() as never, 6);
      a.forEach((step, s) => step.forEach((leaf, i) => expectClose(leaf, (b[s] as number[][])[i] as number[], { rtol: 1e-6, label: `${label} step ${s}` })));
    }
  });

  it('keeps hyperparameters in the state, where they can be read and changed between steps', () => {
    const opt = injectHyperparams(sgd)({ learningRate: 0.1 });
    expect(opt.hyperparamNames).toEqual(['learningRate']);
    let state = opt.init({ w: tf.tensor1d([1]) });
    expect(getHyperparams(state)).toEqual({ learningRate: expect.closeTo(0.1, 7) as unknown as number });
    const g = { w: tf.tensor1d([1]) };
    state = advance(opt, state, g);
    expectClose(treeLeaves(state.params)[0] as tf.Tensor, [0.9], { rtol: 1e-6 });
    const old = state;
    state = setHyperparams(opt, state, { learningRate: 0.5 });
    disposeTree(old.state.hyperparams, { keep: state.state.hyperparams as unknown as TensorTree });
    state = advance(opt, state, g);
    expectClose(treeLeaves(state.params)[0] as tf.Tensor, [0.4], { rtol: 1e-6 });
    expect(() => setHyperparams(opt, state, { learningRate: -1 })).toThrow(LoptError);
    expect(() => setHyperparams(opt, state, { momentum: 0.9 })).toThrow(/not an injected/);
  });

  it('schedules write their value into the state at each step', () => {
    const opt = injectHyperparams(sgd)({ learningRate: (t: number) => 1 / (t + 1) });
    let state: OptState<InjectHyperparamsState> = opt.init({ w: tf.tensor1d([0]) });
    const g = { w: tf.tensor1d([1]) };
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      state = advance(opt, state, g);
      seen.push(getHyperparams(state).learningRate as number);
    }
    expectClose(seen, [1, 0.5, 1 / 3], { rtol: 1e-6 });
    expectClose(treeLeaves(state.params)[0] as tf.Tensor, [-(1 + 0.5 + 1 / 3)], { rtol: 1e-6 });
  });

  it('the update is differentiable with respect to an injected learning rate (hypergradient)', () => {
    const opt = injectHyperparams(sgd)({ learningRate: 0.1 });
    const params = { w: tf.tensor1d([1, -2]) };
    const state = opt.init(params);
    const g = { w: tf.tensor1d([0.5, 0.25]) };
    // loss after one step: sum((w - lr g)^2); d/dlr = -2 sum((w - lr g) g)
    const f = (lr: tf.Tensor) => {
      const s = { ...state, state: { ...state.state, hyperparams: { learningRate: lr as tf.Scalar } } };
      const next = opt.update(s, g);
      return tf.sum(tf.square(treeLeaves(next.params)[0] as tf.Tensor)) as tf.Scalar;
    };
    const d = tf.grad(f)(tf.scalar(0.1));
    const w1 = [1 - 0.05, -2 - 0.025];
    expectClose(d, -2 * (w1[0]! * 0.5 + w1[1]! * 0.25), { rtol: 1e-5 });
  });
});
