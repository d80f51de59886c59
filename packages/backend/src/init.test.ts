import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LoptError } from '@lopt/core';
import { currentBackend, fillWasmKernelGaps, gradientsRegistered, initBackend, wasmKernelFills } from './index.js';
import { probeMatMulKernel } from './kernels/mat_mul_fixes.js';
import { wasmMemoryGrowth } from '../test/harness.js';

const FILLED = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'UnsortedSegmentSum',
  'Einsum',
  'Conv2DBackpropInput', // replaced: the WASM one is ~10x slower than the forward conv
  'MaxPoolGrad', // replaced: tfjs-backend-wasm 4.22's is wrong on all-negative windows
  'MaxPoolWithArgmax',
  'Sign', // replaced: tfjs-backend-wasm 4.22's returns 0 for |x| < FLT_EPSILON
  'GatherV2', // replaced: one heap copy per slice instead of an element-wise C++ loop
];

/** BatchMatMul / _FusedMatMul are replaced where the probe finds a slow layout (tfjs-backend-wasm 4.22: all three). */
function slowMatMuls(): string[] {
  return ['BatchMatMul', '_FusedMatMul'].filter((name) => Object.values(probeMatMulKernel(name) ?? {}).some((c) => c.slow));
}

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const tfjsNodeInstalled = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu');

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return undefined;
}

let backendBefore = '';
let envBefore: string | undefined;
beforeEach(() => {
  backendBefore = tf.getBackend();
  envBefore = process.env.LOPT_BACKEND;
  delete process.env.LOPT_BACKEND;
});
afterEach(async () => {
  if (envBefore === undefined) delete process.env.LOPT_BACKEND;
  else process.env.LOPT_BACKEND = envBefore;
  await tf.setBackend(backendBefore);
});

describe('initBackend', () => {
  it('starts WASM with SIMD, one thread in Node, and reports the filled kernels', async () => {
    const info = await initBackend({ backend: 'wasm' });
    expect(Object.keys(info).sort()).toEqual(['filledGradients', 'filledKernels', 'name', 'reason', 'simd', 'threads', 'tfjsName'].sort());
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.reason).toMatch(/requested/);
    expect(info.simd).toBe(true); // Node 20 validates WASM SIMD
    expect(info.threads).toBe(1); // tfjs-backend-wasm 4.22 is single-threaded in Node
    expect([...info.filledKernels].sort()).toEqual([...FILLED, ...slowMatMuls()].sort());
    for (const name of FILLED) expect(tf.getKernel(name, 'wasm')).toBeDefined();
    expect(currentBackend()).toBe(info);
  });

  it('starts the CPU backend', async () => {
    const info = await initBackend({ backend: 'cpu' });
    expect(info).toMatchObject({ name: 'cpu', tfjsName: 'cpu', simd: false, threads: 1, filledKernels: [], filledGradients: ['Einsum'] });
    expect(tf.getBackend()).toBe('cpu');
  });

  it('honours LOPT_BACKEND, and an explicit option wins over it', async () => {
    process.env.LOPT_BACKEND = 'cpu';
    const fromEnv = await initBackend();
    expect(fromEnv.name).toBe('cpu');
    expect(fromEnv.reason).toMatch(/LOPT_BACKEND/);
    const explicit = await initBackend({ backend: 'wasm' });
    expect(explicit.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('auto picks WASM when tfjs-node is not installed', async () => {
    const info = await initBackend({ backend: 'auto' });
    expect(info.name).toBe(tfjsNodeInstalled ? 'tensorflow' : 'wasm');
    expect(info.reason).toMatch(/^auto: /);
  });

  it('rejects an invalid LOPT_BACKEND naming the variable', async () => {
    process.env.LOPT_BACKEND = 'gpu';
    const err = await rejection(initBackend());
    expect(err).toBeInstanceOf(LoptError);
    expect((err as LoptError).code).toBe('INVALID_OPTION');
    expect((err as LoptError).option).toBe('LOPT_BACKEND');
    expect((err as LoptError).message).toMatch(/LOPT_BACKEND/);
    expect((err as LoptError).message).toMatch(/wasm/);
  });

  it('rejects an invalid backend option naming it', async () => {
    const err = await rejection(initBackend({ backend: 'webgl' as 'wasm' }));
    expect(err).toBeInstanceOf(LoptError);
    expect((err as LoptError).code).toBe('INVALID_OPTION');
    expect((err as LoptError).option).toBe('backend');
  });

  it('rejects a wasmThreads that is not a positive integer', async () => {
    for (const bad of [0, 1.5, Number.NaN]) {
      const err = await rejection(initBackend({ backend: 'wasm', wasmThreads: bad }));
      expect(err).toBeInstanceOf(LoptError);
      expect((err as LoptError).option).toBe('wasmThreads');
    }
  });

  it.skipIf(tfjsNodeInstalled)("asking for 'tensorflow' without tfjs-node says what to install", async () => {
    const err = await rejection(initBackend({ backend: 'tensorflow' }));
    expect(err).toBeInstanceOf(LoptError);
    expect((err as LoptError).code).toBe('BACKEND_UNAVAILABLE');
    expect((err as LoptError).message).toMatch(/@tensorflow\/tfjs-node/);
    expect((err as LoptError).message).toMatch(/pnpm add/);
  });
});

describe('gradients after initBackend', () => {
  // d/dA sum(A B) = 1 B^T: every row of the gradient holds the row sums of B.
  const a = [1, 2, 3, 4, 5, 6];
  const b = [0.5, -1, 2, 3, 0.25, -2];
  // conv2d 'valid' with a 2x2 input and a 2x2 filter (one output pixel per channel):
  // d/dx sum(conv) [i, j, c] = sum_o f[i, j, c, o]; d/df [i, j, c, o] = sum_batch x[i, j, c].
  const x = [1, -2, 3, 0.5, 2, 1, -1, 4];
  const f = Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => (i % 5) - 2);

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`are registered and correct on ${backend} (matMul and conv2d)`, async () => {
      await initBackend({ backend });
      expect(gradientsRegistered()).toBe(true);
      const dA = tf.tidy(() => tf.grad((m: tf.Tensor) => tf.sum(tf.matMul(m as tf.Tensor2D, tf.tensor2d(b, [2, 3]))))(tf.tensor2d(a, [3, 2])));
      const rowSums = [b[0]! + b[1]! + b[2]!, b[3]! + b[4]! + b[5]!];
      expect(Array.from(dA.dataSync())).toEqual([0, 1, 2].flatMap(() => rowSums));
      const [dx, df] = tf.tidy(() =>
        tf.grads((xi: tf.Tensor, fi: tf.Tensor) => tf.sum(tf.conv2d(xi as tf.Tensor4D, fi as tf.Tensor4D, 1, 'valid')))([
          tf.tensor4d(x, [1, 2, 2, 2]),
          tf.tensor4d(f, [2, 2, 2, 3]),
        ]),
      );
      const expectedDx = Array.from({ length: 8 }, (_, p) => f[p * 3]! + f[p * 3 + 1]! + f[p * 3 + 2]!);
      const expectedDf = Array.from({ length: 24 }, (_, q) => x[Math.floor(q / 3)]!);
      expect(Array.from(dx!.dataSync())).toEqual(expectedDx);
      expect(Array.from(df!.dataSync())).toEqual(expectedDf);
      tf.dispose([dA, dx!, df!]);
    });
  }
});

