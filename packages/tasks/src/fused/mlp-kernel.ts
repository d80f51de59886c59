// The fused MLP softmax-cross-entropy loss and gradient as ONE registered tfjs kernel on the
// `cpu` and `wasm` backends (so inputs and outputs stay tfjs tensors): forward, loss and the
// whole backward pass in one kernel call instead of ~30 recorded ops. On WASM the SIMD blocks
// of assembly/mlp.ts run on tfjs-backend-wasm's own heap (zero copy); on CPU (and WASM without
// SIMD) the JS blocks of mlp-blocks.ts. Compilation, registration and the backend shapes come
// from core's fused-kernel helper, as for the Adam and adafac kernels.
import * as tf from '@tensorflow/tfjs-core';
import { LoptError, compileEmbeddedWasm, registerKernelsOnce, type CpuKernelBackend, type FusedTensorInfo, type WasmKernelBackend } from '@lopt/core';
import { FUSED_MLP_HEADS, jsBlocks, mlpLossGrad, scratchFloats, type MlpBlocks, type MlpPointers } from './mlp-blocks.js';
import { MLP_WASM_BASE64 } from './mlp-wasm-binary.js';

/** Name of the fused kernel registered on `cpu` and `wasm`. */
export const FUSED_MLP_KERNEL = 'LoptFusedMlpSoftmaxLossGrad';

/** Activations the fused kernel implements, by kernel code. */
export const FUSED_MLP_ACTIVATIONS = ['relu', 'tanh', 'sigmoid'] as const;

/** Attributes of the fused kernel. */
interface FusedMlpAttrs {
  numLayers: number;
  /** Index into {@link FUSED_MLP_ACTIVATIONS}. */
  act: number;
  /** false: the loss only. */
  grads: boolean;
  /** Index into {@link FUSED_MLP_HEADS}. */
  head: number;
  /** With `grads`: the gradient as ONE flat output (`gw0, gb0, gw1, ...` back to back; unstacked calls only). */
  packed?: boolean;
}

export { FUSED_MLP_HEADS };
/** One of {@link FUSED_MLP_HEADS}. */
export type FusedMlpHead = (typeof FUSED_MLP_HEADS)[number];

type Info = FusedTensorInfo;
type CpuBackendLike = CpuKernelBackend;
type WasmBackendLike = WasmKernelBackend & Required<Pick<WasmKernelBackend, 'disposeData' | 'typedArrayFromHeap'>>;

let simdModule: WebAssembly.Module | null | undefined;
const simdBlocksByMemory = new WeakMap<WebAssembly.Memory, MlpBlocks>();

/** The SIMD blocks on `memory` (one instance per memory), or null when this runtime lacks WebAssembly SIMD. */
function simdBlocks(memory: WebAssembly.Memory): MlpBlocks | null {
  if (simdModule === undefined) {
    simdModule = compileEmbeddedWasm(MLP_WASM_BASE64); // null without WebAssembly SIMD: the JS blocks run instead
  }
  if (simdModule === null) return null;
  const cached = simdBlocksByMemory.get(memory);
  if (cached) return cached;
  const blocks = new WebAssembly.Instance(simdModule, { env: { memory } }).exports as unknown as MlpBlocks;
  simdBlocksByMemory.set(memory, blocks);
  return blocks;
}

/**
 * One kernel call: its named inputs `x, labels, w0, b0, w1, b1, ...`, attributes, layer sizes
 * (input first), batch, and `copies`: 0 for one MLP, K for K stacked MLPs (every operand with a
 * leading axis K, the loss `[K]`; copy `c` is computed as the unstacked call on its slices).
 */
interface Call extends FusedMlpAttrs {
  packed: boolean;
  named: Record<string, Info>;
  sizes: number[];
  batch: number;
  copies: number;
}

