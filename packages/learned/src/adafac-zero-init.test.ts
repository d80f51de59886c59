import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { advance, disposeTree, key, treeSize, type OptState, type TensorTree } from '@lopt/core';
import { adafacMlpLOpt } from './adafac-mlp-lopt.js';
import { loadLearnedOptimizer, saveLearnedOptimizer } from './checkpoint.js';
import { smallParams, snapshot } from './test-helpers.js';

/** Gradients of 0.5 * sum(p^2) (= the parameters), as new tensors. */
function grads(params: TensorTree): TensorTree {
  const t = params as { layer: { w: tf.Tensor; b: tf.Tensor }; s: tf.Tensor };
  return { layer: { w: tf.clone(t.layer.w), b: tf.clone(t.layer.b) }, s: tf.clone(t.s) };
}

describe('adafacMlpLOpt zeroInitOutput', () => {
  it('zeroes exactly the output layer weights and keeps the meta-parameter count', () => {
    const plain = adafacMlpLOpt();
    const zero = adafacMlpLOpt({ zeroInitOutput: true });
    const a = plain.init(key(1));
    const b = zero.init(key(1));
    expect(treeSize(b)).toBe(treeSize(a));
    const nnA = (a as unknown as { nn: { '~': Record<string, tf.Tensor> } }).nn['~'];
    const nnB = (b as unknown as { nn: { '~': Record<string, tf.Tensor> } }).nn['~'];
    // Output layer w2 [4, 2]: zero; the hidden layers equal the default init of the same key.
    expect(Array.from(nnB.w2!.dataSync())).toEqual(new Array(8).fill(0));
    expect(Array.from(nnA.w2!.dataSync()).some((x) => x !== 0)).toBe(true);
    for (const name of ['w0', 'b0', 'w1', 'b1', 'b2']) expect(Array.from(nnB[name]!.dataSync())).toEqual(Array.from(nnA[name]!.dataSync()));
    disposeTree([a, b]);
  });

  it.each([['fused', 'auto'], ['composed', false]] as const)('the untrained optimizer (%s) leaves parameters exactly where they are', (_label, fused) => {
    const lopt = adafacMlpLOpt({ zeroInitOutput: true, stepMult: 0.1, fused });
    const theta = lopt.init(key(2));
    const opt = lopt.optimizer(theta);
    const p0 = smallParams(key(3));
    const before = snapshot(p0);
    let s: OptState = opt.init(p0, { numSteps: 10 });
    for (let t = 0; t < 5; t++) {
      const g = grads(s.params);
      s = advance(opt, s, g);
      disposeTree(g);
    }
    expect(snapshot(s.params)).toEqual(before);
    disposeTree([s.params, s.state as TensorTree, theta]);
  });

  it('rejects a non-boolean, naming the option', () => {
    expect(() => adafacMlpLOpt({ zeroInitOutput: 1 as never })).toThrow(/zeroInitOutput/);
  });

  it('is part of the checkpointed config when set, and absent from the default config', () => {
    expect('zeroInitOutput' in adafacMlpLOpt().config).toBe(false);
    expect('zeroInitOutput' in adafacMlpLOpt({ zeroInitOutput: false }).config).toBe(false);
    const lopt = adafacMlpLOpt({ zeroInitOutput: true, stepMult: 0.03 });
    const theta = lopt.init(key(4));
    const loaded = loadLearnedOptimizer(saveLearnedOptimizer(lopt, theta));
    expect(loaded.lopt.config).toMatchObject({ zeroInitOutput: true, stepMult: 0.03 });
    disposeTree([theta, loaded.theta]);
  });
});
