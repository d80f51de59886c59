import { describe, expect, it } from 'vitest';
import { disposeTree, key, treeFlatten, treePaths } from '@lopt/core';
import { ARCHITECTURES } from './architectures.js';
import { learnableAdam, learnableSgd } from './learnable.js';
import { nnAdam } from './nn-adam.js';

/** What each built-in declares, written out by hand (the network weights are never hyperparameters). */
const EXPECTED: Record<string, readonly string[]> = {
  learnableSgd: ['log_lr'],
  learnableSgdm: ['log_lr', 'one_minus_momentum'],
  learnableAdam: ['log_epsilon', 'log_lr', 'one_minus_beta1', 'one_minus_beta2'],
  mlpLOpt: [],
  adafacMlpLOpt: ['adafactor_decays', 'momentum_decays', 'rms_decays'],
  mlpNomLOpt: ['adafactor_decays', 'momentum_decays', 'rms_decays'],
  rnnMlpLOpt: [],
  nnAdam: ['per_layer_beta1', 'per_layer_beta2', 'per_layer_epsilon', 'per_layer_lr'],
  lstmL2L: [],
  celo: [],
  celoAdam: [],
  scheduleAdam: [],
  controlAdam: [],
  celo2: [],
  dmdLOpt: [],
};

/** The leaf of `theta` at `path`, read to numbers. */
function valuesAt(theta: Parameters<typeof treePaths>[0], path: string): number[] {
  const i = treePaths(theta).indexOf(path);
  expect(i, `path ${path}`).toBeGreaterThanOrEqual(0);
  return Array.from(treeFlatten(theta).leaves[i]!.dataSync());
}

describe('hyperparameterPaths', () => {
  it('covers every built-in architecture', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(Object.keys(ARCHITECTURES).sort());
  });

  for (const [name, entry] of Object.entries(ARCHITECTURES)) {
    it(`${name}: declares the expected leaves, each present in theta with at most 4 values`, () => {
      const lopt = entry.factory({});
      const declared = lopt.hyperparameterPaths();
      expect(declared).toEqual(EXPECTED[name]);
      const theta = lopt.init(key(3));
      const paths = treePaths(theta);
      const { leaves } = treeFlatten(theta);
      for (const p of declared) {
        const i = paths.indexOf(p);
        expect(i, `${name}: '${p}' is a theta leaf`).toBeGreaterThanOrEqual(0);
        expect(leaves[i]!.size).toBeLessThanOrEqual(4);
      }
      disposeTree(theta);
    });
  }

  it('the declared leaves hold the hyperparameters the options set (log lr, 1 - beta, 0.1 log lr)', () => {
    const sgd = learnableSgd({ learningRate: 0.02 });
    const adam = learnableAdam({ learningRate: 3e-3, beta1: 0.8 });
    const nn = nnAdam({ initialLearningRate: 1e-3 });
    const [tSgd, tAdam, tNn] = [sgd.init(key(0)), adam.init(key(0)), nn.init(key(0))];
    expect(valuesAt(tSgd, 'log_lr')[0]).toBeCloseTo(Math.log(0.02), 5);
    expect(valuesAt(tAdam, 'log_lr')[0]).toBeCloseTo(Math.log(3e-3), 5);
    expect(Math.exp(valuesAt(tAdam, 'one_minus_beta1')[0]!)).toBeCloseTo(0.2, 5);
    expect(valuesAt(tNn, 'per_layer_lr')[0]).toBeCloseTo(0.1 * Math.log(1e-3), 5);
    disposeTree([tSgd, tAdam, tNn]);
  });
});
