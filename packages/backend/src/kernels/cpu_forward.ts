import * as tf from '@tensorflow/tfjs-core';
import type { BackendValues, DataType, KernelBackend, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

/** Values in the typed array a dtype is stored in (the CPU backend sometimes keeps int32 results in a Float32Array). */
function asStored(values: BackendValues, dtype: DataType): BackendValues {
  if (dtype === 'int32' && !(values instanceof Int32Array)) return Int32Array.from(values as ArrayLike<number>);
  if (dtype === 'float32' && !(values instanceof Float32Array)) return Float32Array.from(values as ArrayLike<number>);
  if (dtype === 'bool' && !(values instanceof Uint8Array)) return Uint8Array.from(values as ArrayLike<number>);
  return values;
}

/**
 * A WASM kernel that forwards to the CPU backend's kernel of the same name: the inputs are read
 * from the WASM heap (`readSync` copies them), the CPU kernel runs on copies in the CPU backend,
 * and its outputs are written back to the WASM heap. Correct by construction (it is the CPU
 * kernel), at the price of two copies and JS-speed compute; lopt uses it only where the WASM
 * backend's own kernel is wrong and no fast composition of WASM kernels exists.
 */
export function forwardToCpu(kernelName: string): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const cpu = tf.findBackend('cpu');
    const kernel = tf.getKernel(kernelName, 'cpu');
    if (cpu === null || kernel === undefined) {
      throw new Error(`@lopt/backend: ${kernelName} forwards to the CPU backend, which is not available.`);
    }
    const wasm = backend as KernelBackend;
    const cpuInputs: Record<string, TensorInfo> = {};
    const staged: TensorInfo[] = [];
    try {
      for (const [name, info] of Object.entries(inputs as Record<string, TensorInfo>)) {
        const copy: TensorInfo = { dataId: cpu.write(wasm.readSync(info.dataId), info.shape, info.dtype), shape: info.shape, dtype: info.dtype };
        staged.push(copy);
        cpuInputs[name] = copy;
      }
      const out = kernel.kernelFunc({ inputs: cpuInputs, backend: cpu, attrs: attrs as NamedAttrMap });
      const outs = Array.isArray(out) ? out : [out];
      staged.push(...outs);
      const back = outs.map((o) => ({ dataId: wasm.write(asStored(cpu.readSync(o.dataId), o.dtype), o.shape, o.dtype), shape: o.shape, dtype: o.dtype }));
      return Array.isArray(out) ? back : back[0]!;
    } finally {
      for (const t of staged) cpu.disposeData(t.dataId);
    }
  };
}
