import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelConfig } from '@tensorflow/tfjs-core';
import { forwardToCpu } from './cpu_forward.js';

/**
 * MaxPoolGrad for the WASM backend, replacing tfjs-backend-wasm 4.22's own, which routes the
 * gradient of a window whose values are all negative to the window's first element (its search
 * for the maximum starts from 0, not -Infinity). Any max-pooling layer fed by a conv without ReLU,
 * or by tanh, trained with wrong gradients. Route: forwarded to the CPU kernel.
 */
export const maxPoolGradConfig: KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: forwardToCpu(tf.MaxPoolGrad),
};

/** MaxPoolWithArgmax for the WASM backend; the 4.22 kernel has the same all-negative-window bug. Forwarded to the CPU kernel. */
export const maxPoolWithArgmaxConfig: KernelConfig = {
  kernelName: tf.MaxPoolWithArgmax,
  backendName: 'wasm',
  kernelFunc: forwardToCpu(tf.MaxPoolWithArgmax),
};

/** The WASM backend, if it has started (probes of its kernels need it). */
export function wasmBackendIfStarted(): KernelBackend | undefined {
  const registry = (tf.engine() as unknown as { registry: Record<string, KernelBackend | undefined> }).registry;
  return registry['wasm'];
}

/**
 * Whether the WASM backend's registered `kernelName` kernel gives the wrong answer on an
 * all-negative 2x2 window: input [[-3, -1], [-2, -4]], 2x2 max pooling. Correct: the maximum -1
 * is element 1 (its gradient is [0, 1, 0, 0], its argmax 1). Returns undefined when the WASM
 * backend has not started (the probe needs it).
 */
export function maxPoolKernelIsWrong(kernelName: string): boolean | undefined {
  const backend = wasmBackendIfStarted();
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (backend === undefined || kernel === undefined) return undefined;
  const made: tf.TensorInfo[] = [];
  const put = (values: number[], shape: number[], dtype: 'float32' | 'int32' = 'float32'): tf.TensorInfo => {
    const info = { dataId: backend.write(dtype === 'float32' ? Float32Array.from(values) : Int32Array.from(values), shape, dtype), shape, dtype };
    made.push(info);
    return info;
  };
  try {
    const input = put([-3, -1, -2, -4], [1, 2, 2, 1]);
    const attrs = { filterSize: 2, strides: 2, pad: 'valid', includeBatchInIndex: true };
    const inputs =
      kernelName === tf.MaxPoolGrad ? { dy: put([1], [1, 1, 1, 1]), input, output: put([-1], [1, 1, 1, 1]) } : { x: input };
    const out = kernel.kernelFunc({ inputs, backend, attrs });
    const outs = Array.isArray(out) ? out : [out];
    made.push(...outs);
    const probe = outs[outs.length - 1]!;
    const values = Array.from(backend.readSync(probe.dataId) as Float32Array | Int32Array);
    return kernelName === tf.MaxPoolGrad ? values.join(',') !== '0,1,0,0' : values.join(',') !== '1';
  } finally {
    for (const t of made) backend.disposeData(t.dataId);
  }
}
