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
}

export { FUSED_MLP_HEADS };
/** One of {@link FUSED_MLP_HEADS}. */
export type FusedMlpHead = (typeof FUSED_MLP_HEADS)[number];

type Info = FusedTensorInfo;
type CpuBackendLike = CpuKernelBackend;
type WasmBackendLike = WasmKernelBackend & Required<Pick<WasmKernelBackend, 'disposeData'>>;

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

/** One kernel call: its named inputs `x, labels, w0, b0, w1, b1, ...`, attributes, layer sizes (input first) and batch. */
interface Call extends FusedMlpAttrs {
  named: Record<string, Info>;
  sizes: number[];
  batch: number;
}

function callOf(inputs: unknown, attrs: unknown): Call {
  const a = attrs as FusedMlpAttrs;
  const named = inputs as Record<string, Info>;
  const x = named.x as Info;
  const sizes = [x.shape[1] as number];
  for (let i = 0; i < a.numLayers; i++) sizes.push((named[`w${i}`] as Info).shape[1] as number);
  return { numLayers: a.numLayers, act: a.act, grads: a.grads, head: a.head, named, sizes, batch: x.shape[0] as number };
}

function outputShapes(sizes: number[], grads: boolean): number[][] {
  const shapes: number[][] = [[]];
  if (grads) for (let i = 0; i + 1 < sizes.length; i++) shapes.push([sizes[i] as number, sizes[i + 1] as number], [sizes[i + 1] as number]);
  return shapes;
}

/** Splits output pointers `[loss, gw0, gb0, ...]` and input pointers into {@link MlpPointers}. */
function pointers(input: (name: string) => number, outs: number[], numLayers: number, grads: boolean, scratch: number): MlpPointers {
  const p: MlpPointers = { x: input('x'), labels: input('labels'), w: [], b: [], gw: [], gb: [], scratch };
  for (let i = 0; i < numLayers; i++) {
    p.w.push(input(`w${i}`));
    p.b.push(input(`b${i}`));
    if (grads) {
      p.gw.push(outs[1 + 2 * i] as number);
      p.gb.push(outs[2 + 2 * i] as number);
    }
  }
  return p;
}

/** The WASM backend's kernel: the blocks run on tfjs-backend-wasm's heap, zero copy. */
function runWasm(backend: unknown, c: Call): Info[] {
  const b = backend as WasmBackendLike;
  // allocate everything before reading offsets or taking views (an allocation may grow the heap)
  const outs = outputShapes(c.sizes, c.grads).map((s) => b.makeOutput(s, 'float32'));
  const scratch = b.makeOutput([scratchFloats(c.sizes, c.batch)], 'float32');
  const off = (t: Info): number => b.dataIdMap?.get(t.dataId)?.memoryOffset ?? 0;
  const memory = b.wasm?.asm?.memory as WebAssembly.Memory;
  const blocks = simdBlocks(memory) ?? jsBlocks(memory.buffer);
  const p = pointers((name) => off(c.named[name] as Info), outs.map(off), c.numLayers, c.grads, off(scratch));
  const loss = mlpLossGrad(blocks, p, c.sizes, c.batch, c.act, c.head);
  new Float32Array(memory.buffer, off(outs[0] as Info), 1)[0] = loss;
  b.disposeData(scratch.dataId);
  return outs;
}

/** The CPU backend's kernel: inputs copied into one arena, the JS blocks, outputs copied out. */
function runCpu(backend: unknown, c: Call): Info[] {
  const b = backend as CpuBackendLike;
  // arena: 16 bytes of padding (offset 0 means "none"), inputs, outputs, scratch
  const names = ['x', 'labels', ...Array.from({ length: c.numLayers }, (_, i) => [`w${i}`, `b${i}`]).flat()];
  const values = names.map((n) => b.data.get((c.named[n] as Info).dataId).values as Float32Array | Int32Array);
  const shapes = outputShapes(c.sizes, c.grads);
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
  const p = pointers((name) => starts[names.indexOf(name)] as number, outStarts, c.numLayers, c.grads, starts[starts.length - 1] as number);
  const f = new Float32Array(buffer);
  f[(outStarts[0] as number) >> 2] = mlpLossGrad(jsBlocks(buffer), p, c.sizes, c.batch, c.act, c.head);
  return shapes.map((s, i) => {
    const o = (outStarts[i] as number) >> 2;
    return b.makeTensorInfo(s, 'float32', f.slice(o, o + tf.util.sizeFromShape(s)));
  });
}

const KERNELS: tf.KernelConfig[] = (
  [
    ['wasm', runWasm],
    ['cpu', runCpu],
  ] as const
).map(([backendName, run]) => ({
  kernelName: FUSED_MLP_KERNEL,
  backendName,
  kernelFunc: ({ inputs, backend, attrs }) => run(backend, callOf(inputs, attrs)) as unknown as tf.TensorInfo[],
}));

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
 * `grads` its gradient. Returns `[loss, gw0, gb0, ...]` (or `[loss]`); inputs are untouched.
 * Runs on the `cpu` and `wasm` backends ({@link fusedMlpImplementation} not `none`); records
 * nothing on a gradient tape (callers wrap it in `tf.customGrad`).
 */
export function fusedMlpLossGrad(
  x: tf.Tensor2D,
  labels: tf.Tensor1D | tf.Tensor2D,
  ws: readonly tf.Tensor[],
  act: (typeof FUSED_MLP_ACTIVATIONS)[number],
  grads: boolean,
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
  const attrs: FusedMlpAttrs = { numLayers, act: code, grads, head: headCode };
  const out = tf.engine().runKernel(FUSED_MLP_KERNEL, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
  if (inputs.labels !== labels) (inputs.labels as tf.Tensor).dispose();
  return out;
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
