import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { forwardToCpu } from './cpu_forward.js';
import { wasmBackendIfStarted, withScope } from './kernel_scope.js';

const signOnCpu = forwardToCpu(tf.Sign);

/**
 * Sign for the WASM backend, replacing tfjs-backend-wasm 4.22's own, which returns 0 for every
 * |x| < FLT_EPSILON (1.19e-7) instead of ±1 (Lion then leaves coordinates with tiny momentum
 * unmoved; Yogi's second moment stops moving once `v - g^2` is small). Semantics are the CPU
 * kernel's: 1 for x > 0, -1 for x < 0, 0 for ±0 and NaN.
 *
 * Route: `Cast(x > 0) - Cast(x < 0)` with the WASM Greater, Less, Cast and Sub kernels (NaN
 * compares false both ways, so it gives 0); dtypes other than float32 and int32 are forwarded to
 * the CPU kernel.
 */
function sign(args: { inputs: { x: TensorInfo }; backend: KernelBackend }): TensorInfo {
  const { inputs, backend } = args;
  const { x } = inputs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    return signOnCpu(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  }
  return withScope(backend, 'wasm', (s) => {
    const zero = s.write(x.dtype === 'int32' ? new Int32Array(1) : new Float32Array(1), [], x.dtype as 'float32' | 'int32');
    const positive = s.run(tf.Cast, { x: s.run(tf.Greater, { a: x, b: zero }) }, { dtype: x.dtype });
    const negative = s.run(tf.Cast, { x: s.run(tf.Less, { a: x, b: zero }) }, { dtype: x.dtype });
    return s.run(tf.Sub, { a: positive, b: negative });
  });
}

/** Kernel registration for {@link sign}. */
export const signConfig: KernelConfig = {
  kernelName: tf.Sign,
  backendName: 'wasm',
  kernelFunc: sign as unknown as KernelConfig['kernelFunc'],
};

/** Probe input: values below FLT_EPSILON in magnitude, where tfjs-backend-wasm 4.22 answers 0. */
const PROBE = [1e-30, -1e-30, 1e-8, -1e-8];
const EXPECTED = '1,-1,1,-1';

/**
 * Whether the WASM backend's registered Sign kernel gives the wrong answer on values below
 * FLT_EPSILON in magnitude (correct: [1, -1, 1, -1] for [1e-30, -1e-30, 1e-8, -1e-8]). Returns
 * undefined when the WASM backend has not started (the probe needs it).
 */
export function signKernelIsWrong(): boolean | undefined {
  const backend = wasmBackendIfStarted();
  const kernel = tf.getKernel(tf.Sign, 'wasm');
  if (backend === undefined || kernel === undefined) return undefined;
  const shape = [PROBE.length];
  const x: TensorInfo = { dataId: backend.write(Float32Array.from(PROBE), shape, 'float32'), shape, dtype: 'float32' };
  let out: TensorInfo | undefined;
  try {
    out = kernel.kernelFunc({ inputs: { x }, backend, attrs: {} }) as TensorInfo;
    return Array.from(backend.readSync(out.dataId) as Float32Array).join(',') !== EXPECTED;
  } finally {
    backend.disposeData(x.dataId);
    if (out !== undefined) backend.disposeData(out.dataId);
  }
}
