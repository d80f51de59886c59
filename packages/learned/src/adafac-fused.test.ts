import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { advance, disposeTree, key, normal, split, treeLeaves, type Key, type OptState, type TensorTree } from '@lopt/core';
import { expectTreeClose } from '@lopt/testkit';
import { adafacMlpLOpt } from './adafac-mlp-lopt.js';
import { fusedAdafacAvailable } from './adafac-fused.js';

function params(k: Key): TensorTree {
  const [a, b, c, d, e] = split(k, 5);
  return {
    w1: normal(a as Key, [6, 9]), // d0 = 1 (columns are the largest axis), tail of 1 per row
    w2: normal(b as Key, [11, 3]), // d0 = 0 (rows are the largest axis)
    bias: normal(c as Key, [5]),
    s: normal(d as Key, []),
    sq: normal(e as Key, [8, 8]),
  };
}

describe('fused adafacMlpLOpt kernel', () => {
  it('is available on this backend', () => {
    expect(fusedAdafacAvailable()).toBe(true);
  });

  it('matches the composed reference over 5 steps (params and every accumulator)', () => {
    const lopt = adafacMlpLOpt({ fused: false });
    // Random non-zero decay offsets and a larger step so the test sees the MLP's output.
    const theta0 = lopt.init(key(3));
    const theta = { ...theta0, momentum_decays: tf.tensor1d([0.05, -0.02, 0.01]), adafactor_decays: tf.tensor1d([-0.03, 0.02, 0.0]) };
    const composed = adafacMlpLOpt({ fused: false, stepMult: 0.1, expMult: 0.5 }).optimizer(theta);
    const fused = adafacMlpLOpt({ fused: true, stepMult: 0.1, expMult: 0.5 }).optimizer(theta);
    const p0 = params(key(1));
    let sa: OptState = composed.init(params(key(1)));
    let sb: OptState = fused.init(params(key(1)));
    for (let t = 0; t < 5; t++) {
      const g = params(key(100 + t));
      sa = advance(composed, sa, g);
      sb = advance(fused, sb, g);
      disposeTree(g);
    }
    expectTreeClose(sb.params, sa.params, { rtol: 1e-5, atol: 1e-6 });
    expectTreeClose(sb.state as TensorTree, sa.state as TensorTree, { rtol: 1e-4, atol: 1e-7 });
    // The step is not negligible: params moved by more than the tolerance.
    const moved = treeLeaves(sa.params).map((x, i) => tf.max(tf.abs(tf.sub(x, treeLeaves(p0)[i] as tf.Tensor))).dataSync()[0] as number);
    expect(Math.min(...moved)).toBeGreaterThan(1e-3);
  });
});
