import * as tf from '@tensorflow/tfjs-core';
import type { Conv2DBackpropInputAttrs, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { withScope, type KernelArgs } from './kernel_scope.js';
import { gradientConvInfo, toChannelsLast, upsampleForInputGradient } from './conv_taps.js';

/**
 * Conv2DBackpropInput for the WASM backend (the input gradient of conv2d, and conv2dTranspose),
 * replacing tfjs-backend-wasm 4.22's scalar C++ loop, which is ~10x slower than the forward
 * convolution and dominates a convnet's backward pass.
 *
 * Route: a transposed convolution on one XNNPACK Conv2D. dy is upsampled by the stride (zeros
 * inserted through Reshape + PadV2) and cropped where no input position reads it, then
 * convolved at stride 1 with the filter flipped spatially and with its in/out channels swapped
 * ([fH, fW, O, C]), the padding chosen so the output has the input's size. NCHW is transposed.
 */
function conv2DBackpropInput(args: KernelArgs<{ dy: TensorInfo; filter: TensorInfo }, Conv2DBackpropInputAttrs>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { dataFormat } = attrs;
  const info = gradientConvInfo(attrs.inputShape, filter.shape, attrs, false);
  const nhwc = [info.batchSize, info.inHeight, info.inWidth, info.inChannels];
  return withScope(backend, 'wasm', (s) => {
    const dyl = toChannelsLast(s, dy, dataFormat);
    const prepared = upsampleForInputGradient(s, dyl, info);
    let dx: TensorInfo;
    if (prepared === undefined) {
      dx = s.run(tf.Fill, {}, { shape: nhwc, value: 0, dtype: 'float32' });
    } else {
      const flipped = s.run(tf.Reverse, { x: filter }, { dims: [0, 1] });
      const swapped = s.run(tf.Transpose, { x: flipped }, { perm: [0, 1, 3, 2] });
      dx = s.run(
        tf.Conv2D,
        { x: prepared.input, filter: swapped },
        { strides: [1, 1], dilations: [1, 1], pad: prepared.padding, dataFormat: 'NHWC' },
      );
    }
    return dataFormat === 'NCHW' ? s.run(tf.Transpose, { x: dx }, { perm: [0, 3, 1, 2] }) : dx;
  });
}

/** Kernel registration for {@link conv2DBackpropInput}. */
export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as KernelConfig['kernelFunc'],
};
