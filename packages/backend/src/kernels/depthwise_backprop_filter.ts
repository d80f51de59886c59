import * as tf from '@tensorflow/tfjs-core';
import type { DepthwiseConv2dNativeBackpropFilterAttrs, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { withScope, type KernelArgs } from './kernel_scope.js';
import { gradientConvInfo, filterGradientWindow } from './conv_taps.js';

/**
 * DepthwiseConv2dNativeBackpropFilter for the WASM backend, the filter gradient of a depthwise
 * convolution with channel multiplier M:
 * `dW[i, j, c, m] = sum over (b, y, x) of xPadded[b, y*sH + i*dH, x*sW + j*dW, c] * dy[b, y, x, c*M + m]`.
 *
 * Route: one WASM (XNNPACK) DepthwiseConv2dNative, by swapping roles. Every (channel c, image b)
 * pair becomes one depthwise channel: the input is x^T [1, H, W, C*B], the filter is dy^T
 * [outH, outW, C*B, M], applied with dilation = the forward stride and stride = the forward
 * dilation, giving [1, fH, fW, C*B*M]; a Sum over B finishes it. The forward padding becomes the
 * convolution's explicit padding, so the data movement is two transposes of the inputs.
 */
function depthwiseConv2dNativeBackpropFilter(args: KernelArgs<{ x: TensorInfo; dy: TensorInfo }, DepthwiseConv2dNativeBackpropFilterAttrs>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const { filterShape } = attrs;
  const info = gradientConvInfo(x.shape, filterShape, attrs, true);
  const b = info.batchSize;
  const c = info.inChannels;
  const m = info.outChannels / info.inChannels;
  return withScope(backend, 'wasm', (s) => {
    if (b * info.outHeight * info.outWidth === 0) {
      return s.run(tf.Fill, {}, { shape: [...filterShape], value: 0, dtype: 'float32' });
    }
    const { input, padding } = filterGradientWindow(s, x, info);
    const [, h = 0, w = 0] = input.shape;
    const xt = s.run(tf.Transpose, { x: input }, { perm: [1, 2, 3, 0] });
    const x4 = s.reshape(xt, [1, h, w, c * b]);
    const dy5 = s.reshape(dy, [b, info.outHeight, info.outWidth, c, m]);
    const dyt = s.run(tf.Transpose, { x: dy5 }, { perm: [1, 2, 3, 0, 4] });
    const filter = s.reshape(dyt, [info.outHeight, info.outWidth, c * b, m]);
    const conv = s.run(
      tf.DepthwiseConv2dNative,
      { x: x4, filter },
      { strides: [info.dilationHeight, info.dilationWidth], dilations: [info.strideHeight, info.strideWidth], pad: padding },
    );
    s.free(xt, x4, dyt, filter);
    const perImage = s.reshape(conv, [info.filterHeight * info.filterWidth * c, b, m]);
    const summed = b === 1 ? perImage : s.run(tf.Sum, { x: perImage }, { axis: [1], keepDims: false });
    return s.reshape(summed, filterShape);
  });
}

/** Kernel registration for {@link depthwiseConv2dNativeBackpropFilter}. */
export const depthwiseConv2dNativeBackpropFilterConfig: KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as KernelConfig['kernelFunc'],
};