function callOf(inputs: unknown, attrs: unknown): Call {
  const a = attrs as FusedMlpAttrs;
  const named = inputs as Record<string, Info>;
  const x = named.x as Info;
  const stacked = x.shape.length === 3 ? 1 : 0;
  const sizes = [x.shape[1 + stacked] as number];
  for (let i = 0; i < a.numLayers; i++) sizes.push((named[`w${i}`] as Info).shape[1 + stacked] as number);
  const packed = a.grads && a.packed === true && stacked === 0;
  return { numLayers: a.numLayers, act: a.act, grads: a.grads, head: a.head, packed, named, sizes, batch: x.shape[stacked] as number, copies: stacked === 1 ? (x.shape[0] as number) : 0 };
}

/** The gradient's shapes `[D0, D1], [D1], [D1, D2], ...` of an MLP with layer sizes `sizes`. */
export function mlpGradShapes(sizes: readonly number[]): number[][] {
  const shapes: number[][] = [];
  for (let i = 0; i + 1 < sizes.length; i++) shapes.push([sizes[i] as number, sizes[i + 1] as number], [sizes[i + 1] as number]);
  return shapes;
}

function outputShapes(sizes: number[], grads: boolean, copies = 0, packed = false): number[][] {
  if (packed) return [[], [mlpGradShapes(sizes).reduce((n, s) => n + tf.util.sizeFromShape(s), 0)]];
  const shapes: number[][] = [[], ...(grads ? mlpGradShapes(sizes) : [])];
  return copies > 0 ? shapes.map((s) => [copies, ...s]) : shapes;
}

/** Byte offsets of the gradient outputs `[gw0, gb0, ...]` from the output offsets `[loss, ...]`: each its own output, or back to back in the packed one. */
function gradOffsets(outs: readonly number[], sizes: number[], packed: boolean): number[] {
  if (!packed) return outs.slice(1);
  let at = outs[1] as number;
  return mlpGradShapes(sizes).map((s) => {
    const start = at;
    at += 4 * tf.util.sizeFromShape(s);
    return start;
  });
}

/** The input names of a call, in arena order. */
function inputNames(numLayers: number): string[] {
  return ['x', 'labels', ...Array.from({ length: numLayers }, (_, i) => [`w${i}`, `b${i}`]).flat()];
}

/**
 * Runs every copy of a call: `at(c)` gives copy `c`'s pointers (its slices of the stacked
 * operands); copy `c`'s loss goes to `setLoss(c, loss)`. One run for an unstacked call.
 */
function runCopies(blocks: MlpBlocks, c: Call, at: (copy: number) => MlpPointers, setLoss: (copy: number, loss: number) => void): void {
  for (let copy = 0; copy < Math.max(1, c.copies); copy++) setLoss(copy, mlpLossGrad(blocks, at(copy), c.sizes, c.batch, c.act, c.head));
}

/** Byte stride of one copy of a tensor of `shape` (4-byte elements). */
function strideOf(shape: readonly number[], copies: number): number {
  return copies > 0 ? (4 * tf.util.sizeFromShape(shape as number[])) / copies : 0;
}

/** Splits gradient pointers `[gw0, gb0, ...]` and input pointers into {@link MlpPointers}. */
function pointers(input: (name: string) => number, grads: number[], numLayers: number, scratch: number): MlpPointers {
  const p: MlpPointers = { x: input('x'), labels: input('labels'), w: [], b: [], gw: [], gb: [], scratch };
  for (let i = 0; i < numLayers; i++) {
    p.w.push(input(`w${i}`));
    p.b.push(input(`b${i}`));
    if (grads.length > 0) {
      p.gw.push(grads[2 * i] as number);
      p.gb.push(grads[2 * i + 1] as number);
    }
  }
  return p;
}

