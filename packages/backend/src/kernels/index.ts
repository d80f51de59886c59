import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2d_backprop_filter.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise_backprop_filter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise_backprop_input.js';
import { einsumConfig } from './einsum.js';
import { unsortedSegmentSumConfig } from './unsorted_segment_sum.js';

/**
 * How a filled kernel computes. Every fill is currently composed from kernels the WASM backend
 * has (`wasm-kernels`); none needs to forward its inputs to the CPU backend.
 */
export type KernelRoute = 'wasm-kernels';

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
}

const FILLS: readonly (KernelFill & { readonly config: KernelConfig })[] = [
  {
    kernelName: tf.Conv2DBackpropFilter,
    route: 'wasm-kernels',
    method: 'im2col: strided slices of the padded input concatenated into a patch matrix P, then one BatchMatMul P^T dy (batch chunked to bound memory)',
    neededBy: 'conv2d / conv1d / conv2dTranspose filter gradients (convnets)',
    config: conv2DBackpropFilterConfig,
  },
  {
    kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
    route: 'wasm-kernels',
    method: 'per filter tap: strided slice x dy (Multiply), summed over positions by a ones-vector BatchMatMul',
    neededBy: 'depthwiseConv2d / separableConv2d filter gradients',
    config: depthwiseConv2dNativeBackpropFilterConfig,
  },
  {
    kernelName: tf.DepthwiseConv2dNativeBackpropInput,
    route: 'wasm-kernels',
    method: 'transposed convolution: dy upsampled by the stride (Reshape + PadV2), DepthwiseConv2dNative with the flipped filter, Sum over the channel multiplier',
    neededBy: 'depthwiseConv2d / separableConv2d input gradients',
    config: depthwiseConv2dNativeBackpropInputConfig,
  },
  {
    kernelName: tf.UnsortedSegmentSum,
    route: 'wasm-kernels',
    method: 'one ScatterNd (adds duplicate ids); out-of-range ids are dropped via a spare row',
    neededBy: 'gather gradients (embedding layers, token lookups)',
    config: unsortedSegmentSumConfig,
  },
  {
    kernelName: tf.Einsum,
    route: 'wasm-kernels',
    method: 'two float32 operands: transposes around one BatchMatMul; otherwise the CPU algorithm (broadcast Multiply + Sum) on WASM kernels',
    neededBy: 'tf.einsum (attention and bilinear layers written with einsum)',
    config: einsumConfig,
  },
];

/** The kernels lopt can add to the WASM backend, with the route each takes (for docs and reports). */
export function wasmKernelFills(): readonly KernelFill[] {
  return FILLS.map(({ kernelName, route, method, neededBy }) => ({ kernelName, route, method, neededBy }));
}

/**
 * Registers lopt's implementations of the kernels the WASM backend lacks (see
 * {@link wasmKernelFills}) that training needs: conv2d and depthwise-conv gradients, gather's
 * gradient (UnsortedSegmentSum) and Einsum. Only kernels that are missing are registered, so a
 * later tfjs-backend-wasm that ships its own keeps it.
 *
 * Idempotent: returns the names of the kernels lopt has filled (by this call or an earlier one),
 * the same list every time. Needs `@tensorflow/tfjs-backend-wasm` to be imported (it is, by this
 * package); the WASM backend itself does not have to be started yet.
 */
export function fillWasmKernelGaps(): string[] {
  const ours: string[] = [];
  for (const fill of FILLS) {
    const existing = tf.getKernel(fill.kernelName, 'wasm');
    if (existing === undefined) tf.registerKernel(fill.config);
    else if (existing.kernelFunc !== fill.config.kernelFunc) continue; // the backend's own (or someone else's): keep it
    ours.push(fill.kernelName);
  }
  return ours;
}
