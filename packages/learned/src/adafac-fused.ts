import * as tf from '@tensorflow/tfjs-core';
import { LoptError, compileEmbeddedWasm } from '@lopt/core';
import { factoredDims, isTapeRecording, tanhEmbedding, type FactoredSlot } from './common.js';
import { decayToParam } from './common.js';
import type { AdafacDecayConfig, AdafacTheta } from './adafac-features.js';
import { ADAFAC_WASM_BASE64 } from './adafac-wasm-binary.js';

/** Exports of the fused kernel module (assembly/adafac.ts, built with an imported memory). */
interface KernelExports {
  rowColSums(g: number, R: number, C: number, rowSum: number, colSum: number): void;
  setScratch(ptr: number): void;
  stats(g: number, p: number, m: number, r: number, om: number, or: number, A: number, B: number, R: number, C: number, dec: number, stats: number): void;
  apply(g: number, p: number, m: number, r: number, op: number, A: number, B: number, ci: number, cj: number, R: number, C: number, w: number): void;
}

/** The part of tfjs's WASM backend the zero-copy path uses (tfjs-backend-wasm 4.x internals). */
interface WasmBackendLike {
  wasm: { asm: { memory: WebAssembly.Memory }; _malloc(bytes: number): number; _free(ptr: number): void };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): { dataId: object; shape: number[]; dtype: 'float32' };
}

let kernelModule: WebAssembly.Module | null | undefined;

/** The compiled kernel (once; 8 KB), or null when this runtime lacks WebAssembly SIMD. */
function kernelModuleOrNull(): WebAssembly.Module | null {
  if (kernelModule === undefined) {
    kernelModule = compileEmbeddedWasm(ADAFAC_WASM_BASE64);
  }
  return kernelModule;
}

function instantiate(memory: WebAssembly.Memory): KernelExports {
  const mod = kernelModuleOrNull();
  if (mod === null) throw new LoptError('BACKEND_UNAVAILABLE', 'The fused adafacMlpLOpt kernel needs WebAssembly SIMD, which this runtime lacks; use { fused: false }.');
  return new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as KernelExports;
}

/** Kernel instances that live in tfjs-wasm's own memory (one per backend memory), with their scratch. */
const sharedKernels = new WeakMap<WebAssembly.Memory, KernelExports>();
/** The kernel instance with its own memory (CPU backend): data is copied in and out. */
let ownKernel: { k: KernelExports; memory: WebAssembly.Memory } | undefined;

/** The tfjs WASM backend, when it is active and exposes what the zero-copy path needs. */
function wasmBackend(): WasmBackendLike | null {
  if (tf.getBackend() !== 'wasm') return null;
  const b = tf.backend() as unknown as Partial<WasmBackendLike>;
  const ok = b.wasm?.asm?.memory instanceof WebAssembly.Memory && typeof b.wasm._malloc === 'function' && typeof b.makeOutput === 'function' && b.dataIdMap !== undefined;
  return ok ? (b as WasmBackendLike) : null;
}

/** True when the fused kernel can run now: WebAssembly SIMD works, the backend is `cpu` or `wasm`, and no gradient tape is recording. */
export function fusedAdafacAvailable(): boolean {
  const backend = tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu') return false;
  if (isTapeRecording()) return false;
  return kernelModuleOrNull() !== null;
}

/** theta of the default AdafacMLPLOpt as plain arrays for the fused kernel. */
export interface FusedTheta {
  /** Momentum decays (3). */
  readonly mom: Float64Array;
  /** Rms decay (clipped, 1). */
  readonly rms: number;
  /** Factored decays (clipped, 3). */
  readonly fac: Float64Array;
  /** W0 `[39][4]` row-major. */
  readonly w0: Float32Array;
  /** b0 `[4]`. */
  readonly b0: Float32Array;
  /** W1 `[4][4]`. */
  readonly w1: Float32Array;
  /** b1. */
  readonly b1: Float32Array;
  /** W2 `[4][2]`. */
  readonly w2: Float32Array;
  /** b2. */
  readonly b2: Float32Array;
  /** expMult. */
  readonly expMult: number;
  /** stepMult. */
  readonly stepMult: number;
}

