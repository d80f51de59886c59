import * as tf from '@tensorflow/tfjs-core';
import { util } from '@tensorflow/tfjs-core';
import type { KernelConfig, TensorInfo, UnsortedSegmentSumAttrs } from '@tensorflow/tfjs-core';
import { withScope, type KernelArgs } from './kernel_scope.js';

/**
 * UnsortedSegmentSum for the WASM backend: `out[s, ...] = sum of x[i, ...] over i with
 * segmentIds[i] = s`, output shape `[numSegments, ...x.shape.slice(segmentIds.rank)]`. It is the
 * gradient of `gather` (embedding layers, attention over token ids).
 *
 * Route: one WASM ScatterNd, which adds rows with duplicate indices (O(N*D), not the
 * O(numSegments*N*D) mask-and-sum of the CPU kernel). The ids are read on the host to check
 * their range: ids outside [0, numSegments) are dropped, as in TensorFlow, by sending them to a
 * spare row that is sliced off.
 */
function unsortedSegmentSum(args: KernelArgs<{ x: TensorInfo; segmentIds: TensorInfo }, UnsortedSegmentSumAttrs>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, segmentIds } = inputs;
  const { numSegments } = attrs;
  const count = util.sizeFromShape(segmentIds.shape);
  const rest = x.shape.slice(segmentIds.shape.length);
  const outShape = [numSegments, ...rest];
  return withScope(backend, 'wasm', (s) => {
    if (count === 0 || util.sizeFromShape(outShape) === 0) {
      return s.run(tf.Fill, {}, { shape: outShape, value: 0, dtype: x.dtype });
    }
    const ids = backend.readSync(segmentIds.dataId) as Int32Array | Float32Array;
    let valid = true;
    for (let i = 0; i < count; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < numSegments)) {
        valid = false;
        break;
      }
    }
    const updates = s.reshape(x, [count, ...rest]);
    if (valid && segmentIds.dtype === 'int32') {
      const indices = s.reshape(segmentIds, [count, 1]);
      return s.run(tf.ScatterNd, { indices, updates }, { shape: outShape });
    }
    // Out-of-range ids (dropped by TensorFlow) go to a spare row, sliced off below.
    const clean = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const id = ids[i]!;
      clean[i] = id >= 0 && id < numSegments ? id : numSegments;
    }
    const indices = s.write(clean, [count, 1], 'int32');
    const spare = s.run(tf.ScatterNd, { indices, updates }, { shape: [numSegments + 1, ...rest] });
    return s.run(tf.Slice, { x: spare }, { begin: outShape.map(() => 0), size: outShape });
  });
}

/** Kernel registration for {@link unsortedSegmentSum}. */
export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as unknown as KernelConfig['kernelFunc'],
};
