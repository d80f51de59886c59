import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2d_backprop_filter.js';
import { conv2DBackpropInputConfig } from './conv2d_backprop_input.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise_backprop_filter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise_backprop_input.js';
import { einsumConfig } from './einsum.js';
import { unsortedSegmentSumConfig } from './unsorted_segment_sum.js';
import { maxPoolGradConfig, maxPoolKernelIsWrong, maxPoolWithArgmaxConfig } from './max_pool_fixes.js';
import { signConfig, signKernelIsWrong } from './sign_fix.js';
import { batchMatMulConfig, fusedMatMulConfig, matMulKernelIsSlow } from './mat_mul_fixes.js';
import { gatherV2Config } from './gather.js';

/**
 * How a filled kernel computes: composed from kernels the WASM backend has (`wasm-kernels`),
 * forwarded to the CPU backend's kernel (`cpu-forward`: inputs copied out of the WASM heap, the
 * CPU kernel run, outputs copied back), one JS loop over the tensors' views of the WASM heap
 * (`heap-loop`: no copies, for cheap elementwise kernels), or copies within the WASM heap in
 * JavaScript (`wasm-heap`: data movement only, no arithmetic).
 */
export type KernelRoute = 'wasm-kernels' | 'cpu-forward' | 'heap-loop' | 'wasm-heap';

/**
 * Why lopt provides a kernel: the WASM backend lacks it (`missing`), its own gives wrong results
 * (`incorrect`), or its own is an order of magnitude slower than a composition of its fast
 * kernels (`slow`).
 */
export type KernelGap = 'missing' | 'incorrect' | 'slow';

/** One kernel lopt can add to the WASM backend. */
export interface KernelFill {
  /** The tfjs kernel name. */
  readonly kernelName: string;
  /** How it computes. */
  readonly route: KernelRoute;
  /** The algorithm, in one sentence. */
  readonly method: string;
  /** What needs it. */
  readonly neededBy: string;
  /** Why lopt provides it. */
  readonly gap: KernelGap;
}

interface FillEntry extends KernelFill {
  readonly config: KernelConfig;
  /** For `incorrect` (and probed `slow`) gaps: probes the registered WASM kernel (undefined when it cannot run yet). */
  readonly isWrong?: () => boolean | undefined;
  /** For `slow` gaps: replace the backend's own kernel. */
  readonly replace?: true;
}

