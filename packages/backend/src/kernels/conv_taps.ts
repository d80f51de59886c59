import * as tf from '@tensorflow/tfjs-core';
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
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
type ConvInfoArgs = Parameters<typeof backend_util.computeConv2DInfo>;

/**
 * The geometry of a conv2d (`depthwise`: depthwise conv2d) whose gradient a kernel computes, from
 * the forward input and filter shapes and the kernel's attributes (dilations default 1, the data
 * format NHWC unless given).
 */
export function gradientConvInfo(
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: { strides: ConvInfoArgs[2]; dilations?: ConvInfoArgs[3] | undefined; pad: ConvInfoArgs[4]; dimRoundingMode?: ConvInfoArgs[5] | undefined; dataFormat?: 'NHWC' | 'NCHW' | undefined },
  depthwise: boolean,
): backend_util.Conv2DInfo {
  const dataFormat = attrs.dataFormat === undefined ? 'channelsLast' : backend_util.convertConv2DDataFormat(attrs.dataFormat);
  const shape4 = (s: readonly number[]) => [...s] as [number, number, number, number];
  return backend_util.computeConv2DInfo(shape4(xShape), shape4(filterShape), attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, depthwise, dataFormat);
}

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

/**
 * Zero-padding (after), or cropping (before/after), along one spatial axis that turns the input
 * gradient of a convolution into a stride-1 convolution of the zero-upsampled dy with the
 * flipped filter.
 */
interface AxisPlan {
  readonly cropStart: number;
  readonly length: number;
  readonly padBefore: number;
  readonly padAfter: number;
}

function planAxis(inSize: number, outSize: number, stride: number, filterSize: number, dilation: number, padBefore: number): AxisPlan {
  const effective = (filterSize - 1) * dilation + 1;
  const upsampled = outSize * stride; // trailing zeros included
  let before = effective - 1 - padBefore;
  const cropStart = Math.max(0, -before);
  before = Math.max(0, before);
  let length = upsampled - cropStart;
  let after = inSize - 1 + effective - before - length;
  if (after < 0) {
    length += after; // rows no output position reads
    after = 0;
  }
  return { cropStart, length: Math.max(0, length), padBefore: before, padAfter: after };
}

/**
 * The input gradient of a convolution as a stride-1 convolution: dy [B, outH, outW, K] is
 * upsampled by the stride (zeros inserted through a Reshape + PadV2), and cropped where no input
 * position reads it; convolving the result with the spatially flipped filter, the forward
 * dilation and the returned explicit padding gives dx [B, H, W, ...]. Undefined when dx is all
 * zeros (no output position touches the input).
 */
export function upsampleForInputGradient(s: KernelScope, dy: TensorInfo, g: ConvGeometry): { input: TensorInfo; padding: ExplicitPadding } | undefined {
  const rows = planAxis(g.inHeight, g.outHeight, g.strideHeight, g.filterHeight, g.dilationHeight, g.padInfo.top);
  const cols = planAxis(g.inWidth, g.outWidth, g.strideWidth, g.filterWidth, g.dilationWidth, g.padInfo.left);
  if (rows.length === 0 || cols.length === 0) return undefined;
  const [b = 0, , , k = 0] = dy.shape;
  let up = dy;
  if (g.strideHeight > 1 || g.strideWidth > 1) {
    const six = s.reshape(dy, [b, g.outHeight, 1, g.outWidth, 1, k]);
    const padded = s.run(
      tf.PadV2,
      { x: six },
      {
        paddings: [
          [0, 0],
          [0, 0],
          [0, g.strideHeight - 1],
          [0, 0],
          [0, g.strideWidth - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
    up = s.reshape(padded, [b, g.outHeight * g.strideHeight, g.outWidth * g.strideWidth, k]);
    s.free(six, padded);
  }
  if (rows.cropStart > 0 || cols.cropStart > 0 || rows.length < (up.shape[1] ?? 0) || cols.length < (up.shape[2] ?? 0)) {
    up = s.run(tf.Slice, { x: up }, { begin: [0, rows.cropStart, cols.cropStart, 0], size: [b, rows.length, cols.length, k] });
  }
  return {
    input: up,
    padding: [
      [0, 0],
      [rows.padBefore, rows.padAfter],
      [cols.padBefore, cols.padAfter],
      [0, 0],
    ],
  };
}
