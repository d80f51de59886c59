import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeTree, key, type TensorTree } from '@lopt/core';
import { adafacMlpLOpt, learnableSgd, mlpLOpt } from '@lopt/learned';
import { thetaScalars } from './metatrain.js';

describe('thetaScalars', () => {
  it('logs exactly the leaves the learned optimizer declares, element by element', () => {
    // A small network weight ('w', 2 values) and a declared vector: only the declared leaves appear.
    const theta: TensorTree = { log_lr: tf.scalar(-2), decays: tf.tensor1d([0.5, 0.25]), w: tf.tensor1d([7, 8]) };
    const out = thetaScalars({ hyperparameterPaths: () => ['decays', 'log_lr'] }, theta);
    expect(out).toEqual({ 'theta/log_lr': -2, 'theta/decays[0]': 0.5, 'theta/decays[1]': 0.25 });
    expect(thetaScalars({}, theta)).toEqual({});
    disposeTree(theta);
  });

  it('logs the built-ins’ hyperparameters (log lr; decay offsets) and nothing of a pure network', () => {
    const sgd = learnableSgd({ learningRate: 0.05 });
    const tSgd = sgd.init(key(0));
    expect(Object.keys(thetaScalars(sgd, tSgd))).toEqual(['theta/log_lr']);
    expect(thetaScalars(sgd, tSgd)['theta/log_lr']).toBeCloseTo(Math.log(0.05), 6);
    const adafac = adafacMlpLOpt();
    const tAdafac = adafac.init(key(1));
    expect(Object.keys(thetaScalars(adafac, tAdafac)).sort()).toEqual(
      ['theta/adafactor_decays[0]', 'theta/adafactor_decays[1]', 'theta/adafactor_decays[2]', 'theta/momentum_decays[0]', 'theta/momentum_decays[1]', 'theta/momentum_decays[2]', 'theta/rms_decays'].sort(),
    );
    const mlp = mlpLOpt();
    const tMlp = mlp.init(key(2));
    expect(thetaScalars(mlp, tMlp)).toEqual({});
    disposeTree([tSgd, tAdafac, tMlp]);
  });
});
