import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { advance, disposeTree, type Optimizer, type TensorTree } from '@lopt/core';
import { pretrainedOptimizer } from '@lopt/learned';
import { registerAll } from '@lopt/optimizers';
import { buildOuterOptimizer } from './outer-optimizer.js';

/** One step on theta = {w: [0.5, -1, 2]} with gradient [1, -2, 0.5] and meta-loss 3. */
function firstStep(opt: Optimizer): number[] {
  let s = opt.init({ w: tf.tensor1d([0.5, -1, 2]) } as TensorTree);
  const g = { w: tf.tensor1d([1, -2, 0.5]) };
  const loss = tf.scalar(3);
  s = advance(opt, s, g, { loss });
  const out = Array.from((s.params as { w: tf.Tensor }).w.dataSync());
  disposeTree([g, loss, s.params, s.state as TensorTree]);
  return out;
}

describe('buildOuterOptimizer', () => {
  beforeAll(() => registerAll());

  it('builds a registered optimizer with its options: Adam first step is lr * sign(g)', async () => {
    const adam = await buildOuterOptimizer({ name: 'adam', options: { learningRate: 0.1 } }, 10);
    firstStep(adam).forEach((v, i) => expect(v).toBeCloseTo([0.4, -0.9, 1.9][i] as number, 5));
  });

  it('self-training: a pretrained learned optimizer, told numSteps = the outer steps, with option overrides', async () => {
    const outer = await buildOuterOptimizer({ name: 'pretrained:celo-adam', options: { stepMult: 0.02 } }, 50);
    expect(outer.name).toBe('celoAdam');
    const direct = pretrainedOptimizer('celo-adam', { numSteps: 50, stepMult: 0.02 });
    expect(firstStep(outer)).toEqual(firstStep(direct));
    // A different stepMult gives a different step: the override reached the optimizer.
    const other = await buildOuterOptimizer({ name: 'pretrained:celo-adam', options: {} }, 50);
    expect(firstStep(other)).not.toEqual(firstStep(outer));
  });

  it("self-training with lopt's own pretrained:lopt-small-v1: the same first step as the package's optimizer", async () => {
    const outer = await buildOuterOptimizer({ name: 'pretrained:lopt-small-v1', options: { stepMult: 0.01 } }, 40);
    expect(outer.name).toBe('controlAdam');
    expect(firstStep(outer)).toEqual(firstStep(pretrainedOptimizer('lopt-small-v1', { numSteps: 40, stepMult: 0.01 })));
    expect(firstStep(outer)).not.toEqual(firstStep(pretrainedOptimizer('lopt-small-v1', { numSteps: 40 })));
  });

  it('refuses guards and unknown names, naming the config field', async () => {
    await expect(buildOuterOptimizer({ name: 'guard:lossGuarded(adam, sgd)', options: {} }, 10)).rejects.toThrow(/outerOptimizer.*guard/);
    await expect(buildOuterOptimizer({ name: 'pretrained:nope', options: {} }, 10)).rejects.toThrow(/outerOptimizer/);
  });
});
