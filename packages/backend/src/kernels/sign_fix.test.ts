import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { uniformArray } from '@lopt/core';
import { caseKey, runOn } from '../../test/harness.js';
import { fillWasmKernelGaps } from '../index.js';
import { withScope } from './kernel_scope.js';
import { signConfig, signKernelIsWrong } from './sign_fix.js';

const FLT_EPSILON = 2 ** -23;
const SPECIAL = [1e-30, -1e-30, 1e-8, -1e-8, 1e-3, -1e-3, 0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, FLT_EPSILON, -FLT_EPSILON, 3.4e38];

/** tfjs's sign, computed in plain JS: 1, -1, else 0 (±0 and NaN give 0). */
function signReference(values: ArrayLike<number>): number[] {
  return Array.from(values, (v) => (v > 0 ? 1 : v < 0 ? -1 : 0));
}

/** Bits of float32 values, so +0/-0 and NaN compare exactly. */
function bits(values: Float32Array): number[] {
  return Array.from(new Uint32Array(Float32Array.from(values).buffer));
}

describe('WASM Sign matches the CPU backend', () => {
  it('at ±1e-30, ±1e-8, ±1e-3, ±0, NaN, ±Inf, denormals and ±FLT_EPSILON', async () => {
    const x = Float32Array.from(SPECIAL);
    const wasm = await runOn('wasm', () => tf.sign(tf.tensor1d(x)));
    const cpu = await runOn('cpu', () => tf.sign(tf.tensor1d(x)));
    expect(bits(wasm.values[0]!)).toEqual(bits(cpu.values[0]!));
    expect(Array.from(wasm.values[0]!)).toEqual(signReference(x).map((v) => v + 0)); // +0, never -0
    expect(Array.from(wasm.values[0]!.slice(0, 4))).toEqual([1, -1, 1, -1]); // the values tfjs-backend-wasm 4.22 gets wrong
  });

  it('on 4096 values of every magnitude from 1e-40 to 1e4 (shape [64, 64])', async () => {
    const u = uniformArray(caseKey(1400), 2 * 4096);
    const x = Float32Array.from({ length: 4096 }, (_, i) => (u[2 * i]! < 0.5 ? -1 : 1) * 10 ** (-40 + 44 * u[2 * i + 1]!));
    const body = (): tf.Tensor => tf.sign(tf.tensor2d(x, [64, 64]));
    const wasm = await runOn('wasm', body);
    const cpu = await runOn('cpu', body);
    expect(wasm.shapes[0]).toEqual([64, 64]);
    expect(bits(wasm.values[0]!)).toEqual(bits(cpu.values[0]!));
    expect(Array.from(wasm.values[0]!)).toEqual(signReference(x));
    expect(x.filter((v) => Math.abs(v) < FLT_EPSILON && v !== 0).length).toBeGreaterThan(2000);
  });

  it('on int32 (dtype kept)', async () => {
    const x = Int32Array.from([5, -3, 0, 1, -1, 2147483647, -2147483648]);
    const run = async (b: 'wasm' | 'cpu'): Promise<{ values: number[]; dtype: string }> => {
      const previous = tf.getBackend();
      await tf.setBackend(b);
      try {
        const out = tf.sign(tf.tensor1d(x, 'int32'));
        const result = { values: Array.from(out.dataSync()), dtype: out.dtype };
        out.dispose();
        return result;
      } finally {
        await tf.setBackend(previous);
      }
    };
    const wasm = await run('wasm');
    expect(wasm).toEqual(await run('cpu'));
    expect(wasm).toEqual({ values: signReference(x), dtype: 'int32' });
  });
});

describe('the Sign fill without heap views (read / compute / write path)', () => {
  it('gives the same values on a backend that has no typedArrayFromHeap (the CPU backend)', () => {
    const cpu = tf.findBackend('cpu')!;
    const values = Float32Array.from(SPECIAL);
    const x = { dataId: cpu.write(values, [values.length], 'float32'), shape: [values.length], dtype: 'float32' as const };
    const out = signConfig.kernelFunc({ inputs: { x }, backend: cpu, attrs: {} }) as TensorInfo;
    try {
      expect(out.shape).toEqual([values.length]);
      expect(Array.from(cpu.readSync(out.dataId) as Float32Array)).toEqual(signReference(values));
    } finally {
      cpu.disposeData(x.dataId);
      cpu.disposeData(out.dataId);
    }
  });
});

/** A Sign kernel with tfjs-backend-wasm 4.22's bug (0 for |x| < FLT_EPSILON), composed from WASM kernels. */
const buggySign = (({ inputs, backend }: { inputs: { x: TensorInfo }; backend: KernelBackend }) =>
  withScope(backend, 'wasm', (s) => {
    const eps = s.write(Float32Array.of(FLT_EPSILON), [], 'float32');
    const minusEps = s.write(Float32Array.of(-FLT_EPSILON), [], 'float32');
    const pos = s.run(tf.Cast, { x: s.run(tf.Greater, { a: inputs.x, b: eps }) }, { dtype: 'float32' });
    const neg = s.run(tf.Cast, { x: s.run(tf.Less, { a: inputs.x, b: minusEps }) }, { dtype: 'float32' });
    return s.run(tf.Sub, { a: pos, b: neg });
  })) as unknown as KernelFunc;

describe('the Sign probe', () => {
  it("replaces a WASM Sign kernel that is wrong below FLT_EPSILON, and keeps a correct one that is not lopt's", async () => {
    await runOn('wasm', () => tf.scalar(0)); // starts WASM and fills its gaps
    const ours = tf.getKernel(tf.Sign, 'wasm')!.kernelFunc;
    expect(signKernelIsWrong()).toBe(false);
    try {
      tf.unregisterKernel(tf.Sign, 'wasm');
      tf.registerKernel({ kernelName: tf.Sign, backendName: 'wasm', kernelFunc: buggySign });
      expect(signKernelIsWrong()).toBe(true);
      await tf.setBackend('wasm');
      const wrong = tf.tidy(() => Array.from(tf.sign(tf.tensor1d([1e-8, -1e-30, 2])).dataSync()));
      expect(wrong).toEqual([0, 0, 1]); // the sentinel reproduces the bug
      expect(fillWasmKernelGaps()).toContain(tf.Sign);
      expect(tf.getKernel(tf.Sign, 'wasm')!.kernelFunc).toBe(ours);

      const foreign = ours.bind(null);
      tf.unregisterKernel(tf.Sign, 'wasm');
      tf.registerKernel({ kernelName: tf.Sign, backendName: 'wasm', kernelFunc: foreign });
      expect(signKernelIsWrong()).toBe(false);
      expect(fillWasmKernelGaps()).not.toContain(tf.Sign);
      expect(tf.getKernel(tf.Sign, 'wasm')!.kernelFunc).toBe(foreign);
    } finally {
      tf.unregisterKernel(tf.Sign, 'wasm');
      tf.registerKernel({ kernelName: tf.Sign, backendName: 'wasm', kernelFunc: ours });
    }
    expect(fillWasmKernelGaps()).toContain(tf.Sign);
  });
});
