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

/** The compiled kernel (once; 12 KB), or null when this runtime lacks WebAssembly SIMD. */
function kernelModuleOrNull(): WebAssembly.Module | null {
  if (kernelModule === undefined) {
    kernelModule = compileEmbeddedWasm(ADAFAC_WASM_BASE64);
  }
  return kernelModule;
}

function instantiate(memory: WebAssembly.Memory): KernelExports {
  const mod = kernelModuleOrNull();
  if (mod === null) throw new LoptError('BACKEND_UNAVAILABLE', 'The fused adafacMlpLOpt kernel needs WebAssembly SIMD, which this runtime lacks; use { fused: false }.');
  const ex = new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as KernelExports & { _start?: () => void };
  ex._start?.();
  return ex;
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
interface KernelSite {
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

/** One side (rows or columns) of a factored accumulator: previous values, the gradient mean per entry, length. */
interface FactoredSide {
  readonly prev: Float32Array;
  readonly mean: (x: number) => number;
  readonly len: number;
}

/**
 * The next factored accumulators of the three decays (float64, rounded to float32) and their
 * factors: rows normalized by their mean, columns as they are (`safeRsqrt`).
 */
function factoredAccumulators(decays: ArrayLike<number>, row: FactoredSide, col: FactoredSide): { rowNext: Float32Array; colNext: Float32Array; rowFactor: Float64Array; colFactor: Float64Array } {
  const rowNext = new Float32Array(3 * row.len);
  const colNext = new Float32Array(3 * col.len);
  const rowFactor = new Float64Array(3 * row.len);
  const colFactor = new Float64Array(3 * col.len);
  for (let kk = 0; kk < 3; kk++) {
    const c = decays[kk] as number;
    let mean = 0;
    for (let x = 0; x < row.len; x++) {
      const v = f32(c * (row.prev[kk * row.len + x] as number) + (1 - c) * row.mean(x));
      rowNext[kk * row.len + x] = v;
      mean += v;
    }
    mean /= row.len;
    for (let x = 0; x < row.len; x++) rowFactor[kk * row.len + x] = safeRsqrt((rowNext[kk * row.len + x] as number) / (mean + 1e-9));
    for (let y = 0; y < col.len; y++) {
      const v = f32(c * (col.prev[kk * col.len + y] as number) + (1 - c) * col.mean(y));
      colNext[kk * col.len + y] = v;
      colFactor[kk * col.len + y] = safeRsqrt(v);
    }
  }
  return { rowNext, colNext, rowFactor, colFactor };
}

/**
 * Writes the kernel's 100 weights at float index `w` of the heap: W0 of the 16 per-element
 * features with their normalization scales (from the feature sums of squares) folded in, the
 * folded bias, W1, b1, W2, b2, expMult and stepMult.
 */
function writeKernelWeights(heap: Float32Array, w: number, ft: FusedTheta, sums: Float64Array, N: number, iteration: number): void {
  for (let f = 0; f < 16; f++) {
    const sc = rsqrt(1e-5 + (sums[f] as number) / N);
    const ref = KERNEL_FEATURES[f] as number;
    for (let o = 0; o < 4; o++) heap[w + f * 4 + o] = sc * (ft.w0[ref * 4 + o] as number);
  }
  const bias = foldedBias(ft, iteration);
  for (let o = 0; o < 4; o++) heap[w + 64 + o] = bias[o] as number;
  heap.set(ft.w1, w + 68);
  heap.set(ft.b1, w + 84);
  heap.set(ft.w2, w + 88);
  heap.set(ft.b2, w + 96);
  heap[w + 98] = ft.expMult;
  heap[w + 99] = ft.stepMult;
}

/**
 * The first layer's contribution of the tiled row (or column) features: value and
 * rsqrt(value + 1e-8) of each decay, normalized by the mean over the vector (each value is
 * repeated the same number of times in the tensor); `[4, len]` flattened.
 */
function tiledFeatureContrib(w0: ArrayLike<number>, vals: Float32Array, len: number, featBase: number, rsqrtBase: number): Float64Array {
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
        out[o * len + x] = (out[o * len + x] as number) + fv * (w0[(featBase + kk) * 4 + o] as number) + fr * (w0[(rsqrtBase + kk) * 4 + o] as number);
      }
    }
  }
  return out;
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
  const d0 = (factoredDims(p.shape) as [number, number])[1];
  const lenRow = d0 === 1 ? R : C; // v_row drops axis d0
  const lenCol = d0 === 1 ? C : R;
  const rowPrev = Float32Array.from(prev.fac.row.dataSync() as Float32Array);
  const colPrev = Float32Array.from(prev.fac.col.dataSync() as Float32Array);
  const tempFloats = 100 + 4 + 32 + 3 * R + 3 * C + R + C + 4 * R + 4 * C + 16 * 4;
  const wb = wasmBackend();
  const site = wb !== null ? sharedSite(wb, tempFloats) : ownSite((6 * N + 5 * N + tempFloats) * 4);
  const k = site.k;
  const G = site.input(g);
  const P = site.input(p);
  const M = site.input(prev.m);
  const RMS = site.input(prev.rms);
  const OP = site.output([R, C]);
  const OM = site.output([3, R, C]);
  const OR = site.output([1, R, C]);
  const W = site.temp(100);
  const DEC = site.temp(4);
  const STATS = site.temp(32);
  const A = site.temp(3 * R);
  const B = site.temp(3 * C);
  const ROWSUM = site.temp(R);
  const COLSUM = site.temp(C);
  const CI = site.temp(4 * R);
  const CJ = site.temp(4 * C);
  let heap = new Float32Array(site.buffer());
  heap.fill(0, COLSUM / 4, COLSUM / 4 + C);
  k.rowColSums(G, R, C, ROWSUM, COLSUM);
  // Factored accumulators (small: R + C values per decay), in float64 then rounded.
  const meanAxis1 = (i: number): number => (heap[ROWSUM / 4 + i] as number) / C; // per storage row
  const meanAxis0 = (j: number): number => (heap[COLSUM / 4 + j] as number) / R; // per storage column
  const rowMean = d0 === 1 ? meanAxis1 : meanAxis0;
  const colMean = d0 === 1 ? meanAxis0 : meanAxis1;
  const { rowNext, colNext, rowFactor, colFactor } = factoredAccumulators(ft.fac, { prev: rowPrev, mean: rowMean, len: lenRow }, { prev: colPrev, mean: colMean, len: lenCol });
  // A: factor per storage row i, B: per storage column j.
  const [aF, bF] = d0 === 1 ? [rowFactor, colFactor] : [colFactor, rowFactor];
  heap.set(aF, A / 4);
  heap.set(bF, B / 4);
  heap[DEC / 4] = ft.mom[0] as number;
  heap[DEC / 4 + 1] = ft.mom[1] as number;
  heap[DEC / 4 + 2] = ft.mom[2] as number;
  heap[DEC / 4 + 3] = ft.rms;
  new Float64Array(site.buffer(), STATS, 16).fill(0);
  k.stats(G, P, M, RMS, OM, OR, A, B, R, C, DEC, STATS);
  heap = new Float32Array(site.buffer());
  writeKernelWeights(heap, W / 4, ft, new Float64Array(site.buffer(), STATS, 16), N, iteration);
  const rowC = tiledFeatureContrib(ft.w0, rowNext, lenRow, 13, 19);
  const colC = tiledFeatureContrib(ft.w0, colNext, lenCol, 16, 22);
  const [ci, cj] = d0 === 1 ? [rowC, colC] : [colC, rowC];
  heap.set(ci, CI / 4);
  heap.set(cj, CJ / 4);
  k.apply(G, P, OM, OR, OP, A, B, CI, CJ, R, C, W);
  const [newP, newM, newR] = site.finish() as [tf.Tensor, tf.Tensor, tf.Tensor];
  return {
    p: newP,
    m: newM,
    rms: newR,
    fac: { row: tf.tensor(rowNext, [3, lenRow], 'float32'), col: tf.tensor(colNext, [3, lenCol], 'float32') },
  };
}

