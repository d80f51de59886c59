import * as tf from '@tensorflow/tfjs-core';
import { broadcast_util, util } from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { LoptError, checkOneOf } from '@lopt/core';
import { withScope, type KernelScope } from './kernel_scope.js';
import { wasmBackendIfStarted } from './kernel_scope.js';

// tfjs-backend-wasm 4.22 multiplies on XNNPACK only when neither operand is transposed and both
// have batch size 1; every other layout (x^T dy and dy W^T in every dense layer's backward
// pass, batched products) runs a scalar blocked loop 8-15x slower. lopt's BatchMatMul and
// _FusedMatMul for WASM rewrite such calls into the fast layout (an explicit Transpose, or a
// Reshape that folds a's batch into its rows) and delegate to the backend's own kernel.

/** The layouts a probe found slow, which the replacement kernels rewrite. */
export interface MatMulSlowLayouts {
  /** `transposeA` products (x^T dy: a dense layer's weight gradient). */
  readonly transposeA: boolean;
  /** `transposeB` products (dy W^T: a dense layer's input gradient). */
  readonly transposeB: boolean;
  /** A batched `a` times an unbatched `b` (a rank-3 input through a dense layer). */
  readonly batched: boolean;
}

/** One probe comparison: the installed kernel on a layout vs the same product in the fast layout. */
export interface MatMulProbeCase {
  /** Fastest of the timed repetitions of the kernel called on the layout (ms). */
  readonly directMs: number;
  /** Fastest repetition of the rewrite: Transpose/Reshape, then the kernel's fast layout (ms). */
  readonly composedMs: number;
  /** `directMs > SLOW_FACTOR * composedMs`. */
  readonly slow: boolean;
}

/** What {@link probeMatMulKernel} measured, per layout. */
export type MatMulProbe = { readonly [L in keyof MatMulSlowLayouts]: MatMulProbeCase };

/** The matmul kernels lopt may replace on WASM. */
export const MATMUL_KERNELS: readonly string[] = [tf.BatchMatMul, tf._FusedMatMul];

/** A layout counts as slow when the installed kernel takes more than this many times the rewrite. */
export const SLOW_FACTOR = 2;
const PROBE_REPS = 4;

/** The backend's own kernels that lopt's replacements delegate to, by kernel name. */
const adopted = new Map<string, KernelConfig>();
/** The layouts each replacement rewrites (set by the probe, or by {@link setMatMulRewrites}). */
const rewrites = new Map<string, MatMulSlowLayouts>();
const probes = new Map<string, MatMulProbe>();

const swaps: number[][] = [];
/** The permutation that swaps the last two axes of a rank-`rank` tensor (cached: matmuls are per-step hot). */
function swapLastTwo(rank: number): number[] {
  let perm = swaps[rank];
  if (perm === undefined) {
    perm = Array.from({ length: rank }, (_, i) => i);
    perm[rank - 2] = rank - 1;
    perm[rank - 1] = rank - 2;
    swaps[rank] = perm;
  }
  return perm;
}

function transposed(s: KernelScope, x: TensorInfo): TensorInfo {
  return s.run(tf.Transpose, { x }, { perm: swapLastTwo(x.shape.length) });
}

function batchSize(x: TensorInfo): number {
  return util.sizeFromShape(x.shape.slice(0, -2));
}

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/**
 * One matmul call in the backend's fast layout, given the layouts to rewrite: transposed
 * operands are transposed explicitly; a batched `a` with an unbatched `b` is folded into
 * `[1, batch * rows, inner]` (the output's memory layout is unchanged, so bias and PReLU
 * weights apply as before; the backend's own batched fused PReLU is wrong in 4.22, the folded
 * one is right).
 */
function rewrittenMatMul(name: string, original: KernelFunc, layouts: MatMulSlowLayouts): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { a, b, ...rest } = inputs as Record<string, TensorInfo | undefined>;
    const { transposeA, transposeB } = attrs as unknown as MatMulAttrs;
    if (a === undefined || b === undefined) return original(args);
    const fold = layouts.batched && batchSize(a) > 1 && batchSize(b) === 1;
    const fixA = transposeA && (layouts.transposeA || fold);
    const fixB = transposeB && layouts.transposeB;
    if (!fixA && !fixB && !fold) return original(args);
    return withScope(backend as KernelBackend, 'wasm', (s) => {
      let a2 = fixA ? transposed(s, a) : a;
      let b2 = fixB ? transposed(s, b) : b;
      const tB = transposeB && !fixB;
      const rows = a2.shape[a2.shape.length - 2]!;
      if (fold) {
        a2 = s.reshape(a2, [1, batchSize(a) * rows, a2.shape[a2.shape.length - 1]!]);
        b2 = s.reshape(b2, [1, ...b2.shape.slice(-2)]);
      }
      const out = s.call(name, original, { ...(rest as Record<string, TensorInfo>), a: a2, b: b2 }, {
        ...(attrs as NamedAttrMap),
        transposeA: transposeA && !fixA,
        transposeB: tB,
      });
      if (!fold) return out;
      const batchShape = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
      return s.reshape(out, [...batchShape, rows, out.shape[out.shape.length - 1]!]);
    });
  };
}