const f32 = (x: number): number => Math.fround(x);

/** The first `k` columns of a row-major `[rows, cols]` matrix. */
function firstColumns(w: Float32Array, k: number): Float32Array {
  const cols = w.length / 4;
  if (cols === k) return w;
  const out = new Float32Array(4 * k);
  for (let r = 0; r < 4; r++) for (let c = 0; c < k; c++) out[r * k + c] = w[r * cols + c] as number;
  return out;
}

/** Reads theta (a small, synchronous download) into the arrays the kernel needs. */
export function prepareFusedTheta(theta: AdafacTheta, cfg: AdafacDecayConfig & { expMult: number; stepMult: number }): FusedTheta {
  const nn = theta.nn['~'];
  const arr = (t: tf.Tensor | undefined, name: string): Float32Array => {
    if (t === undefined) throw new LoptError('INTERNAL', `theta.nn['~'].${name} is missing`);
    return Float32Array.from(t.dataSync() as Float32Array);
  };
  const decays = (init: readonly number[], off: tf.Tensor, clip: boolean): Float64Array => {
    const o = off.dataSync();
    return Float64Array.from(init, (d, i) => {
      const v = f32(1 - f32(Math.exp(f32(10 * f32(f32(decayToParam(d)) + (o[i] as number))))));
      return clip ? Math.min(1, Math.max(0, v)) : v;
    });
  };
  return {
    mom: decays(cfg.initialMomentumDecays, theta.momentum_decays, false),
    rms: decays(cfg.initialRmsDecays, theta.rms_decays, true)[0] as number,
    fac: decays(cfg.initialAdafactorDecays, theta.adafactor_decays, true),
    w0: arr(nn.w0, 'w0'),
    b0: arr(nn.b0, 'b0'),
    w1: arr(nn.w1, 'w1'),
    b1: arr(nn.b1, 'b1'),
    // The kernel computes the first two outputs (direction, magnitude) of a wider head.
    w2: firstColumns(arr(nn.w2, 'w2'), 2),
    b2: arr(nn.b2, 'b2').slice(0, 2),
    expMult: cfg.expMult,
    stepMult: cfg.stepMult,
  };
}

/** Reads a float32 tensor's values without an extra copy where the backend allows (valid until the next tfjs allocation). */
function readView(t: tf.Tensor): Float32Array {
  if (tf.getBackend() === 'wasm') {
    const backend = tf.backend() as unknown as { typedArrayFromHeap(info: { shape: number[]; dtype: string; dataId: object }): Float32Array };
    return backend.typedArrayFromHeap({ shape: t.shape, dtype: t.dtype, dataId: t.dataId });
  }
  return t.dataSync() as Float32Array;
}

/** A tensor holding a copy of `values`. */
function makeTensor(values: Float32Array, shape: number[]): tf.Tensor {
  // The WASM backend copies into its heap on write; the CPU backend keeps the array, so copy.
  return tf.tensor(tf.getBackend() === 'wasm' ? values : values.slice(), shape, 'float32');
}

/** What one fused step returns for a tensor. */
export interface FusedLeafResult {
  /** New parameter. */
  readonly p: tf.Tensor;
  /** New momenta `[3, ...shape]`. */
  readonly m: tf.Tensor;
  /** New rms `[1, ...shape]`. */
  readonly rms: tf.Tensor;
  /** New factored state. */
  readonly fac: FactoredSlot;
}

const rsqrt = (x: number): number => 1 / Math.sqrt(x);
const safeRsqrt = (x: number): number => 1 / Math.sqrt(Math.max(x, 1e-9));

/** Feature index (reference order) of each of the 16 per-element features the kernel computes. */
const KERNEL_FEATURES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 25, 26, 27];