/** The WASM backend's kernel: the blocks run on tfjs-backend-wasm's heap, zero copy. */
function runWasm(backend: unknown, c: Call): Info[] {
  const b = backend as WasmBackendLike;
  // allocate everything before reading offsets or taking views (an allocation may grow the heap)
  const outs = outputShapes(c.sizes, c.grads, c.copies, c.packed).map((s) => b.makeOutput(s, 'float32'));
  const scratch = b.makeOutput([scratchFloats(c.sizes, c.batch)], 'float32');
  const off = (t: Info): number => b.dataIdMap?.get(t.dataId)?.memoryOffset ?? 0;
  const memory = b.wasm?.asm?.memory as WebAssembly.Memory;
  const blocks = simdBlocks(memory) ?? jsBlocks(memory.buffer);
  const input = (name: string, copy: number): number => {
    const t = c.named[name] as Info;
    return off(t) + copy * strideOf(t.shape, c.copies);
  };
  const outAt = (copy: number): number[] => outs.map((o) => off(o) + copy * strideOf(o.shape, c.copies));
  const losses = new Float32Array(Math.max(1, c.copies));
  runCopies(blocks, c, (copy) => pointers((name) => input(name, copy), gradOffsets(outAt(copy), c.sizes, c.packed), c.numLayers, off(scratch)), (copy, loss) => (losses[copy] = loss));
  new Float32Array(memory.buffer, off(outs[0] as Info), losses.length).set(losses);
  b.disposeData(scratch.dataId);
  return outs;
}

/** The CPU backend's kernel: inputs copied into one arena, the JS blocks, outputs copied out. */
function runCpu(backend: unknown, c: Call): Info[] {
  const b = backend as CpuBackendLike;
  // arena: 16 bytes of padding (offset 0 means "none"), inputs, outputs, scratch
  const names = inputNames(c.numLayers);
  const values = names.map((n) => b.data.get((c.named[n] as Info).dataId).values as Float32Array | Int32Array);
  const shapes = outputShapes(c.sizes, c.grads, c.copies, c.packed);
  const lengths = [...values.map((v) => v.length), ...shapes.map((s) => tf.util.sizeFromShape(s)), scratchFloats(c.sizes, c.batch)];
  const starts: number[] = [];
  let at = 16;
  for (const n of lengths) {
    starts.push(at);
    at += 4 * n;
  }
  const buffer = new ArrayBuffer(at);
  values.forEach((v, i) => (v instanceof Int32Array ? new Int32Array(buffer) : new Float32Array(buffer)).set(v, (starts[i] as number) >> 2));
  const outStarts = starts.slice(values.length, values.length + shapes.length);
  const stride = (i: number): number => (4 * (lengths[i] as number)) / Math.max(1, c.copies);
  const f = new Float32Array(buffer);
  const at0 = (copy: number) =>
    pointers(
      (name) => (starts[names.indexOf(name)] as number) + copy * stride(names.indexOf(name)),
      gradOffsets(outStarts.map((o, i) => o + copy * stride(values.length + i)), c.sizes, c.packed),
      c.numLayers,
      starts[starts.length - 1] as number,
    );
  runCopies(jsBlocks(buffer), c, at0, (copy, loss) => (f[((outStarts[0] as number) >> 2) + copy] = loss));
  return shapes.map((s, i) => {
    const o = (outStarts[i] as number) >> 2;
    return b.makeTensorInfo(s, 'float32', f.slice(o, o + tf.util.sizeFromShape(s)));
  });
}

/** Name of the kernel that splits a packed fused-MLP gradient into its leaves, times a scalar. */
export const UNPACK_MLP_GRADS_KERNEL = 'LoptUnpackMlpGrads';

/**
 * The unpacking kernel on both backends: `packed` (gw0, gb0, ... back to back) into one output
 * per leaf of the MLP with layer sizes `attrs.sizes`, each times the scalar `dy` (float32, as
 * `tf.mul` computes it; a plain copy when dy is 1).
 */
