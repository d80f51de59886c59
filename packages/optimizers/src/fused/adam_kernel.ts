import * as tf from '@tensorflow/tfjs-core';
import { ADAM_WASM_BASE64 } from './adam-wasm-binary.js';
import { compileEmbeddedWasm, isTapeRecording, registerKernelsOnce, type CpuKernelBackend, type FusedTensorInfo, type WasmKernelBackend } from '@lopt/core';

/** Name of the fused Adam/AdamW kernel lopt registers on the `cpu` and `wasm` backends. */
export const FUSED_ADAM_KERNEL = 'LoptFusedAdamUpdate';

/** Attributes of the fused Adam kernel (all plain numbers, computed on the host in float64). */
export interface FusedAdamAttrs {
  /** First-moment decay. */
  beta1: number;
  /** Second-moment decay. */
  beta2: number;
  /** Denominator epsilon (outside the root). */
  epsilon: number;
  /** Epsilon inside the root. */
  epsilonRoot: number;
  /** `1 - beta1^t`. */
  bc1: number;
  /** `1 - beta2^t`. */
  bc2: number;
  /** Decoupled weight decay (0 for Adam). */
  weightDecay: number;
  /** Learning rate of this step. */
  learningRate: number;
}

/**
 * The fused elementwise Adam/AdamW step on raw arrays (the CPU backend's path, and the WASM
 * backend's when WebAssembly SIMD is unavailable; on WASM the SIMD kernel of
 * assembly/adam.ts runs the same formula in float32, four lanes at a time), computed in float64 per element and
 * stored as float32. It is the same formula as the composed
 * `chain(scaleByAdam, addDecayedWeights, scaleByLearningRate)` + `params + updates`:
 * `m' = (1-b1) g + b1 m`, `v' = (1-b2) g^2 + b2 v`,
 * `p' = p - lr ((m'/bc1) / (sqrt(v'/bc2 + epsRoot) + eps) + wd p)`.
 */
export function fusedAdamLoop(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  pOut: Float32Array,
  mOut: Float32Array,
  vOut: Float32Array,
  a: FusedAdamAttrs,
): void {
  const { beta1, beta2, epsilon, epsilonRoot, bc1, bc2, weightDecay, learningRate } = a;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const ib1 = 1 / bc1;
  const ib2 = 1 / bc2;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i] as number;
    const mi = c1 * gi + beta1 * (m[i] as number);
    const vi = c2 * (gi * gi) + beta2 * (v[i] as number);
    const pi = p[i] as number;
    mOut[i] = mi;
    vOut[i] = vi;
    pOut[i] = pi - learningRate * ((mi * ib1) / (Math.sqrt(vi * ib2 + epsilonRoot) + epsilon) + weightDecay * pi);
  }
}

type Info = FusedTensorInfo;
type CpuBackendLike = CpuKernelBackend;
type WasmBackendLike = WasmKernelBackend & Required<Pick<WasmKernelBackend, 'typedArrayFromHeap'>>;

/** Exports of assembly/adam.ts (see scripts/build-wasm.mjs). */
interface AdamSimdExports {
  adam(
    p: number, g: number, m: number, v: number, po: number, mo: number, vo: number, n: number,
    b1: number, b2: number, c1: number, c2: number, ib1: number, ib2: number, er: number, eps: number, lr: number, wd: number,
  ): void;
}

let simdModule: WebAssembly.Module | null | undefined;
const simdInstances = new WeakMap<WebAssembly.Memory, AdamSimdExports>();

/**
 * The SIMD kernel instantiated on tfjs-backend-wasm's own memory (zero copy), or null when
 * this runtime lacks WebAssembly SIMD or the backend does not expose its memory (then the
 * JS loop runs on heap views instead).
 */
function simdKernel(b: WasmBackendLike): AdamSimdExports | null {
  const memory = b.wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory) || b.dataIdMap === undefined) return null;
  if (simdModule === undefined) {
    simdModule = compileEmbeddedWasm(ADAM_WASM_BASE64);
  }
  if (simdModule === null) return null;
  let k = simdInstances.get(memory);
  if (!k) {
    k = new WebAssembly.Instance(simdModule, { env: { memory } }).exports as unknown as AdamSimdExports;
    simdInstances.set(memory, k);
  }
  return k;
}

