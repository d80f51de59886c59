import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { compileEmbeddedWasm, decodeBase64, isTapeRecording, registerKernelsOnce } from './fused-kernels.js';

describe('fused-kernel helpers', () => {
  it('decodes base64 to the bytes Node decodes, and compiles a minimal module (null for garbage)', () => {
    const bytes = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 255, 7]);
    const b64 = Buffer.from(bytes).toString('base64');
    expect(Array.from(decodeBase64(b64))).toEqual(Array.from(bytes));
    expect(compileEmbeddedWasm(Buffer.from(bytes.subarray(0, 8)).toString('base64'))).toBeInstanceOf(WebAssembly.Module);
    expect(compileEmbeddedWasm(b64)).toBeNull();
  });

  it('sees a gradient tape only inside tf.grad', () => {
    expect(isTapeRecording()).toBe(false);
    let inside = false;
    const g = tf.grad((x: tf.Tensor) => {
      inside = isTapeRecording();
      return tf.sum(tf.square(x));
    })(tf.tensor1d([3]));
    expect(inside).toBe(true);
    expect(g.dataSync()[0]).toBe(6);
    expect(isTapeRecording()).toBe(false);
  });

  it('registers a kernel once and leaves an existing registration alone', () => {
    const name = `LoptTestKernel${Date.now()}`;
    let calls = 0;
    const first: tf.KernelConfig = { kernelName: name, backendName: tf.getBackend(), kernelFunc: () => ((calls += 1), []) as never };
    const second: tf.KernelConfig = { ...first, kernelFunc: () => ((calls += 100), []) as never };
    registerKernelsOnce([first]);
    registerKernelsOnce([second]);
    expect(tf.getKernel(name, tf.getBackend())?.kernelFunc).toBe(first.kernelFunc);
    tf.unregisterKernel(name, tf.getBackend());
    expect(calls).toBe(0);
  });
});