/** First-layer bias with the 11 step features folded in. */
function foldedBias(ft: FusedTheta, iteration: number): Float64Array {
  const t = tanhEmbedding(iteration).map(f32);
  const b = Float64Array.from(ft.b0);
  for (let o = 0; o < 4; o++) for (let s = 0; s < 11; s++) b[o] = (b[o] as number) + (t[s] as number) * (ft.w0[(28 + s) * 4 + o] as number);
  return b;
}

/**
 * Where one factored step's buffers live. With the tfjs WASM backend the kernel runs inside
 * tfjs's own memory: inputs are read where the tensors are, outputs are written into
 * tensors the backend allocates (no copies). Otherwise (CPU backend) the kernel has its own
 * memory and data is copied in and out.
 */
export interface KernelSite {
  readonly k: KernelExports;
  /** Byte address of a tensor's float32 data. */
  input(t: tf.Tensor): number;
  /** Byte address of a new output of `shape`; its tensor comes from `finish`. */
  output(shape: number[]): number;
  /** Byte address of `floats` float32 temporaries (16-byte aligned). */
  temp(floats: number): number;
  /** The memory (views must be re-created after any allocation). */
  buffer(): ArrayBuffer;
  /** The output tensors, in `output` order; releases the temporaries. */
  finish(): tf.Tensor[];
}

function sharedSite(b: WasmBackendLike, totalTemps: number): KernelSite {
  const memory = b.wasm.asm.memory;
  let k = sharedKernels.get(memory);
  if (k === undefined) {
    k = instantiate(memory);
    k.setScratch(b.wasm._malloc(1024));
    sharedKernels.set(memory, k);
  }
  const outs: { dataId: object; shape: number[]; dtype: 'float32' }[] = [];
  const block = b.wasm._malloc(totalTemps * 4 + 16 * 32);
  let next = Math.ceil(block / 16) * 16;
  return {
    k,
    input(t) {
      const d = b.dataIdMap.get(t.dataId);
      if (d === undefined) throw new LoptError('INTERNAL', 'tensor data is not on the WASM backend');
      return d.memoryOffset;
    },
    output(shape) {
      const info = b.makeOutput(shape, 'float32');
      outs.push(info);
      return (b.dataIdMap.get(info.dataId) as { memoryOffset: number }).memoryOffset;
    },
    temp(floats) {
      const at = next;
      next += Math.ceil(floats / 4) * 16;
      return at;
    },
    buffer: () => memory.buffer,
    finish() {
      b.wasm._free(block);
      const engine = tf.engine() as unknown as { makeTensorFromTensorInfo(info: object): tf.Tensor };
      return outs.map((o) => engine.makeTensorFromTensorInfo(o));
    },
  };
}

function ownSite(bytesNeeded: number): KernelSite {
  if (ownKernel === undefined) {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const k = instantiate(memory);
    k.setScratch(65536 - 1024);
    ownKernel = { k, memory };
  }
  const { k, memory } = ownKernel;
  const have = memory.buffer.byteLength;
  const want = 65536 + bytesNeeded + 16 * 64;
  if (want > have) memory.grow(Math.ceil((want - have) / 65536));
  let next = 65536;
  const alloc = (floats: number): number => {
    const at = next;
    next += Math.ceil(floats / 4) * 16;
    return at;
  };
  const outs: { at: number; shape: number[] }[] = [];
  return {
    k,
    input(t) {
      const at = alloc(t.size);
      new Float32Array(memory.buffer).set(t.dataSync() as Float32Array, at / 4);
      return at;
    },
    output(shape) {
      const at = alloc(shape.reduce((a, b) => a * b, 1));
      outs.push({ at, shape });
      return at;
    },
    temp: alloc,
    buffer: () => memory.buffer,
    finish() {
      const heap = new Float32Array(memory.buffer);
      return outs.map((o) => {
        const n = o.shape.reduce((a, b) => a * b, 1);
        return tf.tensor(heap.slice(o.at / 4, o.at / 4 + n), o.shape, 'float32');
      });
    },
  };
}