/** Which implementation the fused kernel uses on the active backend: `wasm-simd`, `js` (a JS loop) or `none`. */
export function fusedAdamImplementation(): 'wasm-simd' | 'js' | 'none' {
  const name = tf.getBackend();
  if (name === 'cpu') return 'js';
  if (name !== 'wasm') return 'none';
  return simdKernel(tf.backend() as unknown as WasmBackendLike) ? 'wasm-simd' : 'js';
}

/** A kernel config of the fused Adam op for one backend: `run` gets the backend, the inputs p, g, m, v and the attributes. */
function adamKernel<B>(backendName: 'cpu' | 'wasm', run: (b: B, io: Record<'p' | 'g' | 'm' | 'v', Info>, a: FusedAdamAttrs) => Info[]): tf.KernelConfig {
  return {
    kernelName: FUSED_ADAM_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) =>
      run(backend as unknown as B, inputs as unknown as Record<'p' | 'g' | 'm' | 'v', Info>, attrs as unknown as FusedAdamAttrs) as unknown as tf.TensorInfo[],
  };
}

const cpuKernel = adamKernel<CpuBackendLike>('cpu', (b, { p, g, m, v }, a) => {
  const get = (t: Info) => b.data.get(t.dataId).values as Float32Array;
  const n = get(p).length;
  const [po, mo, vo] = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  fusedAdamLoop(get(p), get(g), get(m), get(v), po, mo, vo, a);
  return [b.makeTensorInfo(p.shape, 'float32', po), b.makeTensorInfo(p.shape, 'float32', mo), b.makeTensorInfo(p.shape, 'float32', vo)] as Info[];
});

const wasmKernel = adamKernel<WasmBackendLike>('wasm', (b, { p, g, m, v }, a) => {
  // Allocate every output before taking views: an allocation may grow (and detach) the heap.
  const outs = [b.makeOutput(p.shape, 'float32'), b.makeOutput(p.shape, 'float32'), b.makeOutput(p.shape, 'float32')] as [Info, Info, Info];
  const k = simdKernel(b);
  if (k) {
    const off = (t: Info) => (b.dataIdMap?.get(t.dataId)?.memoryOffset ?? -1) as number;
    const ptrs = [p, g, m, v, ...outs].map(off);
    if (ptrs.every((x) => x >= 0)) {
      const n = tf.util.sizeFromShape(p.shape);
      const [pp, gp, mp, vp, po, mo, vo] = ptrs as [number, number, number, number, number, number, number];
      k.adam(pp, gp, mp, vp, po, mo, vo, n, a.beta1, a.beta2, 1 - a.beta1, 1 - a.beta2, 1 / a.bc1, 1 / a.bc2, a.epsilonRoot, a.epsilon, a.learningRate, a.weightDecay);
      return outs;
    }
  }
  const view = (t: Info) => b.typedArrayFromHeap(t);
  fusedAdamLoop(view(p), view(g), view(m), view(v), view(outs[0]), view(outs[1]), view(outs[2]), a);
  return outs;
});

/** Registers the fused kernel on `cpu` and `wasm` once (idempotent; no effect at import time). */
export function ensureFusedAdamKernel(): void {
  registerKernelsOnce([cpuKernel, wasmKernel]);
}

export { isTapeRecording };

/** Whether the fused kernel can run now: active backend `cpu` or `wasm`, no gradient tape recording. */
export function fusedAdamAvailable(): boolean {
  const backend = tf.getBackend();
  return (backend === 'cpu' || backend === 'wasm') && !isTapeRecording();
}

/** Runs the fused kernel on one leaf; returns new `[p', m', v']` tensors (inputs are untouched). */
export function fusedAdamLeaf(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, attrs: FusedAdamAttrs): [tf.Tensor, tf.Tensor, tf.Tensor] {
  ensureFusedAdamKernel();
  return tf.engine().runKernel(FUSED_ADAM_KERNEL, { p, g, m, v }, attrs as unknown as tf.NamedAttrMap) as unknown as [tf.Tensor, tf.Tensor, tf.Tensor];
}
