// Shared helpers of @lopt/backend's tests: run the same computation on the WASM and CPU
// backends from the same host-side random inputs and compare.
import * as tf from '@tensorflow/tfjs-core';
import { foldIn, key, normalArray, type Key } from '@lopt/core';
import { fillWasmKernelGaps } from '../src/index.js';

/** Deterministic float32 values from a key (host-side, identical on every backend). */
export function randomValues(k: Key, shape: readonly number[], scale = 1): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from(normalArray(k, n), (v) => v * scale);
}

/** A key per test case, derived from one root so cases are independent and reproducible. */
export function caseKey(i: number): Key {
  return foldIn(key(20261121), i);
}

/** Runs `body` with `backend` active, reading every output back to the host, then restores the previous backend. */
export async function runOn(backend: 'wasm' | 'cpu', body: () => tf.Tensor | tf.Tensor[]): Promise<{ values: Float32Array[]; shapes: number[][] }> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  if (backend === 'wasm') fillWasmKernelGaps(); // after the start: probing the WASM kernels needs it
  try {
    const before = tf.memory().numTensors;
    const outs = tf.tidy(body);
    const list = Array.isArray(outs) ? outs : [outs];
    const values = list.map((t) => Float32Array.from(t.dataSync()));
    const shapes = list.map((t) => t.shape.slice());
    tf.dispose(list);
    const leaked = tf.memory().numTensors - before;
    if (leaked !== 0) throw new Error(`${backend}: ${leaked} tensors leaked`);
    return { values, shapes };
  } finally {
    await tf.setBackend(previous);
  }
}

/** Normwise relative error max|a - b| / max|b| (b is the reference); Infinity on NaN. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (Number.isNaN(d)) return Infinity;
    diff = Math.max(diff, d);
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Runs `body` on WASM and CPU and returns the worst relative error over its outputs (CPU is the reference). */
export async function wasmVsCpu(body: () => tf.Tensor | tf.Tensor[]): Promise<{ error: number; shapes: number[][]; cpu: Float32Array[] }> {
  const wasm = await runOn('wasm', body);
  const cpu = await runOn('cpu', body);
  let error = 0;
  cpu.values.forEach((ref, i) => {
    const got = wasm.values[i];
    const sameShape = wasm.shapes[i]?.join(',') === cpu.shapes[i]?.join(',');
    error = Math.max(error, got && sameShape ? relativeError(got, ref) : Infinity);
  });
  if (wasm.values.length !== cpu.values.length) error = Infinity;
  return { error, shapes: cpu.shapes, cpu: cpu.values };
}

/** The largest |value| over outputs (a parity test must compare something non-trivial). */
export function maxAbs(values: Float32Array[]): number {
  return values.reduce((m, v) => v.reduce((a, x) => Math.max(a, Math.abs(x)), m), 0);
}

/**
 * Runs `step` once to warm up, then `times` more; how many WASM data buffers and tfjs tensors
 * those runs left behind (both 0 when every intermediate is freed).
 */
export function wasmMemoryGrowth(step: () => void, times: number): { data: number; tensors: number } {
  const wasm = tf.findBackend('wasm')!;
  step();
  const data = wasm.numDataIds();
  const tensors = tf.memory().numTensors;
  for (let i = 0; i < times; i++) step();
  return { data: wasm.numDataIds() - data, tensors: tf.memory().numTensors - tensors };
}
