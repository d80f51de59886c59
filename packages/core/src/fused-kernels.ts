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
