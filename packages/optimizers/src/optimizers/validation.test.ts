// Invalid hyperparameters of every optimizer throw LoptError('INVALID_OPTION') naming the option.
import { describe, expect, it } from 'vitest';
import { LoptError } from '@lopt/core';
import {
  adabelief,
  adadelta,
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  amsgrad,
  lamb,
  lars,
  lion,
  nadamw,
  radam,
  rmsprop,
  sgd,
  yogi,
} from '../index.js';

type Factory = (o: Record<string, unknown>) => unknown;
const FACTORIES: [string, Factory, string[]][] = [
  ['sgd', sgd as Factory, []],
  ['adam', adam as Factory, ['beta1', 'beta2']],
  ['adamw', adamw as Factory, ['beta1', 'beta2']],
  ['nadamw', nadamw as Factory, ['beta1', 'beta2']],
  ['amsgrad', amsgrad as Factory, ['beta1', 'beta2']],
  ['adamax', adamax as Factory, ['beta1', 'beta2']],
  ['radam', radam as Factory, ['beta1', 'beta2']],
  ['yogi', yogi as Factory, ['beta1', 'beta2']],
  ['adabelief', adabelief as Factory, ['beta1', 'beta2']],
  ['lamb', lamb as Factory, ['beta1', 'beta2']],
  ['lion', lion as Factory, ['beta1', 'beta2']],
  ['rmsprop', rmsprop as Factory, ['decay']],
  ['adagrad', adagrad as Factory, []],
  ['adadelta', adadelta as Factory, ['rho']],
  ['adafactor', adafactor as Factory, []],
  ['lars', lars as Factory, []],
];

function expectInvalid(f: () => unknown, option: string): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, `expected LoptError for '${option}'`).toBeInstanceOf(LoptError);
  expect((err as LoptError).code).toBe('INVALID_OPTION');
  expect((err as LoptError).option).toBe(option);
  expect((err as LoptError).message).toContain(option);
}

describe('invalid hyperparameters throw LoptError naming the option', () => {
  for (const [name, make, betas] of FACTORIES) {
    it(name, () => {
      expect(() => make({})).not.toThrow();
      for (const bad of [-0.1, Number.NaN, Number.POSITIVE_INFINITY, '0.1']) expectInvalid(() => make({ learningRate: bad }), 'learningRate');
      for (const b of betas) for (const bad of [1, -0.1, 1.5, Number.NaN]) expectInvalid(() => make({ [b]: bad }), b);
      expectInvalid(() => make({ learningRat: 0.1 }), 'learningRat');
    });
  }
  it('other options: epsilon, weightDecay, momentum, threshold, clippingThreshold, mode', () => {
    expectInvalid(() => adam({ epsilon: -1e-8 }), 'epsilon');
    expectInvalid(() => adamw({ weightDecay: -1 }), 'weightDecay');
    expectInvalid(() => sgd({ momentum: Number.NaN }), 'momentum');
    expectInvalid(() => sgd({ nesterov: 'yes' as never }), 'nesterov');
    expectInvalid(() => radam({ threshold: 3 }), 'threshold');
    expectInvalid(() => adafactor({ clippingThreshold: 0 }), 'clippingThreshold');
    expectInvalid(() => adafactor({ minDimSizeToFactor: 1.5 }), 'minDimSizeToFactor');
    expectInvalid(() => lars({ trustCoefficient: -1 }), 'trustCoefficient');
    expectInvalid(() => adamw({ mask: 3 as never }), 'mask');
  });
});