/** Kernel addresses of one factored step: inputs, outputs (`[R,C]`, `[3,R,C]`, `[1,R,C]`) and temporaries. */
export interface FactoredAddresses {
  readonly G: number;
  readonly P: number;
  readonly M: number;
  readonly RMS: number;
  readonly OP: number;
  readonly OM: number;
  readonly OR: number;
}

/** Temporaries of one factored step (reusable from one step to the next). */
export interface FactoredTemps {
  readonly W: number;
  readonly DEC: number;
  readonly STATS: number;
  readonly A: number;
  readonly B: number;
  readonly ROWSUM: number;
  readonly COLSUM: number;
  readonly CI: number;
  readonly CJ: number;
}

/** Float32 temporaries one `[R, C]` factored step needs. */
export function factoredTempFloats(R: number, C: number): number {
  return 100 + 4 + 32 + 3 * R + 3 * C + R + C + 4 * R + 4 * C + 16 * 4;
}

/** Allocates the temporaries of an `[R, C]` step on `site`. */
export function factoredTemps(site: KernelSite, R: number, C: number): FactoredTemps {
  return {
    W: site.temp(100),
    DEC: site.temp(4),
    STATS: site.temp(32),
    A: site.temp(3 * R),
    B: site.temp(3 * C),
    ROWSUM: site.temp(R),
    COLSUM: site.temp(C),
    CI: site.temp(4 * R),
    CJ: site.temp(4 * C),
  };
}

/** Factored accumulators (small: R + C values per decay), in float64 then rounded; returns the new ones and the factors. */
function factoredAccumulators(ft: FusedTheta, heap: Float32Array, t: FactoredTemps, R: number, C: number, d0: number, rowPrev: Float32Array, colPrev: Float32Array) {
  const lenRow = d0 === 1 ? R : C; // v_row drops axis d0
  const lenCol = d0 === 1 ? C : R;
  const meanAxis1 = (i: number): number => (heap[t.ROWSUM / 4 + i] as number) / C; // per storage row
  const meanAxis0 = (j: number): number => (heap[t.COLSUM / 4 + j] as number) / R; // per storage column
  const rowMean = d0 === 1 ? meanAxis1 : meanAxis0;
  const colMean = d0 === 1 ? meanAxis0 : meanAxis1;
  const rowNext = new Float32Array(3 * lenRow);
  const colNext = new Float32Array(3 * lenCol);
  const rowFactor = new Float64Array(3 * lenRow);
  const colFactor = new Float64Array(3 * lenCol);
  for (let kk = 0; kk < 3; kk++) {
    const c = ft.fac[kk] as number;
    let mean = 0;
    for (let x = 0; x < lenRow; x++) {
      const v = f32(c * (rowPrev[kk * lenRow + x] as number) + (1 - c) * rowMean(x));
      rowNext[kk * lenRow + x] = v;
      mean += v;
    }
    mean /= lenRow;
    for (let x = 0; x < lenRow; x++) rowFactor[kk * lenRow + x] = safeRsqrt((rowNext[kk * lenRow + x] as number) / (mean + 1e-9));
    for (let y = 0; y < lenCol; y++) {
      const v = f32(c * (colPrev[kk * lenCol + y] as number) + (1 - c) * colMean(y));
      colNext[kk * lenCol + y] = v;
      colFactor[kk * lenCol + y] = safeRsqrt(v);
    }
  }
  return { rowNext, colNext, rowFactor, colFactor, lenRow, lenCol };
}

/** Writes the first-layer weights (feature scales folded in), the step-folded bias and the rest of the MLP at `W`. */
function writeWeights(ft: FusedTheta, heap: Float32Array, sums: Float64Array, W: number, N: number, iteration: number): void {
  for (let f = 0; f < 16; f++) {
    const sc = rsqrt(1e-5 + (sums[f] as number) / N);
    const ref = KERNEL_FEATURES[f] as number;
    for (let o = 0; o < 4; o++) heap[W / 4 + f * 4 + o] = sc * (ft.w0[ref * 4 + o] as number);
  }
  const bias = foldedBias(ft, iteration);
  for (let o = 0; o < 4; o++) heap[W / 4 + 64 + o] = bias[o] as number;
  heap.set(ft.w1, W / 4 + 68);
  heap.set(ft.b1, W / 4 + 84);
  heap.set(ft.w2, W / 4 + 88);
  heap.set(ft.b2, W / 4 + 96);
  heap[W / 4 + 98] = ft.expMult;
  heap[W / 4 + 99] = ft.stepMult;
}