function unpackKernel(backendName: 'wasm' | 'cpu'): tf.KernelConfig {
  return {
    kernelName: UNPACK_MLP_GRADS_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { packed, dy } = inputs as unknown as Record<'packed' | 'dy', Info>;
      const shapes = mlpGradShapes((attrs as unknown as { sizes: number[] }).sizes);
      const w = backend as unknown as WasmBackendLike;
      const c = backend as unknown as CpuKernelBackend;
      // wasm: allocate every output before taking heap views (an allocation may grow the heap)
      const outs = backendName === 'wasm' ? shapes.map((sh) => w.makeOutput(sh, 'float32')) : [];
      const values = (t: Info): Float32Array => (backendName === 'wasm' ? w.typedArrayFromHeap(t) : (c.data.get(t.dataId).values as Float32Array));
      const src = values(packed);
      const d = values(dy)[0] as number;
      let at = 0;
      const result = shapes.map((sh, i) => {
        const n = tf.util.sizeFromShape(sh);
        const out = backendName === 'wasm' ? w.typedArrayFromHeap(outs[i] as Info) : new Float32Array(n);
        out.set(src.subarray(at, at + n));
        if (d !== 1) for (let j = 0; j < n; j++) out[j] = (out[j] as number) * d;
        at += n;
        return backendName === 'wasm' ? (outs[i] as Info) : c.makeTensorInfo(sh, 'float32', out);
      });
      return result as unknown as tf.TensorInfo[];
    },
  };
}

const KERNELS: tf.KernelConfig[] = [
  ...(
    [
      ['wasm', runWasm],
      ['cpu', runCpu],
    ] as const
  ).map(([backendName, run]) => ({
    kernelName: FUSED_MLP_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }: { inputs: unknown; backend: unknown; attrs?: unknown }) => run(backend, callOf(inputs, attrs)) as unknown as tf.TensorInfo[],
  })),
  unpackKernel('wasm'),
  unpackKernel('cpu'),
];

/** Registers the fused kernel on `cpu` and `wasm` once (idempotent; no effect at import time). */
export function ensureFusedMlpKernel(): void {
  registerKernelsOnce(KERNELS);
}

/** Which implementation the fused kernel uses on the active backend: `wasm-simd`, `js` (JS loops) or `none` (other backends). */
export function fusedMlpImplementation(): 'wasm-simd' | 'js' | 'none' {
  const name = tf.getBackend();
  if (name === 'cpu') return 'js';
  if (name !== 'wasm') return 'none';
  const memory = (tf.backend() as unknown as WasmBackendLike).wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory) || (tf.backend() as unknown as WasmBackendLike).dataIdMap === undefined) return 'none';
  return simdBlocks(memory) ? 'wasm-simd' : 'js';
}

/**
 * Runs the fused kernel: the mean softmax cross-entropy of the MLP `ws = [w0, b0, w1, b1, ...]`
 * (relu/tanh/sigmoid between layers) on `x` [B, D0] against `labels` [B] (`head`
 * `'softmax-xent'`, the default), or the mean squared error between float32 `labels` [B, D_L]
 * (the targets) and sigmoid of its output (`'sigmoid-mse'`: the autoencoder loss), and with
 * `grads` its gradient. Returns `[loss, gw0, gb0, ...]` (or `[loss]`; with `grads` `'packed'`:
 * `[loss, packed]`, the gradient's leaves back to back in one flat tensor, see
 * {@link unpackMlpGrads}); inputs are untouched.
 * Runs on the `cpu` and `wasm` backends ({@link fusedMlpImplementation} not `none`); records
 * nothing on a gradient tape (callers wrap it in `tf.customGrad`).
 */
