import * as tf from '@tensorflow/tfjs-core';
import type { DepthwiseConv2dNativeBackpropInputAttrs, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { withScope, type KernelArgs } from './kernel_scope.js';
import { gradientConvInfo, upsampleForInputGradient } from './conv_taps.js';

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
function depthwiseConv2dNativeBackpropInput(args: KernelArgs<{ dy: TensorInfo; filter: TensorInfo }, DepthwiseConv2dNativeBackpropInputAttrs>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const info = gradientConvInfo(attrs.inputShape, filter.shape, attrs, true);
  const { batchSize: b, inHeight, inWidth, inChannels: c, outChannels: k } = info;
  const m = k / c;
  return withScope(backend, 'wasm', (s) => {
    const prepared = upsampleForInputGradient(s, dy, info);
    if (prepared === undefined) {
      return s.run(tf.Fill, {}, { shape: [...attrs.inputShape], value: 0, dtype: 'float32' });
    }
    const flipped = s.run(tf.Reverse, { x: filter }, { dims: [0, 1] });
    const filterK = s.reshape(flipped, [info.filterHeight, info.filterWidth, k, 1]);
    const conv = s.run(
      tf.DepthwiseConv2dNative,
      { x: prepared.input, filter: filterK },
      { strides: [1, 1], dilations: [info.dilationHeight, info.dilationWidth], pad: prepared.padding },
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
