import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { KernelScope } from './kernel_scope.js';

/** The geometry of a 2-D convolution in NHWC layout (a subset of tfjs' `Conv2DInfo`). */
export interface ConvGeometry {
  readonly inHeight: number;
  readonly inWidth: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly strideHeight: number;
  readonly strideWidth: number;
  readonly dilationHeight: number;
  readonly dilationWidth: number;
  readonly filterHeight: number;
  readonly filterWidth: number;
  readonly padInfo: { readonly top: number; readonly bottom: number; readonly left: number; readonly right: number };
}

/** Explicit NHWC padding as tfjs kernels take it. */
export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

/**
 * For a filter gradient, the part of the input x [B, H, W, C] that filter taps read and the
 * padding around it: padded by (top, bottom) rows, the window has exactly
 * `(outH - 1) * strideH + (fH - 1) * dilationH + 1` rows (likewise columns). Rows past the last
 * one any tap reads (a 'valid' convolution whose stride does not divide the input) are cropped.
 */
export function filterGradientWindow(s: KernelScope, x: TensorInfo, g: ConvGeometry): { input: TensorInfo; padding: ExplicitPadding } {
  const rows = (g.outHeight - 1) * g.strideHeight + (g.filterHeight - 1) * g.dilationHeight + 1;
  const cols = (g.outWidth - 1) * g.strideWidth + (g.filterWidth - 1) * g.dilationWidth + 1;
  const { top, left } = g.padInfo;
  const bottom = rows - top - g.inHeight;
  const right = cols - left - g.inWidth;
  let input = x;
  if (bottom < 0 || right < 0) {
    const [b = 0, , , c = 0] = x.shape;
    input = s.run(tf.Slice, { x }, { begin: [0, 0, 0, 0], size: [b, g.inHeight + Math.min(0, bottom), g.inWidth + Math.min(0, right), c] });
  }
  return {
    input,
    padding: [
      [0, 0],
      [top, Math.max(0, bottom)],
      [left, Math.max(0, right)],
      [0, 0],
    ],
  };
}

/** Converts an NCHW tensor to NHWC (a no-op for NHWC). */
export function toChannelsLast(scope: KernelScope, x: TensorInfo, dataFormat: string | undefined): TensorInfo {
  return dataFormat === 'NCHW' ? scope.run(tf.Transpose, { x }, { perm: [0, 2, 3, 1] }) : x;
}
