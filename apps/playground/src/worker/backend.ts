import * as tf from '@tensorflow/tfjs-core';
import { initBackend, setWasmBinaryPath } from '@lopt/backend';
import type { BackendPreference, BackendReport } from '../catalog.js';

let started: BackendReport | undefined;

async function tryWebgl(): Promise<boolean> {
  try {
    if (!(await tf.setBackend('webgl'))) return false;
    await tf.ready();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a backend in this worker: WASM (binaries served from `<base>/tfjs-wasm/`), else
 * WebGL, else the JS CPU backend; `preference` forces one (the page's `?backend=` parameter).
 */
export async function startBackend(baseUrl: string, preference: BackendPreference): Promise<BackendReport> {
  if (started) return started;
  setWasmBinaryPath(new URL('tfjs-wasm/', baseUrl).href);
  if (preference === 'auto' || preference === 'wasm') {
    try {
      const info = await initBackend({ backend: 'wasm' });
      started = { name: 'wasm', detail: `WebAssembly${info.simd ? ' + SIMD' : ''}, ${info.threads} thread${info.threads === 1 ? '' : 's'}` };
      return started;
    } catch (e) {
      if (preference === 'wasm') throw e;
    }
  }
  // the CPU start registers lopt's gradient fills; WebGL then takes over where it works
  const cpu = await initBackend({ backend: 'cpu' });
  if (preference !== 'cpu' && (await tryWebgl())) {
    started = { name: 'webgl', detail: `WebGL (${preference === 'auto' ? 'WASM did not start' : 'requested'})` };
  } else {
    started = { name: 'cpu', detail: `plain JS CPU (${cpu.reason})` };
  }
  return started;
}