/** The replacement kernel for `name`: rewrites the slow layouts, delegates to the adopted original. */
function replacementFunc(name: string): KernelFunc {
  return (args) => {
    const original = adopted.get(name);
    const layouts = rewrites.get(name);
    if (original === undefined || layouts === undefined) {
      throw new Error(`@lopt/backend: the WASM ${name} replacement was registered without the backend's own kernel to delegate to.`);
    }
    return rewrittenMatMul(name, original.kernelFunc, layouts)(args);
  };
}

function replacementConfig(name: string): KernelConfig {
  return {
    kernelName: name,
    backendName: 'wasm',
    // a backend started again (after removeBackend) sets up the kernel lopt delegates to
    setupFunc: (backend) => adopted.get(name)?.setupFunc?.(backend),
    kernelFunc: replacementFunc(name),
  };
}

/** lopt's WASM `BatchMatMul`: the backend's kernel, with the layouts a probe found slow rewritten into its fast layout. */
export const batchMatMulConfig: KernelConfig = replacementConfig(tf.BatchMatMul);
/** lopt's WASM `_FusedMatMul` (tfjs-layers' dense layers, `tf.fused.matMul`), rewritten the same way. */
export const fusedMatMulConfig: KernelConfig = replacementConfig(tf._FusedMatMul);

/** Shapes of the probe products: large enough that the slow loop shows, small enough to take a few ms. */
const PROBE_SHAPES: { readonly [L in keyof MatMulSlowLayouts]: { a: number[]; b: number[]; attrs: MatMulAttrs } } = {
  transposeA: { a: [1, 256, 64], b: [1, 256, 64], attrs: { transposeA: true, transposeB: false } },
  transposeB: { a: [1, 64, 256], b: [1, 64, 256], attrs: { transposeA: false, transposeB: true } },
  batched: { a: [4, 16, 256], b: [1, 256, 64], attrs: { transposeA: false, transposeB: false } },
};

function probeLayout(backend: KernelBackend, name: string, original: KernelFunc, layout: keyof MatMulSlowLayouts): MatMulProbeCase {
  const { a, b, attrs } = PROBE_SHAPES[layout];
  const host = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 17) / 17 - 0.5);
  const av = host(util.sizeFromShape(a));
  const bv = host(util.sizeFromShape(b));
  const only: MatMulSlowLayouts = { transposeA: layout === 'transposeA', transposeB: layout === 'transposeB', batched: layout === 'batched' };
  const fast = rewrittenMatMul(name, original, only);
  const fused = name === tf._FusedMatMul ? { activation: 'linear', leakyreluAlpha: 0 } : {};
  // fresh operands every repetition (XNNPACK caches the packed weights per tensor, and training
  // multiplies new tensors every step); only the kernel call is timed
  const once = (kernel: KernelFunc): number => {
    const ai = { dataId: backend.write(av, a, 'float32'), shape: a, dtype: 'float32' as const };
    const bi = { dataId: backend.write(bv, b, 'float32'), shape: b, dtype: 'float32' as const };
    const t0 = performance.now();
    const out = kernel({ inputs: { a: ai, b: bi }, backend, attrs: { ...attrs, ...fused } }) as TensorInfo;
    const ms = performance.now() - t0;
    for (const t of [ai, bi, out]) backend.disposeData(t.dataId);
    return ms;
  };
  once(original);
  once(fast);
  let directMs = Infinity;
  let composedMs = Infinity;
  for (let i = 0; i < PROBE_REPS; i++) {
    directMs = Math.min(directMs, once(original));
    composedMs = Math.min(composedMs, once(fast));
  }
  return { directMs, composedMs, slow: directMs > SLOW_FACTOR * composedMs };
}

/**
 * Times the backend's own WASM `kernelName` (`BatchMatMul` or `_FusedMatMul`) on each layout
 * it may run slowly (transposed a, transposed b, batched a with unbatched b) against the same
 * product rewritten into its fast layout: interleaved repetitions on fresh operands, fastest of
 * each. Returns undefined when the WASM backend has not started or has no such kernel. The
 * result is remembered (one probe per kernel per process). `kernelName` must be one of
 * {@link MATMUL_KERNELS} (else `LoptError('INVALID_OPTION')`).
 */
