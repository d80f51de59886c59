import * as tf from '@tensorflow/tfjs-core';
import { util } from '@tensorflow/tfjs-core';
import type { DataType, KernelBackend, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmBackendIfStarted } from './kernel_scope.js';

/** The parts of tfjs-backend-wasm's BackendWasm a kernel uses to allocate its output and view tensors on the heap. */
interface WasmHeap {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

function hasHeapAccess(backend: KernelBackend): backend is KernelBackend & WasmHeap {
  const b = backend as Partial<WasmHeap>;
  return typeof b.makeOutput === 'function' && typeof b.typedArrayFromHeap === 'function';
}

/** `out[i] = x[i] > 0 ? 1 : x[i] < 0 ? -1 : 0` (so ±0 and NaN give 0); float32, kept monomorphic for speed. */
function signFloat32(x: Float32Array, out: Float32Array): void {
  for (let i = 0; i < x.length; i++) out[i] = +(x[i]! > 0) - +(x[i]! < 0);
}

/** The same for int32 (and any other stored dtype). */
function signOther(x: ArrayLike<number>, out: { [i: number]: number }, n: number): void {
  for (let i = 0; i < n; i++) out[i] = +(x[i]! > 0) - +(x[i]! < 0);
}

function signInto(x: Float32Array | Int32Array | Uint8Array, out: Float32Array | Int32Array | Uint8Array, n: number): void {
  if (x instanceof Float32Array && out instanceof Float32Array) signFloat32(x.subarray(0, n), out);
  else signOther(x, out, n);
}

/**
 * Sign for the WASM backend, replacing tfjs-backend-wasm 4.22's own, which returns 0 for every
 * |x| < FLT_EPSILON (1.19e-7) instead of ±1 (Lion then leaves coordinates with tiny momentum
 * unmoved; Yogi's second moment stops moving once `v - g^2` is small). Semantics are the CPU
 * kernel's: 1 for x > 0, -1 for x < 0, 0 for ±0 and NaN; the dtype is kept.
 *
 * Route: one JS loop over the input's view of the WASM heap into a new output on the heap (no
 * copies; the backend's comparison kernels Greater/Less cost ~100x more per element than a
 * unary kernel in 4.22). A backend without heap views gets a read/compute/write copy.
 */
function sign(args: { inputs: { x: TensorInfo }; backend: KernelBackend }): TensorInfo {
  const { inputs, backend } = args;
  const { x } = inputs;
  const n = util.sizeFromShape(x.shape);
  if (hasHeapAccess(backend)) {
    const out = backend.makeOutput([...x.shape], x.dtype);
    if (n > 0) signInto(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out), n);
    return out;
  }
  const values = backend.readSync(x.dataId) as Float32Array | Int32Array;
  const result = x.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  signInto(values, result, n);
  return { dataId: backend.write(result, [...x.shape], x.dtype), shape: [...x.shape], dtype: x.dtype };
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