/**
 * Tiled row/column features: value, rsqrt(value + 1e-8); their scales use the mean over the
 * vector (each value is repeated the same number of times in the tensor).
 */
function tiledContribution(ft: FusedTheta, vals: Float32Array, len: number, featBase: number, rsqrtBase: number): Float64Array {
  const out = new Float64Array(4 * len);
  for (let kk = 0; kk < 3; kk++) {
    let sv = 0;
    let sr = 0;
    for (let x = 0; x < len; x++) {
      const v = vals[kk * len + x] as number;
      sv += v * v;
      sr += 1 / (v + 1e-8);
    }
    const scaleV = rsqrt(1e-5 + sv / len);
    const scaleR = rsqrt(1e-5 + sr / len);
    for (let x = 0; x < len; x++) {
      const v = vals[kk * len + x] as number;
      const fv = v * scaleV;
      const fr = rsqrt(v + 1e-8) * scaleR;
      for (let o = 0; o < 4; o++) {
        out[o * len + x] = (out[o * len + x] as number) + fv * (ft.w0[(featBase + kk) * 4 + o] as number) + fr * (ft.w0[(rsqrtBase + kk) * 4 + o] as number);
      }
    }
  }
  return out;
}

/**
 * The kernel calls of one `[R, C]` factored step at the given addresses (one copy of a
 * stacked tensor, or a whole tensor); returns the new factored accumulators `[3, lenRow]`,
 * `[3, lenCol]`.
 */
export function factoredStepAt(site: KernelSite, t: FactoredTemps, ft: FusedTheta, iteration: number, a: FactoredAddresses, R: number, C: number, prev: { row: Float32Array; col: Float32Array }): { row: Float32Array; col: Float32Array } {
  const k = site.k;
  const N = R * C;
  const d0 = (factoredDims([R, C]) as [number, number])[1];
  let heap = new Float32Array(site.buffer());
  heap.fill(0, t.COLSUM / 4, t.COLSUM / 4 + C);
  k.rowColSums(a.G, R, C, t.ROWSUM, t.COLSUM);
  const acc = factoredAccumulators(ft, heap, t, R, C, d0, prev.row, prev.col);
  // A: factor per storage row i, B: per storage column j.
  const [aF, bF] = d0 === 1 ? [acc.rowFactor, acc.colFactor] : [acc.colFactor, acc.rowFactor];
  heap.set(aF, t.A / 4);
  heap.set(bF, t.B / 4);
  heap[t.DEC / 4] = ft.mom[0] as number;
  heap[t.DEC / 4 + 1] = ft.mom[1] as number;
  heap[t.DEC / 4 + 2] = ft.mom[2] as number;
  heap[t.DEC / 4 + 3] = ft.rms;
  new Float64Array(site.buffer(), t.STATS, 16).fill(0);
  k.stats(a.G, a.P, a.M, a.RMS, a.OM, a.OR, t.A, t.B, R, C, t.DEC, t.STATS);
  heap = new Float32Array(site.buffer());
  // Normalization scales of the 16 per-element features, folded into W0.
  writeWeights(ft, heap, new Float64Array(site.buffer(), t.STATS, 16), t.W, N, iteration);
  const rowC = tiledContribution(ft, acc.rowNext, acc.lenRow, 13, 19);
  const colC = tiledContribution(ft, acc.colNext, acc.lenCol, 16, 22);
  const [ci, cj] = d0 === 1 ? [rowC, colC] : [colC, rowC];
  heap.set(ci, t.CI / 4);
  heap.set(cj, t.CJ / 4);
  k.apply(a.G, a.P, a.OM, a.OR, a.OP, t.A, t.B, t.CI, t.CJ, R, C, t.W);
  return { row: acc.rowNext, col: acc.colNext };
}

