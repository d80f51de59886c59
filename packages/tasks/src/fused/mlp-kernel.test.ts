// The fused MLP loss-and-gradient kernel on both backends it is registered on: WASM (SIMD
// blocks) against CPU (JS blocks, float64 arithmetic) against tfjs autodiff, the loss-only
// mode, the packed gradient and its unpacking kernel (against the unpacked outputs, times dy),
// tf.oneHot's treatment of out-of-range labels, input validation, and flat memory.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { LoptError } from '@lopt/core';
import { FUSED_MLP_KERNEL, fusedMlpImplementation, fusedMlpLossGrad, unpackMlpGrads } from './mlp-kernel.js';
import { fusedLoss } from '../mlp-fast-grad.js';
import { softmaxCrossEntropy } from '../common.js';
import { activate, type Activation } from '../nn.js';

const initial = tf.getBackend();
afterAll(async () => {
  await tf.setBackend(initial);
});

/** Seeded weights `[w0, b0, ...]`, inputs and labels for layer sizes `sizes`. */
function operands(sizes: number[], batch: number, seed: number): { ws: tf.Tensor[]; x: tf.Tensor2D; labels: tf.Tensor1D } {
  const ws = sizes.slice(1).flatMap((o, i) => [
    tf.randomNormal([sizes[i]!, o], 0, 1 / Math.sqrt(sizes[i]!), 'float32', seed + 2 * i),
    tf.randomNormal([o], 0, 0.1, 'float32', seed + 2 * i + 1),
  ]);
  const x = tf.randomNormal([batch, sizes[0]!], 0, 1, 'float32', seed + 99) as tf.Tensor2D;
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, r) => (r * 7 + seed) % sizes[sizes.length - 1]!), 'int32');
  return { ws, x, labels };
}

/** Loss and gradient by tfjs autodiff of the composed ops. */
function autodiff(ws: tf.Tensor[], x: tf.Tensor2D, labels: tf.Tensor1D, act: Activation, classes: number): tf.Tensor[] {
  const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => {
    let h: tf.Tensor = x;
    for (let i = 0; i < ls.length / 2; i++) {
      h = tf.add(tf.matMul(h as tf.Tensor2D, ls[2 * i] as tf.Tensor2D), ls[2 * i + 1]!);
      if (2 * i + 2 < ls.length) h = activate(act, h);
    }
    return softmaxCrossEntropy(h as tf.Tensor2D, labels, classes);
  })(ws);
  return [value, ...grads];
}

const host = (ts: tf.Tensor[]): Float32Array[] => ts.map((t) => t.dataSync() as Float32Array);

function expectClose(got: Float32Array[], want: Float32Array[], rel: number): void {
  expect(got.map((g) => g.length)).toEqual(want.map((w) => w.length));
  got.forEach((g, i) => {
    const scale = Math.max(...Array.from(want[i]!, Math.abs));
    g.forEach((v, j) => expect(Math.abs(v - want[i]![j]!)).toBeLessThanOrEqual(rel * (1e-2 + scale)));
  });
}

const CASES: { sizes: number[]; act: 'relu' | 'tanh' | 'sigmoid'; batch: number }[] = [
  { sizes: [64, 10], act: 'relu', batch: 64 },
  { sizes: [64, 32, 10], act: 'relu', batch: 64 },
  { sizes: [23, 9, 13, 5], act: 'sigmoid', batch: 7 },
  { sizes: [3, 40, 2], act: 'tanh', batch: 33 },
];

