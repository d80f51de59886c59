// Invalid hyperparameters of every optimizer throw LoptError('INVALID_OPTION') naming the option.
import { describe, expect, it } from 'vitest';
import { LoptError, create, type FactoryOptions } from '@lopt/core';
import { OPTIMIZER_NAMES, registerAll } from '../index.js';

registerAll();

/** Builds the registered optimizer `name`: the path configs and the CLI take. */
const build = (name: string) => (o: Record<string, unknown>) => create('optimizer', name, o as FactoryOptions);

/** Every registered optimizer that takes a learning rate, with the decay rates it checks to lie in [0, 1). */
const DECAYS: Readonly<Record<string, readonly string[]>> = {
  sgd: [],
  adam: ['beta1', 'beta2'],
  adamw: ['beta1', 'beta2'],
  nadamw: ['beta1', 'beta2'],
  amsgrad: ['beta1', 'beta2'],
  adamax: ['beta1', 'beta2'],
  radam: ['beta1', 'beta2'],
  yogi: ['beta1', 'beta2'],
  adabelief: ['beta1', 'beta2'],
  lamb: ['beta1', 'beta2'],
  lion: ['beta1', 'beta2'],
  rmsprop: ['decay'],
  adagrad: [],
  adadelta: ['rho'],
  adafactor: [],
  lars: [],
  scheduleFreeAdamw: ['beta2'],
  scheduleFreeSgd: [],
  shampoo: ['beta1'],
  soap: ['beta1', 'beta2'],
  muon: [],
  kfac: [],
  foof: [],
  mbf: [],
  mfac: [],
};

/** The wrappers: each needs a registered optimizer first, under this option. */
const WRAPPERS: Readonly<Record<string, string>> = { lookahead: 'inner', gradientAccumulation: 'inner', gradientClip: 'inner', graft: 'magnitude' };

/** The LoptError `f` throws (the test fails when it throws nothing or something else). */
function caught(f: () => unknown): LoptError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(LoptError);
  return err as LoptError;
}

function expectInvalid(f: () => unknown, option: string): void {
  const err = caught(f);
  expect(err.code).toBe('INVALID_OPTION');
  expect(err.option).toBe(option);
  expect(err.message).toContain(option);
}

describe('invalid hyperparameters throw LoptError naming the option', () => {
  it('the tables cover every registered optimizer', () => {
    expect([...Object.keys(DECAYS), ...Object.keys(WRAPPERS)].sort()).toEqual([...OPTIMIZER_NAMES].sort());
  });
  for (const [name, decays] of Object.entries(DECAYS)) {
    it(name, () => {
      const make = build(name);
      expect(() => make({})).not.toThrow();
      for (const bad of [-0.1, Number.NaN, Number.POSITIVE_INFINITY, '0.1']) expectInvalid(() => make({ learningRate: bad }), 'learningRate');
      for (const b of decays) for (const bad of [1, -0.1, 1.5, Number.NaN]) expectInvalid(() => make({ [b]: bad }), b);
      expectInvalid(() => make({ learningRat: 0.1 }), 'learningRat');
    });
  }
  for (const [name, option] of Object.entries(WRAPPERS)) {
    it(`${name}: a missing '${option}' is named, a misspelled one gets a suggestion, bad ${option}Options are named`, () => {
      expectInvalid(() => build(name)({}), option);
      const misspelled = caught(() => build(name)({ [option]: 'adamm' }));
      expect(misspelled.code).toBe('UNKNOWN_NAME');
      expect(misspelled.option).toBe(option);
      expect(misspelled.message).toMatch(new RegExp(`^Option '${option}': No optimizer named 'adamm' is registered\\. Did you mean 'adam'\\?`));
      expectInvalid(() => build(name)({ [option]: 'adam', [`${option}Options`]: [] }), `${option}Options`);
      expectInvalid(() => build(name)({ [option]: 'adam', [`${option}Options`]: { learningRate: -1 } }), 'learningRate');
    });
  }
  it('other options: epsilon, weightDecay, momentum, threshold, clippingThreshold, mode', () => {
    expectInvalid(() => build('adam')({ epsilon: -1e-8 }), 'epsilon');
    expectInvalid(() => build('adamw')({ weightDecay: -1 }), 'weightDecay');
    expectInvalid(() => build('sgd')({ momentum: Number.NaN }), 'momentum');
    expectInvalid(() => build('sgd')({ nesterov: 'yes' }), 'nesterov');
    expectInvalid(() => build('radam')({ threshold: 3 }), 'threshold');
    expectInvalid(() => build('adafactor')({ clippingThreshold: 0 }), 'clippingThreshold');
    expectInvalid(() => build('adafactor')({ minDimSizeToFactor: 1.5 }), 'minDimSizeToFactor');
    expectInvalid(() => build('lars')({ trustCoefficient: -1 }), 'trustCoefficient');
    expectInvalid(() => build('adamw')({ mask: 3 }), 'mask');
  });
});