/**
 * Where the kernel runs for one step: inside tfjs-wasm's memory (zero copy) when the WASM
 * backend is active, else in the kernel's own memory. `extraBytes` is what `input`/`output`
 * need in the own-memory case.
 */
export function kernelSite(tempFloats: number, extraBytes: number): KernelSite {
  const wb = wasmBackend();
  return wb !== null ? sharedSite(wb, tempFloats) : ownSite(extraBytes + tempFloats * 4);
}

/** The zero-copy site in tfjs-wasm's memory, or null when the WASM backend is not active. */
export function sharedKernelSite(tempFloats: number): KernelSite | null {
  const wb = wasmBackend();
  return wb === null ? null : sharedSite(wb, tempFloats);
}

/**
 * One fused AdafacMLPLOpt step for a tensor: the WebAssembly SIMD kernel for rank-2
 * tensors and plain JS for rank < 2 (biases and scalars, small). Throws for rank > 2 (the
 * caller uses the composed path there). Matches the composed reference to float32 rounding.
 */
export function fusedAdafacStep(ft: FusedTheta, iteration: number, p: tf.Tensor, g: tf.Tensor, prev: { m: tf.Tensor; rms: tf.Tensor; fac: FactoredSlot }): FusedLeafResult {
  if (p.rank > 2) throw new LoptError('INTERNAL', 'fusedAdafacStep handles rank <= 2');
  if (p.rank < 2) return unfactoredStep(ft, iteration, p, g, prev);
  if (!('row' in prev.fac)) throw new LoptError('INTERNAL', 'unfactored state for a rank-2 tensor');
  const [R, C] = p.shape as [number, number];
  const N = R * C;
  const rowPrev = Float32Array.from(prev.fac.row.dataSync() as Float32Array);
  const colPrev = Float32Array.from(prev.fac.col.dataSync() as Float32Array);
  const site = kernelSite(factoredTempFloats(R, C), (6 * N + 5 * N) * 4);
  const a = { G: site.input(g), P: site.input(p), M: site.input(prev.m), RMS: site.input(prev.rms), OP: site.output([R, C]), OM: site.output([3, R, C]), OR: site.output([1, R, C]) };
  const fac = factoredStepAt(site, factoredTemps(site, R, C), ft, iteration, a, R, C, { row: rowPrev, col: colPrev });
  const [newP, newM, newR] = site.finish() as [tf.Tensor, tf.Tensor, tf.Tensor];
  return {
    p: newP,
    m: newM,
    rms: newR,
    fac: { row: tf.tensor(fac.row, prev.fac.row.shape, 'float32'), col: tf.tensor(fac.col, prev.fac.col.shape, 'float32') },
  };
}

/** The rank < 2 case (unfactored v), in plain JS: these tensors are biases and scalars. */
function unfactoredStep(ft: FusedTheta, iteration: number, p: tf.Tensor, g: tf.Tensor, prev: { m: tf.Tensor; rms: tf.Tensor; fac: FactoredSlot }): FusedLeafResult {
  if (!('diag' in prev.fac)) throw new LoptError('INTERNAL', 'factored state for a rank < 2 tensor');
  const n = p.size;
  const gv = new Float32Array(readView(g));
  const pv = new Float32Array(readView(p));
  const mv = new Float32Array(readView(prev.m));
  const rv = new Float32Array(readView(prev.rms));
  const vv = new Float32Array(readView(prev.fac.diag));
  const out = new Float32Array(n);
  unfactoredStepAt(ft, iteration, n, { g: gv, p: pv, m: mv, rms: rv, v: vv, out });
  return {
    p: makeTensor(out, p.shape),
    m: makeTensor(mv, [3, ...p.shape]),
    rms: makeTensor(rv, [1, ...p.shape]),
    fac: { diag: makeTensor(vv, [3, ...p.shape]) },
  };
}