describe('fused MLP loss-and-gradient kernel', () => {
  it.each(CASES)('wasm (SIMD), cpu (JS) and autodiff agree: $sizes $act batch $batch', async ({ sizes, act, batch }) => {
    const results: Record<string, Float32Array[]> = {};
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      expect(fusedMlpImplementation()).toBe(backend === 'wasm' ? 'wasm-simd' : 'js');
      const { ws, x, labels } = operands(sizes, batch, 3);
      const fused = fusedMlpLossGrad(x, labels, ws, act, true);
      results[backend] = host(fused);
      results[`${backend}-autodiff`] = host(autodiff(ws, x, labels, act, sizes[sizes.length - 1]!));
      const lossOnly = fusedMlpLossGrad(x, labels, ws, act, false);
      expect(lossOnly).toHaveLength(1);
      expect(lossOnly[0]!.shape).toEqual([]);
      expect(lossOnly[0]!.dataSync()[0]).toBe(results[backend]![0]![0]);
      tf.dispose([...ws, x, labels, ...fused, ...lossOnly]);
    }
    expect(results.wasm!.map((t) => t.length)).toEqual([1, ...sizes.slice(1).flatMap((o, i) => [sizes[i]! * o, o])]);
    expectClose(results.wasm!, results['wasm-autodiff']!, 2e-6);
    expectClose(results.cpu!, results['cpu-autodiff']!, 2e-6);
    expectClose(results.wasm!, results.cpu!, 2e-6);
  });

  it.each([
    { sizes: [64, 32, 16, 32, 64], act: 'relu', batch: 16 },
    { sizes: [19, 7, 19], act: 'tanh', batch: 5 },
    { sizes: [9, 9], act: 'relu', batch: 3 },
  ] as const)('sigmoid-mse head (the autoencoder loss): wasm, cpu and autodiff agree: $sizes $act batch $batch', async ({ sizes, act, batch }) => {
    const results: Record<string, Float32Array[]> = {};
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const { ws } = operands([...sizes], batch, 5);
      const x = tf.sigmoid(tf.randomNormal([batch, sizes[0]], 0, 1, 'float32', 17)) as tf.Tensor2D; // targets = inputs in (0, 1)
      const fused = fusedMlpLossGrad(x, x, ws, act, true, 'sigmoid-mse');
      results[backend] = host(fused);
      const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => {
        let h: tf.Tensor = x;
        for (let i = 0; i < ls.length / 2; i++) {
          h = tf.add(tf.matMul(h as tf.Tensor2D, ls[2 * i] as tf.Tensor2D), ls[2 * i + 1]!);
          if (2 * i + 2 < ls.length) h = activate(act, h);
        }
        return tf.mean(tf.square(tf.sub(x, tf.sigmoid(h)))) as tf.Scalar;
      })(ws);
      results[`${backend}-autodiff`] = host([value, ...grads]);
      const lossOnly = fusedMlpLossGrad(x, x, ws, act, false, 'sigmoid-mse');
      expect(lossOnly[0]!.dataSync()[0]).toBe(results[backend]![0]![0]);
      tf.dispose([...ws, x, ...fused, ...lossOnly, value, ...grads]);
    }
    expectClose(results.wasm!, results['wasm-autodiff']!, 2e-6);
    expectClose(results.cpu!, results['cpu-autodiff']!, 2e-6);
    expectClose(results.wasm!, results.cpu!, 2e-6);
  });

  it('treats a label outside [0, classes) as an all-zero one-hot row (no loss, no gradient), as tf.oneHot does', async () => {
    await tf.setBackend('wasm');
    const { ws, x } = operands([6, 4], 5, 11);
    const labels = tf.tensor1d([0, 3, -1, 4, 2], 'int32');
    const fused = host(fusedMlpLossGrad(x, labels, ws, 'relu', true));
    expectClose(fused, host(autodiff(ws, x, labels, 'relu', 4)), 2e-6);
    // float labels are cast to int32 first, as the composed loss does
    const asFloat = tf.cast(labels, 'float32') as tf.Tensor1D;
    expectClose(host(fusedMlpLossGrad(x, asFloat, ws, 'relu', true)), fused, 0);
    tf.dispose([...ws, x, labels, asFloat]);
  });

  it('validates its operands and names the offending one', async () => {
    await tf.setBackend('wasm');
    const { ws, x, labels } = operands([5, 4, 3], 6, 1);
    const code = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(LoptError);
        return `${(e as LoptError).code} ${(e as LoptError).message}`;
      }
      return 'no error';
    };
    expect(code(() => fusedMlpLossGrad(x, labels, [ws[0]!, ws[1]!, ws[2]!], 'relu', true))).toMatch(/^SHAPE_MISMATCH .*ws/);
    expect(code(() => fusedMlpLossGrad(x, labels, [ws[2]!, ws[3]!], 'relu', true))).toMatch(/^SHAPE_MISMATCH .*w0 must be a float32 \[5, fanOut\]/);
    expect(code(() => fusedMlpLossGrad(x, labels, [ws[0]!, ws[3]!], 'relu', true))).toMatch(/^SHAPE_MISMATCH .*b0 must be a float32 \[4\]/);
    expect(code(() => fusedMlpLossGrad(x, tf.zeros([5], 'int32') as tf.Tensor1D, ws, 'relu', true))).toMatch(/^SHAPE_MISMATCH .*labels must have shape \[6\]/);
    expect(code(() => fusedMlpLossGrad(tf.reshape(x, [2, 3, 5]) as unknown as tf.Tensor2D, labels, ws, 'relu', true))).toMatch(/^SHAPE_MISMATCH .*x must be/);
    expect(code(() => fusedMlpLossGrad(x, labels, ws, 'gelu' as 'relu', true))).toMatch(/^INVALID_OPTION .*activation/);
    expect(code(() => fusedMlpLossGrad(x, labels, ws, 'relu', true, 'hinge' as 'sigmoid-mse'))).toMatch(/^INVALID_OPTION .*head/);
    expect(code(() => fusedMlpLossGrad(x, x, ws, 'relu', true, 'sigmoid-mse'))).toMatch(/^SHAPE_MISMATCH .*labels \(the targets\) must be a float32 \[6, 3\]/);
    tf.dispose([...ws, x, labels]);
  });

  it.each(CASES)('packed gradient: the unpacked leaves equal the separate outputs, times dy (wasm and cpu): $sizes', async ({ sizes, act, batch }) => {
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const { ws, x, labels } = operands(sizes, batch, 7);
      const separate = fusedMlpLossGrad(x, labels, ws, act, true);
      const [loss, packed] = fusedMlpLossGrad(x, labels, ws, act, 'packed') as [tf.Tensor, tf.Tensor];
      expect(loss.dataSync()[0]).toBe(separate[0]!.dataSync()[0]);
      expect(packed.shape).toEqual([separate.slice(1).reduce((n, g) => n + g.size, 0)]);
      for (const d of [1, -0.375, 3]) {
        const dy = tf.scalar(d);
        const leaves = unpackMlpGrads(packed, dy, sizes);
        expect(leaves.map((g) => g.shape)).toEqual(separate.slice(1).map((g) => g.shape));
        // float32 products, as tf.mul computes them
        leaves.forEach((g, i) => expect(Array.from(g.dataSync())).toEqual(Array.from(separate[i + 1]!.dataSync(), (v) => Math.fround(v * d))));
        tf.dispose([dy, ...leaves]);
      }
      expect(() => unpackMlpGrads(packed, tf.zeros([2]), sizes)).toThrow(/dy must be one float32 value/);
      tf.dispose([...ws, x, labels, ...separate, loss, packed]);
    }
  });

  it('fusedLoss under a tape: the gradient of c * loss is c times the kernel gradient, memory flat (wasm and cpu)', async () => {
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const sizes = [12, 6, 5];
      const { ws, x, labels } = operands(sizes, 9, 11);
      const want = fusedMlpLossGrad(x, labels, ws, 'tanh', true);
      const run = () =>
        tf.grads((...ls: tf.Tensor[]) => {
          const p = { layer00: { w: ls[0]!, b: ls[1]! }, layer01: { w: ls[2]!, b: ls[3]! } } as never;
          return tf.mul(fusedLoss(p, x, labels, 2, 'tanh', false), -2.5);
        })(ws);
      tf.dispose(run());
      const before = tf.memory().numTensors;
      const got = run();
      got.forEach((g, i) => {
        const w = want[i + 1]!.dataSync();
        expect(Array.from(g.dataSync())).toEqual(Array.from(w, (v) => Math.fround(-2.5 * v)));
      });
      tf.dispose(got);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([...ws, x, labels, ...want]);
    }
  });

  it('keeps tfjs memory flat over many calls on both backends', async () => {
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const { ws, x, labels } = operands([16, 8, 4], 12, 5);
      tf.dispose(fusedMlpLossGrad(x, labels, ws, 'tanh', true));
      const before = tf.memory().numTensors;
      const bytes = tf.memory().numBytes;
      for (let i = 0; i < 50; i++) tf.dispose(fusedMlpLossGrad(x, labels, ws, 'tanh', i % 2 === 0));
      expect(tf.memory().numTensors).toBe(before);
      expect(tf.memory().numBytes).toBe(bytes);
      tf.dispose([...ws, x, labels]);
    }
  });

  it('registers one kernel name on cpu and wasm only', () => {
    expect(tf.getKernel(FUSED_MLP_KERNEL, 'wasm')).toBeDefined();
    expect(tf.getKernel(FUSED_MLP_KERNEL, 'cpu')).toBeDefined();
    expect(tf.getKernel(FUSED_MLP_KERNEL, 'webgl')).toBeUndefined();
    expect(tf.getKernel('LoptUnpackMlpGrads', 'wasm')).toBeDefined();
    expect(tf.getKernel('LoptUnpackMlpGrads', 'cpu')).toBeDefined();
  });
});
