import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { DepthwiseConv2dNativeBackpropInputAttrs, KernelBackend, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { withScope } from './kernel_scope.js';

/**
 * Zero-padding (after), or cropping (before/after), along one spatial axis that turns the
 * input gradient of a convolution into a stride-1 convolution of the zero-upsampled dy with
 * the flipped filter.
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
 * DepthwiseConv2dNativeBackpropInput for the WASM backend, the input gradient of a depthwise
 * convolution with channel multiplier M.
 *
 * Route: a transposed convolution on WASM kernels. dy is upsampled by the stride (zeros
 * inserted through a reshape + PadV2), cropped/padded so that a stride-1 convolution lines up,
 * and convolved by the WASM (XNNPACK) DepthwiseConv2dNative with the spatially flipped filter
 * seen as C*M channels of multiplier 1, keeping the forward dilation; for M > 1 the M outputs
 * of each input channel are summed.
 */
function depthwiseConv2dNativeBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: KernelBackend;
  attrs: DepthwiseConv2dNativeBackpropInputAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs;
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
  );
  const { batchSize: b, inHeight, inWidth, inChannels: c, outChannels: k, outHeight, outWidth } = info;
  const m = k / c;
  const rows = planAxis(inHeight, outHeight, info.strideHeight, info.filterHeight, info.dilationHeight, info.padInfo.top);
  const cols = planAxis(inWidth, outWidth, info.strideWidth, info.filterWidth, info.dilationWidth, info.padInfo.left);
  return withScope(backend, 'wasm', (s) => {
    if (rows.length === 0 || cols.length === 0) {
      return s.run(tf.Fill, {}, { shape: [...inputShape], value: 0, dtype: 'float32' });
    }
    let up = dy;
    if (info.strideHeight > 1 || info.strideWidth > 1) {
      const six = s.reshape(dy, [b, outHeight, 1, outWidth, 1, k]);
      const padded = s.run(
        tf.PadV2,
        { x: six },
        {
          paddings: [
            [0, 0],
            [0, 0],
            [0, info.strideHeight - 1],
            [0, 0],
            [0, info.strideWidth - 1],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
      up = s.reshape(padded, [b, outHeight * info.strideHeight, outWidth * info.strideWidth, k]);
      s.free(six, padded);
    }
    const upRows = up.shape[1] ?? 0;
    const upCols = up.shape[2] ?? 0;
    if (rows.cropStart > 0 || cols.cropStart > 0 || rows.length < upRows || cols.length < upCols) {
      up = s.run(tf.Slice, { x: up }, { begin: [0, rows.cropStart, cols.cropStart, 0], size: [b, rows.length, cols.length, k] });
    }
    const flipped = s.run(tf.Reverse, { x: filter }, { dims: [0, 1] });
    const filterK = s.reshape(flipped, [info.filterHeight, info.filterWidth, k, 1]);
    const conv = s.run(
      tf.DepthwiseConv2dNative,
      { x: up, filter: filterK },
      {
        strides: [1, 1],
        dilations: [info.dilationHeight, info.dilationWidth],
        pad: [
          [0, 0],
          [rows.padBefore, rows.padAfter],
          [cols.padBefore, cols.padAfter],
          [0, 0],
        ],
      },
    );
    if (m === 1) return conv;
    const five = s.reshape(conv, [b, inHeight, inWidth, c, m]);
    return s.run(tf.Sum, { x: five }, { axis: [4], keepDims: false });
  });
}

/** Kernel registration for {@link depthwiseConv2dNativeBackpropInput}. */
export const depthwiseConv2dNativeBackpropInputConfig: KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as KernelConfig['kernelFunc'],
};