export function probeMatMulKernel(kernelName: string): MatMulProbe | undefined {
  checkOneOf('kernelName', kernelName, MATMUL_KERNELS);
  const known = probes.get(kernelName);
  if (known !== undefined) return known;
  const backend = wasmBackendIfStarted();
  const installed = tf.getKernel(kernelName, 'wasm');
  if (backend === undefined || installed === undefined) return undefined;
  const original = installed.kernelFunc === replacementConfigOf(kernelName)?.kernelFunc ? adopted.get(kernelName) : installed;
  if (original === undefined) return undefined;
  const probe: MatMulProbe = {
    transposeA: probeLayout(backend, kernelName, original.kernelFunc, 'transposeA'),
    transposeB: probeLayout(backend, kernelName, original.kernelFunc, 'transposeB'),
    batched: probeLayout(backend, kernelName, original.kernelFunc, 'batched'),
  };
  probes.set(kernelName, probe);
  return probe;
}

function replacementConfigOf(kernelName: string): KernelConfig | undefined {
  if (kernelName === tf.BatchMatMul) return batchMatMulConfig;
  if (kernelName === tf._FusedMatMul) return fusedMatMulConfig;
  return undefined;
}

/**
 * Whether the registered WASM `kernelName` is slow on some layout (see {@link probeMatMulKernel});
 * when it is, the kernel is adopted as the one lopt's replacement delegates to, with the slow
 * layouts to rewrite. Undefined when the WASM backend has not started (the probe needs it).
 */
export function matMulKernelIsSlow(kernelName: string): boolean | undefined {
  const installed = tf.getKernel(kernelName, 'wasm');
  const probe = probeMatMulKernel(kernelName);
  if (probe === undefined || installed === undefined) return undefined;
  const layouts: MatMulSlowLayouts = { transposeA: probe.transposeA.slow, transposeB: probe.transposeB.slow, batched: probe.batched.slow };
  if (!layouts.transposeA && !layouts.transposeB && !layouts.batched) return false;
  if (installed.kernelFunc !== replacementConfigOf(kernelName)?.kernelFunc) adopted.set(kernelName, installed);
  rewrites.set(kernelName, layouts);
  return true;
}

const LAYOUTS: readonly (keyof MatMulSlowLayouts)[] = ['transposeA', 'transposeB', 'batched'];

/**
 * Sets the layouts lopt's registered `kernelName` (`BatchMatMul` or `_FusedMatMul`) replacement
 * rewrites; all `false` sends every call to the backend's own kernel unchanged. For benchmarks
 * that compare both routes in one process, and for tests. Returns the previous setting. Throws
 * `LoptError('INVALID_OPTION')` for another kernel name or a layout that is not a boolean, and
 * `LoptError('BACKEND_UNAVAILABLE')` when the replacement is not registered (the WASM backend
 * not started by `initBackend`, or its kernel found fast by the probe).
 */
export function setMatMulRewrites(kernelName: string, layouts: MatMulSlowLayouts): MatMulSlowLayouts {
  checkOneOf('kernelName', kernelName, MATMUL_KERNELS);
  for (const layout of LAYOUTS) {
    const value = (layouts as unknown as Record<string, unknown> | undefined)?.[layout];
    if (typeof value !== 'boolean') {
      throw new LoptError('INVALID_OPTION', `Option 'layouts.${layout}' must be a boolean, got ${JSON.stringify(value)}.`, { option: `layouts.${layout}` });
    }
  }
  const previous = rewrites.get(kernelName);
  if (previous === undefined || adopted.get(kernelName) === undefined) {
    throw new LoptError(
      'BACKEND_UNAVAILABLE',
      `lopt's WASM ${kernelName} is not registered: start the WASM backend with initBackend first (it is also not registered when the probe finds the backend's own kernel fast).`,
      { option: 'kernelName' },
    );
  }
  rewrites.set(kernelName, { transposeA: layouts.transposeA, transposeB: layouts.transposeB, batched: layouts.batched });
  return previous;
}

/** The layouts lopt's WASM `kernelName` replacement rewrites, or undefined when it is not registered. */
export function matMulRewrites(kernelName: string): MatMulSlowLayouts | undefined {
  checkOneOf('kernelName', kernelName, MATMUL_KERNELS);
  const layouts = rewrites.get(kernelName);
  return layouts === undefined ? undefined : { ...layouts };
}