describe('fillWasmKernelGaps', () => {
  it('is idempotent and documents a route for every fill', () => {
    const first = fillWasmKernelGaps();
    const second = fillWasmKernelGaps();
    expect(second).toEqual(first);
    const probed = ['BatchMatMul', '_FusedMatMul'].filter((name) => !slowMatMuls().includes(name));
    expect(wasmKernelFills().map((k) => k.kernelName).filter((name) => !probed.includes(name))).toEqual(first);
    for (const fill of wasmKernelFills()) {
      expect(fill.route).toBe(fill.kernelName === 'Sign' ? 'heap-loop' : fill.kernelName === 'GatherV2' ? 'wasm-heap' : fill.gap === 'incorrect' ? 'cpu-forward' : 'wasm-kernels');
      expect(fill.method.length).toBeGreaterThan(20);
    }
  });

  it('leaves a kernel the backend already has alone', () => {
    const ours = tf.getKernel('Einsum', 'wasm');
    expect(ours).toBeDefined();
    const sentinel = { kernelName: 'Einsum', backendName: 'wasm', kernelFunc: ours!.kernelFunc.bind(null) };
    tf.unregisterKernel('Einsum', 'wasm');
    tf.registerKernel(sentinel);
    try {
      expect(fillWasmKernelGaps()).not.toContain('Einsum');
      expect(tf.getKernel('Einsum', 'wasm')?.kernelFunc).toBe(sentinel.kernelFunc);
    } finally {
      tf.unregisterKernel('Einsum', 'wasm');
    }
    expect(fillWasmKernelGaps()).toContain('Einsum');
    expect(tf.getKernel('Einsum', 'wasm')?.kernelFunc).toBe(ours!.kernelFunc);
  });

  it('filled kernels free their intermediates (WASM data count stays flat)', async () => {
    await initBackend({ backend: 'wasm' });
    const step = (): void =>
      tf.tidy(() => {
        const x = tf.ones([2, 6, 6, 3]);
        const w = tf.ones([3, 3, 3, 2]);
        tf.grads((xi: tf.Tensor, wi: tf.Tensor) => tf.sum(tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 2, 'same')))([x, w]);
        tf.grads((xi: tf.Tensor, wi: tf.Tensor) => tf.sum(tf.depthwiseConv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 2, 'same')))([x, w]);
        tf.grad((e: tf.Tensor) => tf.sum(tf.gather(e, tf.tensor1d([0, 2, 2, 7], 'int32'))))(tf.ones([8, 4]));
        tf.unsortedSegmentSum(tf.ones([4, 2]), tf.tensor1d([0, -1, 5, 1], 'int32'), 3);
        tf.einsum('bij,bjk->bik', tf.ones([2, 3, 4]), tf.ones([2, 4, 5]));
        tf.einsum('ij->ji', tf.ones([2, 3]));
        tf.sign(tf.tensor1d([1e-30, -2, 0, NaN]));
        tf.sign(tf.tensor1d([3, -2, 0], 'int32'));
      });
    expect(wasmMemoryGrowth(step, 5)).toEqual({ data: 0, tensors: 0 });
  });
});
