// The fused Adam/AdamW kernel is tested against the composed transformations (the
// reference) on the wasm and cpu backends, and against the float64 formula.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { advance, disposeTree, treeLeaves, type OptState, type Optimizer, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { adam, adamw, cosineDecay } from '../index.js';
import { fusedAdamAvailable, fusedAdamImplementation, FUSED_ADAM_KERNEL } from './adam_kernel.js';

const initial = tf.getBackend();
afterAll(async () => {
  await tf.setBackend(initial);
});

function params(): TensorTree {
  return {
    w: tf.tensor2d(Array.from({ length: 12 }, (_, i) => Math.sin(i + 1)), [3, 4]),
    b: tf.tensor1d([0.3, -0.2, 0.1, 0.05]),
  };
}
function grads(s: number): TensorTree {
  return {
    w: tf.tensor2d(Array.from({ length: 12 }, (_, i) => Math.cos(i * 0.7 + s)), [3, 4]),
    b: tf.tensor1d([0.5, -1, 0.25, 2].map((x) => x * (1 + 0.3 * s))),
  };
}

function run(opt: Optimizer<unknown>, steps: number): { params: number[][]; state: number[][] } {
  let state: OptState<unknown> = opt.init(params());
  for (let s = 0; s < steps; s++) {
    const g = grads(s);
    state = advance(opt, state, g);
    disposeTree(g);
  }
  const out = { params: treeLeaves(state.params).map((t) => Array.from(t.dataSync())), state: treeLeaves(state.state as TensorTree).map((t) => Array.from(t.dataSync())) };
  disposeTree(state.params);
  disposeTree(state.state as TensorTree);
  return out;
}

describe('fused Adam kernel', () => {
  for (const backend of ['wasm', 'cpu']) {
    it(`matches the composed transformations on ${backend} (adam, adamw, schedule, epsilonRoot)`, async () => {
      await tf.setBackend(backend);
      expect(fusedAdamAvailable()).toBe(true);
      expect(fusedAdamImplementation()).toBe(backend === 'wasm' ? 'wasm-simd' : 'js');
      const configs: [string, (fused: boolean) => Optimizer<unknown>][] = [
        ['adam', (fused) => adam({ learningRate: 0.05, fused })],
        ['adamw', (fused) => adamw({ learningRate: 0.05, weightDecay: 0.1, fused })],
        ['adam-schedule', (fused) => adam({ learningRate: cosineDecay({ initValue: 0.05, decaySteps: 4 }), epsilonRoot: 1e-6, beta2: 0.9, fused })],
      ];
      for (const [name, make] of configs) {
        const a = run(make(true), 6);
        const b = run(make(false), 6);
        expect(a.state.length).toBe(b.state.length);
        a.params.forEach((p, i) => expectClose(p, b.params[i] as number[], { rtol: 2e-6, atol: 1e-7, label: `${backend} ${name} param ${i}` }));
        a.state.forEach((p, i) => expectClose(p, b.state[i] as number[], { rtol: 2e-6, atol: 1e-7, label: `${backend} ${name} state ${i}` }));
      }
      await tf.setBackend(initial);
    });
  }

  it('runs the kernel (not the composed path) and equals the float64 formula', async () => {
    const opt = adam({ learningRate: 0.1 });
    const state = opt.init({ x: tf.tensor1d([1, -2]) });
    const g = { x: tf.tensor1d([0.5, 0.25]) };
    const before = tf.memory().numTensors;
    const profile = tf.tidy(() => {
      const next = opt.update(state, g);
      return Array.from((treeLeaves(next.params)[0] as tf.Tensor).dataSync());
    });
    // first Adam step moves every coordinate by lr * sign(g) (up to epsilon)
    expectClose(profile, [1 - 0.1, -2 - 0.1], { rtol: 1e-6 });
    expect(tf.memory().numTensors).toBe(before);
    const info = await tf.profile(() => {
      tf.tidy(() => {
        opt.update(state, g);
      });
    });
    expect(info.kernelNames).toContain(FUSED_ADAM_KERNEL);
    expect(info.kernelNames).not.toContain('Sqrt');
  });

  it('falls back to the composed path inside a gradient tape (the kernel has no gradient)', () => {
    const opt = adam({ learningRate: 0.1 });
    const x0 = tf.tensor1d([1, -2]);
    const state = opt.init({ x: x0 });
    // d/dg of sum(x1) where x1 = x0 - lr * m^/(sqrt(v^)+eps), first step: x1 = x0 - lr*g/(|g| + eps)
    // = x0 - lr*sign(g) + O(eps): derivative ~ -lr * eps/(|g|+eps)^2, tiny but defined (not an error)
    const d = tf.grad((g: tf.Tensor) => tf.sum((opt.update(state, { x: g }).params as { x: tf.Tensor }).x))(tf.tensor1d([0.5, 0.25]));
    expect(Array.from(d.dataSync()).every(Number.isFinite)).toBe(true);
  });
});
