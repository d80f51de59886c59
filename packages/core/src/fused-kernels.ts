import * as tf from '@tensorflow/tfjs-core';

/**
 * Decodes base64 to bytes with `atob` (browsers and Node >= 16; no Node built-ins): how the
 * fused kernels and pretrained weights ship their embedded binaries.
 *
 * @example
 * ```ts
 * decodeBase64('AGFzbQ=='); // Uint8Array [0, 97, 115, 109] (the WebAssembly magic)
 * ```
 */
export function decodeBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Compiles an embedded WebAssembly binary (base64), or returns null when this runtime cannot
 * (for example it lacks WebAssembly SIMD); callers cache the result and fall back to a JS loop.
 */
export function compileEmbeddedWasm(base64: string): WebAssembly.Module | null {
  try {
    return new WebAssembly.Module(decodeBase64(base64) as BufferSource);
  } catch {
    return null;
  }
}

/**
 * True inside `tf.grad` / `tf.variableGrads` (the engine is recording a tape). A fused kernel
 * has no gradient, so it must not run then.
 */
export function isTapeRecording(): boolean {
  const state = (tf.engine() as unknown as { state: { gradientDepth: number } }).state;
  return state.gradientDepth > 0;
}

/**
 * Registers each kernel config unless its (kernel, backend) pair is registered already:
 * idempotent, and nothing happens at import time (call it before the kernel first runs).
 */
export function registerKernelsOnce(kernels: readonly tf.KernelConfig[]): void {
  for (const k of kernels) {
    if (!tf.getKernel(k.kernelName, k.backendName)) tf.registerKernel(k);
  }
}

/** A tensor as a backend kernel sees it (tfjs's `TensorInfo`, structurally). */
export type FusedTensorInfo = { dataId: object; shape: number[]; dtype: tf.DataType };

/** The parts of tfjs-backend-cpu a fused kernel uses: its data store and output allocation. */
export interface CpuKernelBackend {
  /** Reads a tensor's values by data id. */
  data: { get(dataId: object): { values: unknown } };
  /** Wraps freshly computed values as an output tensor. */
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): FusedTensorInfo;
}

/**
 * The parts of tfjs-backend-wasm a fused kernel uses: output allocation on the WASM heap, the
 * heap itself and each tensor's offset in it (members a kernel does not need are optional).
 */
export interface WasmKernelBackend {
  /** Allocates an output tensor on the WASM heap. */
  makeOutput(shape: number[], dtype: tf.DataType): FusedTensorInfo;
  /** A view of a tensor's values on the heap. */
  typedArrayFromHeap?(info: FusedTensorInfo): Float32Array;
  /** Frees a tensor's heap memory. */
  disposeData?(dataId: object): boolean;
  /** The compiled backend module; its memory is the heap. */
  wasm?: { asm?: { memory?: unknown } };
  /** Heap offsets by data id. */
  dataIdMap?: { get(dataId: object): { memoryOffset: number } | undefined };
}
