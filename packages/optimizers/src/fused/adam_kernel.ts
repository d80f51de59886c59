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

/** The attributes of one kernel call: the step's numbers and how many leaves it updates. */
type CallAttrs = FusedAdamAttrs & { leaves: number };
type LeafIo = Record<'p' | 'g' | 'm' | 'v', Info>;

const NAMES: string[][] = [];
/** Input names of leaf `i`: `p<i>`, `g<i>`, `m<i>`, `v<i>` (built once per index). */
function leafNames(i: number): string[] {
  return (NAMES[i] ??= ['p', 'g', 'm', 'v'].map((n) => `${n}${i}`));
}

/**
 * A kernel config of the fused Adam op for one backend: one call updates every leaf (inputs
 * `p0, g0, m0, v0, p1, ...`, outputs `p0', m0', v0', p1', ...`); `run` gets the backend, the
 * leaves and the attributes and returns the outputs.
 */
function adamKernel<B>(backendName: 'cpu' | 'wasm', run: (b: B, leaves: LeafIo[], a: FusedAdamAttrs) => Info[]): tf.KernelConfig {
  return {
    kernelName: FUSED_ADAM_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as CallAttrs;
      const named = inputs as unknown as Record<string, Info>;
      const leaves: LeafIo[] = [];
      for (let i = 0; i < a.leaves; i++) {
        const [p, g, m, v] = leafNames(i).map((n) => named[n] as Info) as [Info, Info, Info, Info];
        leaves.push({ p, g, m, v });
      }
      return run(backend as unknown as B, leaves, a) as unknown as tf.TensorInfo[];
    },
  };
}

const cpuKernel = adamKernel<CpuBackendLike>('cpu', (b, leaves, a) =>
  leaves.flatMap(({ p, g, m, v }) => {
    const get = (t: Info) => b.data.get(t.dataId).values as Float32Array;
    const n = get(p).length;
    const [po, mo, vo] = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
    fusedAdamLoop(get(p), get(g), get(m), get(v), po, mo, vo, a);
    return [b.makeTensorInfo(p.shape, 'float32', po), b.makeTensorInfo(p.shape, 'float32', mo), b.makeTensorInfo(p.shape, 'float32', vo)] as Info[];
  }),
);

const wasmKernel = adamKernel<WasmBackendLike>('wasm', (b, leaves, a) => {
  // Allocate every output before taking views: an allocation may grow (and detach) the heap.
  const outs = leaves.flatMap(({ p }) => [b.makeOutput(p.shape, 'float32'), b.makeOutput(p.shape, 'float32'), b.makeOutput(p.shape, 'float32')] as Info[]);
  const k = simdKernel(b);
  const off = (t: Info) => (b.dataIdMap?.get(t.dataId)?.memoryOffset ?? -1) as number;
  leaves.forEach(({ p, g, m, v }, i) => {
    const leafOuts = outs.slice(3 * i, 3 * i + 3) as [Info, Info, Info];
    if (k) {
      const ptrs = [p, g, m, v, ...leafOuts].map(off);
      if (ptrs.every((x) => x >= 0)) {
        const n = tf.util.sizeFromShape(p.shape);
        const [pp, gp, mp, vp, po, mo, vo] = ptrs as [number, number, number, number, number, number, number];
        k.adam(pp, gp, mp, vp, po, mo, vo, n, a.beta1, a.beta2, 1 - a.beta1, 1 - a.beta2, 1 / a.bc1, 1 / a.bc2, a.epsilonRoot, a.epsilon, a.learningRate, a.weightDecay);
        return;
      }
    }
    const view = (t: Info) => b.typedArrayFromHeap(t);
    fusedAdamLoop(view(p), view(g), view(m), view(v), view(leafOuts[0]), view(leafOuts[1]), view(leafOuts[2]), a);
  });
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

/**
 * Runs the fused kernel once on every leaf (`ps[i]` with gradient `gs[i]` and moments `ms[i]`,
 * `vs[i]`, all float32 of one shape per leaf); returns the new parameters, first and second
 * moments, one array each, in leaf order (inputs are untouched).
 */
export function fusedAdamLeaves(
  ps: readonly tf.Tensor[],
  gs: readonly tf.Tensor[],
  ms: readonly tf.Tensor[],
  vs: readonly tf.Tensor[],
  attrs: FusedAdamAttrs,
): { params: tf.Tensor[]; mu: tf.Tensor[]; nu: tf.Tensor[] } {
  ensureFusedAdamKernel();
  const inputs: Record<string, tf.Tensor> = {};
  ps.forEach((p, i) => {
    const [pn, gn, mn, vn] = leafNames(i) as [string, string, string, string];
    inputs[pn] = p;
    inputs[gn] = gs[i] as tf.Tensor;
    inputs[mn] = ms[i] as tf.Tensor;
    inputs[vn] = vs[i] as tf.Tensor;
  });
  const callAttrs: CallAttrs = { ...attrs, leaves: ps.length };
  const outs = (ps.length === 0 ? [] : tf.engine().runKernel(FUSED_ADAM_KERNEL, inputs, callAttrs as unknown as tf.NamedAttrMap)) as unknown as tf.Tensor[];
  const pick = (j: number) => ps.map((_, i) => outs[3 * i + j] as tf.Tensor);
  return { params: pick(0), mu: pick(1), nu: pick(2) };
}