/** Number of per-element features of the unfactored (rank < 2) step. */
const UNFACTORED_FEATURES = 28;

/**
 * The unfactored step's features `[28, n]` (flattened), each normalized by its root mean
 * square, updating the accumulators `mv`, `rv`, `vv` in place (float32 rounding).
 */
function unfactoredFeatures(ft: FusedTheta, n: number, gv: Float32Array, pv: Float32Array, mv: Float32Array, rv: Float32Array, vv: Float32Array): Float64Array {
  const F = UNFACTORED_FEATURES;
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
  return x;
}

/** The per-element update MLP (ReLU, ReLU, direction and magnitude heads) applied to the features: the new parameters. */
function applyUpdateMlp(ft: FusedTheta, iteration: number, x: Float64Array, pv: Float32Array): Float32Array {
  const n = pv.length;
  const F = UNFACTORED_FEATURES;
  const bias = foldedBias(ft, iteration);
  const w0 = ft.w0;
  const w1 = ft.w1;
  const w2 = ft.w2;
  const b1 = ft.b1;
  const b2 = ft.b2;
  const out = new Float32Array(n);
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
  return out;
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
  const x = unfactoredFeatures(ft, n, gv, pv, mv, rv, vv);
  const out = applyUpdateMlp(ft, iteration, x, pv);
  return {
    p: makeTensor(out, p.shape),
    m: makeTensor(mv, [3, ...p.shape]),
    rms: makeTensor(rv, [1, ...p.shape]),
    fac: { diag: makeTensor(vv, [3, ...p.shape]) },
  };
}
