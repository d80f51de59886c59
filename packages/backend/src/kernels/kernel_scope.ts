import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

/** Inputs of a kernel call: a name-keyed map, or a list for variadic kernels (Concat, Einsum). */
export type KernelInputs = Record<string, TensorInfo> | TensorInfo[];

/**
 * Runs other kernels of one backend from inside a kernel, at the TensorInfo level (the way the
 * tfjs backends compose kernels), and owns the intermediates: every output of {@link run} is
 * disposed by {@link finish} except the one returned. No tf ops are called, so nothing lands on
 * the gradient tape or in the engine's tensor count.
 */
export class KernelScope {
  private readonly temps: TensorInfo[] = [];

  constructor(
    readonly backend: KernelBackend,
    readonly backendName: string,
  ) {}

  /** Runs kernel `name` of this scope's backend; the output is an intermediate until {@link finish}. */
  run(name: string, inputs: KernelInputs, attrs: NamedAttrMap = {}): TensorInfo {
    const kernel = tf.getKernel(name, this.backendName);
    if (kernel === undefined) {
      throw new Error(`@lopt/backend: kernel '${name}' is not registered for backend '${this.backendName}'.`);
    }
    return this.call(name, kernel.kernelFunc, inputs, attrs);
  }

  /**
   * Runs a given kernel function (e.g. a backend kernel that lopt replaced and now delegates
   * to) on this scope's backend; the output is an intermediate until {@link finish}.
   */
  call(name: string, kernelFunc: KernelFunc, inputs: KernelInputs, attrs: NamedAttrMap = {}): TensorInfo {
    const out = kernelFunc({
      inputs: inputs as unknown as Record<string, TensorInfo>,
      attrs,
      backend: this.backend,
    });
    if (Array.isArray(out)) {
      throw new Error(`@lopt/backend: kernel '${name}' returned ${out.length} outputs, expected one.`);
    }
    this.temps.push(out);
    return out;
  }

  /** Reshape without copying (the backend only bumps the data's reference count). */
  reshape(x: TensorInfo, shape: readonly number[]): TensorInfo {
    return this.run(tf.Reshape, { x }, { shape: [...shape] });
  }

  /** Uploads host values as a new intermediate. */
  write(values: Float32Array | Int32Array, shape: readonly number[], dtype: 'float32' | 'int32'): TensorInfo {
    const dataId = this.backend.write(values, [...shape], dtype);
    const info: TensorInfo = { dataId, shape: [...shape], dtype };
    this.temps.push(info);
    return info;
  }

  /** Frees intermediates early (to bound peak memory in loops). */
  free(...infos: TensorInfo[]): void {
    for (const info of infos) {
      const at = this.temps.indexOf(info);
      if (at >= 0) {
        this.temps.splice(at, 1);
        this.backend.disposeData(info.dataId);
      }
    }
  }

  /**
   * Disposes every intermediate except `result` and returns `result`, which the caller (the
   * engine) then owns. A `result` that is not an intermediate of this scope (an input passed
   * through) is copied first, because a kernel must return data it owns.
   */
  finish(result: TensorInfo): TensorInfo {
    let out = result;
    if (!this.temps.includes(out)) out = this.run(tf.Identity, { x: result });
    for (const t of this.temps) {
      if (t !== out) this.backend.disposeData(t.dataId);
    }
    this.temps.length = 0;
    return out;
  }

  /** Disposes every intermediate (error path). */
  abort(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }
}

/** The arguments tfjs passes a kernel function: its inputs, the backend that runs it and the kernel's attributes. */
export type KernelArgs<Inputs, Attrs> = { inputs: Inputs; backend: KernelBackend; attrs: Attrs };

/** Runs `body` in a fresh {@link KernelScope}; intermediates are freed whether it returns or throws. */
export function withScope(
  backend: KernelBackend,
  backendName: string,
  body: (scope: KernelScope) => TensorInfo,
): TensorInfo {
  const scope = new KernelScope(backend, backendName);
  try {
    return scope.finish(body(scope));
  } catch (e) {
    scope.abort();
    throw e;
  }
}

/** The WASM backend instance if it has started (probes of its kernels need it), else undefined. */
export function wasmBackendIfStarted(): KernelBackend | undefined {
  const registry = (tf.engine() as unknown as { registry: Record<string, KernelBackend | undefined> }).registry;
  return registry['wasm'];
}