/** Copies of a stacked tensor's values (for {@link unfactoredStepAt} on the copies of a stacked leaf). */
export function readCopy(t: tf.Tensor): Float32Array {
  return new Float32Array(readView(t));
}

/**
 * The unfactored step of `n` values on arrays (one copy of a stacked tensor, or a whole
 * tensor): `m` `[3, n]`, `rms` `[1, n]` and `v` `[3, n]` are updated in place, the new
 * parameter goes to `out`.
 */
export function unfactoredStepAt(
  ft: FusedTheta,
  iteration: number,
  n: number,
  a: { g: Float32Array; p: Float32Array; m: Float32Array; rms: Float32Array; v: Float32Array; out: Float32Array },
): void {
  const { g: gv, p: pv, m: mv, rms: rv, v: vv, out } = a;
  const F = 28;
  const x = new Float64Array(F * n);
  const c = ft.rms;
  const mom = ft.mom;
  const fac = ft.fac;
  for (let e = 0; e < n; e++) {
    const gg = gv[e] as number;
    const r = f32(c * (rv[e] as number) + (1 - c) * gg * gg);
    rv[e] = r;
    const q = 1 / Math.sqrt(r + 1e-6);
    x[e] = gg;
    x[n + e] = pv[e] as number;
    x[5 * n + e] = r;
    x[9 * n + e] = q;
    for (let kk = 0; kk < 3; kk++) {
      const d = mom[kk] as number;
      const m = f32(d * (mv[kk * n + e] as number) + (1 - d) * gg);
      mv[kk * n + e] = m;
      const cf = fac[kk] as number;
      const v = f32(cf * (vv[kk * n + e] as number) + (1 - cf) * (gg * gg + 1e-30));
      vv[kk * n + e] = v;
      const rs8 = 1 / Math.sqrt(v + 1e-8);
      x[(2 + kk) * n + e] = m;
      x[(6 + kk) * n + e] = m * q;
      x[(10 + kk) * n + e] = gg / Math.sqrt(Math.max(v + 1e-9, 1e-9));
      x[(13 + kk) * n + e] = v;
      x[(16 + kk) * n + e] = v;
      x[(19 + kk) * n + e] = rs8;
      x[(22 + kk) * n + e] = rs8;
      x[(25 + kk) * n + e] = m / Math.sqrt(v + 1e-6);
    }
  }
  for (let f = 0; f < F; f++) {
    let sum = 0;
    for (let e = 0; e < n; e++) {
      const t = x[f * n + e] as number;
      sum += t * t;
    }
    const scale = 1 / Math.sqrt(1e-5 + sum / n);
    for (let e = 0; e < n; e++) x[f * n + e] = (x[f * n + e] as number) * scale;
  }
  const bias = foldedBias(ft, iteration);
  const w0 = ft.w0;
  const w1 = ft.w1;
  const w2 = ft.w2;
  const b1 = ft.b1;
  const b2 = ft.b2;
  const h = new Float64Array(4);
  const h2 = new Float64Array(4);
  for (let e = 0; e < n; e++) {
    for (let o = 0; o < 4; o++) {
      let z = bias[o] as number;
      for (let f = 0; f < F; f++) z += (x[f * n + e] as number) * (w0[f * 4 + o] as number);
      h[o] = z > 0 ? z : 0;
    }
    for (let o = 0; o < 4; o++) {
      let z = b1[o] as number;
      for (let i = 0; i < 4; i++) z += (h[i] as number) * (w1[i * 4 + o] as number);
      h2[o] = z > 0 ? z : 0;
    }
    let dir = b2[0] as number;
    let mag = b2[1] as number;
    for (let i = 0; i < 4; i++) {
      dir += (h2[i] as number) * (w2[i * 2] as number);
      mag += (h2[i] as number) * (w2[i * 2 + 1] as number);
    }
    out[e] = (pv[e] as number) - dir * Math.exp(mag * ft.expMult) * ft.stepMult;
  }
}