export function fusedMlpLossGrad(
  x: tf.Tensor2D,
  labels: tf.Tensor1D | tf.Tensor2D,
  ws: readonly tf.Tensor[],
  act: (typeof FUSED_MLP_ACTIVATIONS)[number],
  grads: boolean | 'packed',
  head: FusedMlpHead = 'softmax-xent',
): tf.Tensor[] {
  const numLayers = ws.length / 2;
  const code = FUSED_MLP_ACTIVATIONS.indexOf(act);
  if (code < 0) throw new LoptError('INVALID_OPTION', `Option 'activation' of the fused MLP kernel must be one of ${FUSED_MLP_ACTIVATIONS.join(', ')}; got '${String(act)}'.`, { option: 'activation' });
  const headCode = FUSED_MLP_HEADS.indexOf(head);
  if (headCode < 0) throw new LoptError('INVALID_OPTION', `Option 'head' of the fused MLP kernel must be one of ${FUSED_MLP_HEADS.join(', ')}; got '${String(head)}'.`, { option: 'head' });
  if (fusedMlpImplementation() === 'none') throw new LoptError('BACKEND_UNAVAILABLE', `The fused MLP kernel runs on the cpu and wasm backends; the active backend is '${tf.getBackend()}'.`);
  checkShapes(x, labels, ws, headCode);
  ensureFusedMlpKernel();
  const inputs: Record<string, tf.Tensor> = { x, labels: labels.dtype === 'int32' || headCode === 1 ? labels : tf.cast(labels, 'int32') };
  for (let i = 0; i < numLayers; i++) {
    inputs[`w${i}`] = ws[2 * i] as tf.Tensor;
    inputs[`b${i}`] = ws[2 * i + 1] as tf.Tensor;
  }
  const attrs: FusedMlpAttrs = { numLayers, act: code, grads: grads !== false, head: headCode, packed: grads === 'packed' };
  const out = tf.engine().runKernel(FUSED_MLP_KERNEL, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
  if (inputs.labels !== labels) (inputs.labels as tf.Tensor).dispose();
  return out;
}

/**
 * Splits the packed gradient of `fusedMlpLossGrad(..., 'packed')` for layer sizes `sizes`
 * (input first) into `[gw0, gb0, gw1, ...]`, each times the scalar `dy`: one kernel call (the
 * backward pass of a custom-gradient loss node, instead of one `tf.mul` per leaf).
 */
export function unpackMlpGrads(packed: tf.Tensor, dy: tf.Tensor, sizes: readonly number[]): tf.Tensor[] {
  if (dy.size !== 1 || dy.dtype !== 'float32') throw new LoptError('SHAPE_MISMATCH', `unpackMlpGrads: dy must be one float32 value (got ${dy.dtype} [${dy.shape.join(', ')}]).`, { path: 'dy' });
  ensureFusedMlpKernel();
  return tf.engine().runKernel(UNPACK_MLP_GRADS_KERNEL, { packed, dy }, { sizes: [...sizes] }) as unknown as tf.Tensor[];
}

/** Validates ranks, dtypes and the layer chain; names the offending operand. */
function checkShapes(x: tf.Tensor, labels: tf.Tensor, ws: readonly tf.Tensor[], head: number): void {
  const bad = (what: string, msg: string): never => {
    throw new LoptError('SHAPE_MISMATCH', `Fused MLP kernel: ${what} ${msg}.`, { path: what });
  };
  if (ws.length === 0 || ws.length % 2 !== 0) bad('ws', `must be [w0, b0, w1, b1, ...] (got ${ws.length} tensors)`);
  if (x.rank !== 2 || x.dtype !== 'float32') bad('x', `must be a float32 [batch, features] tensor (got ${x.dtype} [${x.shape.join(', ')}])`);
  const batch = x.shape[0] as number;
  if (head === 0 && (labels.rank !== 1 || labels.shape[0] !== batch)) bad('labels', `must have shape [${batch}] (got [${labels.shape.join(', ')}])`);
  let fanIn = x.shape[1] as number;
  for (let i = 0; i < ws.length / 2; i++) {
    const [w, b] = [ws[2 * i] as tf.Tensor, ws[2 * i + 1] as tf.Tensor];
    if (w.rank !== 2 || w.shape[0] !== fanIn || w.dtype !== 'float32') bad(`w${i}`, `must be a float32 [${fanIn}, fanOut] tensor (got ${w.dtype} [${w.shape.join(', ')}])`);
    fanIn = w.shape[1] as number;
    if (b.rank !== 1 || b.shape[0] !== fanIn || b.dtype !== 'float32') bad(`b${i}`, `must be a float32 [${fanIn}] tensor (got ${b.dtype} [${b.shape.join(', ')}])`);
  }
  if (head === 1 && (labels.rank !== 2 || labels.shape[0] !== batch || labels.shape[1] !== fanIn || labels.dtype !== 'float32')) {
    bad('labels', `(the targets) must be a float32 [${batch}, ${fanIn}] tensor (got ${labels.dtype} [${labels.shape.join(', ')}])`);
  }
}

/**
 * {@link fusedMlpLossGrad} for K MLPs at once (softmax cross-entropy head): `x` `[K, B, D0]`,
 * `labels` int32 `[K, B]`, `ws` stacked `[K, ...]`. Returns `[loss [K], gw0 [K, ...], gb0, ...]`
 * (or `[loss]`); copy `c` equals the unstacked call on the copies' slices (the same kernel
 * runs on each slice in place: one kernel call for all K).
 */
export function fusedStackedMlpLossGrad(x: tf.Tensor3D, labels: tf.Tensor2D, ws: readonly tf.Tensor[], act: (typeof FUSED_MLP_ACTIVATIONS)[number], grads: boolean): tf.Tensor[] {
  const code = FUSED_MLP_ACTIVATIONS.indexOf(act);
  if (code < 0) throw new LoptError('INVALID_OPTION', `Option 'activation' of the fused MLP kernel must be one of ${FUSED_MLP_ACTIVATIONS.join(', ')}; got '${String(act)}'.`, { option: 'activation' });
  if (fusedMlpImplementation() === 'none') throw new LoptError('BACKEND_UNAVAILABLE', `The fused MLP kernel runs on the cpu and wasm backends; the active backend is '${tf.getBackend()}'.`);
  checkStackedShapes(x, labels, ws);
  ensureFusedMlpKernel();
  const inputs: Record<string, tf.Tensor> = { x, labels: labels.dtype === 'int32' ? labels : tf.cast(labels, 'int32') };
  for (let i = 0; i < ws.length / 2; i++) {
    inputs[`w${i}`] = ws[2 * i] as tf.Tensor;
    inputs[`b${i}`] = ws[2 * i + 1] as tf.Tensor;
  }
  const attrs: FusedMlpAttrs = { numLayers: ws.length / 2, act: code, grads, head: 0 };
  const out = tf.engine().runKernel(FUSED_MLP_KERNEL, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
  if (inputs.labels !== labels) (inputs.labels as tf.Tensor).dispose();
  return out;
}

/** {@link checkShapes} for stacked operands: every one with the same leading copy axis. */
function checkStackedShapes(x: tf.Tensor, labels: tf.Tensor, ws: readonly tf.Tensor[]): void {
  const bad = (what: string, msg: string): never => {
    throw new LoptError('SHAPE_MISMATCH', `Fused stacked MLP kernel: ${what} ${msg}.`, { path: what });
  };
  if (x.rank !== 3 || x.dtype !== 'float32') bad('x', `must be a float32 [copies, batch, features] tensor (got ${x.dtype} [${x.shape.join(', ')}])`);
  const [k, batch] = x.shape as [number, number, number];
  if (labels.rank !== 2 || labels.shape[0] !== k || labels.shape[1] !== batch) bad('labels', `must have shape [${k}, ${batch}] (got [${labels.shape.join(', ')}])`);
  if (ws.length === 0 || ws.length % 2 !== 0) bad('ws', `must be [w0, b0, w1, b1, ...] (got ${ws.length} tensors)`);
  let fanIn = x.shape[2] as number;
  for (let i = 0; i < ws.length / 2; i++) {
    const [w, b] = [ws[2 * i] as tf.Tensor, ws[2 * i + 1] as tf.Tensor];
    if (w.rank !== 3 || w.shape[0] !== k || w.shape[1] !== fanIn || w.dtype !== 'float32') bad(`w${i}`, `must be a float32 [${k}, ${fanIn}, fanOut] tensor (got ${w.dtype} [${w.shape.join(', ')}])`);
    fanIn = w.shape[2] as number;
    if (b.rank !== 2 || b.shape[0] !== k || b.shape[1] !== fanIn || b.dtype !== 'float32') bad(`b${i}`, `must be a float32 [${k}, ${fanIn}] tensor (got ${b.dtype} [${b.shape.join(', ')}])`);
  }
}