const FILLS: readonly FillEntry[] = [
  {
    kernelName: tf.Conv2DBackpropFilter,
    route: 'wasm-kernels',
    method: 'im2col: strided slices of the padded input concatenated into a patch matrix P, then one BatchMatMul P^T dy (batch chunked to bound memory)',
    neededBy: 'conv2d / conv1d / conv2dTranspose filter gradients (convnets)',
    gap: 'missing',
    config: conv2DBackpropFilterConfig,
  },
  {
    kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
    route: 'wasm-kernels',
    method: 'per filter tap: strided slice x dy (Multiply), summed over positions by a ones-vector BatchMatMul',
    neededBy: 'depthwiseConv2d / separableConv2d filter gradients',
    gap: 'missing',
    config: depthwiseConv2dNativeBackpropFilterConfig,
  },
  {
    kernelName: tf.DepthwiseConv2dNativeBackpropInput,
    route: 'wasm-kernels',
    method: 'transposed convolution: dy upsampled by the stride (Reshape + PadV2), DepthwiseConv2dNative with the flipped filter, Sum over the channel multiplier',
    neededBy: 'depthwiseConv2d / separableConv2d input gradients',
    gap: 'missing',
    config: depthwiseConv2dNativeBackpropInputConfig,
  },
  {
    kernelName: tf.UnsortedSegmentSum,
    route: 'wasm-kernels',
    method: 'one ScatterNd (adds duplicate ids); out-of-range ids are dropped via a spare row',
    neededBy: 'gather gradients (embedding layers, token lookups)',
    gap: 'missing',
    config: unsortedSegmentSumConfig,
  },
  {
    kernelName: tf.Einsum,
    route: 'wasm-kernels',
    method: 'two float32 operands: transposes around one BatchMatMul; otherwise the CPU algorithm (broadcast Multiply + Sum) on WASM kernels',
    neededBy: 'tf.einsum (attention and bilinear layers written with einsum)',
    gap: 'missing',
    config: einsumConfig,
  },
  {
    kernelName: tf.Conv2DBackpropInput,
    route: 'wasm-kernels',
    method: 'transposed convolution: dy upsampled by the stride (Reshape + PadV2), one XNNPACK Conv2D with the flipped, channel-swapped filter',
    neededBy: 'conv2d input gradients, conv2dTranspose (replaces a scalar C++ loop ~10x slower than the forward conv)',
    gap: 'slow',
    config: conv2DBackpropInputConfig,
    replace: true,
  },
  {
    kernelName: tf.MaxPoolGrad,
    route: 'cpu-forward',
    method: "the CPU backend's kernel; tfjs-backend-wasm 4.22's own sends the gradient of an all-negative window to its first element",
    neededBy: 'maxPool gradients (convnets with max pooling)',
    gap: 'incorrect',
    config: maxPoolGradConfig,
    isWrong: () => maxPoolKernelIsWrong(tf.MaxPoolGrad),
  },
  {
    kernelName: tf.MaxPoolWithArgmax,
    route: 'cpu-forward',
    method: "the CPU backend's kernel; the WASM one returns a wrong argmax for all-negative windows",
    neededBy: 'tf.maxPoolWithArgmax',
    gap: 'incorrect',
    config: maxPoolWithArgmaxConfig,
    isWrong: () => maxPoolKernelIsWrong(tf.MaxPoolWithArgmax),
  },
  {
    kernelName: tf.Sign,
    route: 'heap-loop',
    method: "(x > 0) - (x < 0) in one JS loop over the WASM heap (NaN and ±0 give 0, as on the CPU backend); tfjs-backend-wasm 4.22's own returns 0 for every |x| < FLT_EPSILON",
    neededBy: 'tf.sign: Lion, Yogi, signSGD-style updates, nnAdam and the RNN-MLP learned optimizer features',
    gap: 'incorrect',
    config: signConfig,
    isWrong: signKernelIsWrong,
  },
  {
    kernelName: tf.BatchMatMul,
    route: 'wasm-kernels',
    method: "the backend's kernel, with the layouts its probe finds slow (transposeA, transposeB, batched a x unbatched b run a scalar loop instead of XNNPACK) rewritten by an explicit Transpose or a batch-folding Reshape",
    neededBy: 'every dense layer backward pass (x^T dy, dy W^T); batched matMul',
    gap: 'slow',
    config: batchMatMulConfig,
    isWrong: () => matMulKernelIsSlow(tf.BatchMatMul),
  },
  {
    kernelName: tf._FusedMatMul,
    route: 'wasm-kernels',
    method: 'as BatchMatMul: transposed or batch-folded operands, then the fused kernel (bias, activation) in its XNNPACK layout',
    neededBy: 'tf.fused.matMul with transposed operands; tfjs-layers dense layers on rank-3 inputs',
    gap: 'slow',
    config: fusedMatMulConfig,
    isWrong: () => matMulKernelIsSlow(tf._FusedMatMul),
  },
  {
    kernelName: tf.GatherV2,
    route: 'wasm-heap',
    method: 'one copyWithin (memmove) on the WASM heap per gathered slice, where the C++ kernel computes strided indices element by element (~25x slower for rows of 784 floats)',
    neededBy: 'tf.gather: embedding lookups, batches gathered from datasets resident on the backend',
    gap: 'slow',
    config: gatherV2Config,
    replace: true,
  },
];

/** The kernels lopt can add to the WASM backend, with the route each takes (for docs and reports). */
export function wasmKernelFills(): readonly KernelFill[] {
  return FILLS.map(({ kernelName, route, method, neededBy, gap }) => ({ kernelName, route, method, neededBy, gap }));
}

/**
 * Registers lopt's implementations of the WASM kernels that training needs and that
 * tfjs-backend-wasm lacks (conv2d and depthwise-conv gradients, gather's gradient
 * UnsortedSegmentSum, Einsum), gets wrong (MaxPoolGrad, MaxPoolWithArgmax, Sign) or runs ~10x slower
 * than it could (Conv2DBackpropInput, GatherV2; BatchMatMul and _FusedMatMul on transposed or
 * batched operands); see {@link wasmKernelFills}. A missing kernel is registered; a wrong one
 * is replaced only when a probe on a tiny input shows it wrong, and the matmul kernels only when
 * a timing probe shows a layout slow (both need the WASM backend started: initBackend calls
 * this after starting it), so a later tfjs-backend-wasm that ships or fixes a kernel keeps its
 * own; Conv2DBackpropInput and GatherV2 are replaced.
 *
 * Idempotent: returns the names of the kernels whose registered WASM implementation is lopt's,
 * the same list on every call.
 */
export function fillWasmKernelGaps(): string[] {
  const ours: string[] = [];
  for (const fill of FILLS) {
    const existing = tf.getKernel(fill.kernelName, 'wasm');
    if (existing !== undefined && existing.kernelFunc === fill.config.kernelFunc) {
      ours.push(fill.kernelName);
      continue;
    }
    if (existing !== undefined) {
      if (fill.replace !== true && fill.isWrong?.() !== true) continue; // the backend's own, not shown wrong: keep it
      tf.unregisterKernel(fill.kernelName, 'wasm');
    }
    tf.registerKernel(fill.config);
    ours.push(fill.kernelName);
  }
  return ours;
}
