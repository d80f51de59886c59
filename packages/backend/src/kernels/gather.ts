import * as tf from '@tensorflow/tfjs-core';
import { backend_util, util } from '@tensorflow/tfjs-core';
import type { GatherV2Attrs, KernelBackend, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm's backend that a heap-level kernel needs. */
interface WasmHeapBackend extends KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * GatherV2 for the WASM backend as slice copies on the WASM heap: every gathered slice
 * (`sliceSize` contiguous elements) is one `TypedArray.copyWithin`, where
 * tfjs-backend-wasm 4.22's C++ kernel computes strided indices element by element (gathering 128
 * MNIST rows of 784 floats took ~10 ms there, a host-side copy ~0.4 ms). Indices out of range
 * throw, as the backend's own kernel does.
 */
function gatherV2(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmHeapBackend;
  const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
  const { axis, batchDims } = args.attrs as unknown as GatherV2Attrs;
  const parsedAxis = util.parseAxisParam(axis, x.shape)[0]!;
  const info = backend_util.segment_util.collectGatherOpShapeInfo(x as tf.Tensor, indices as tf.Tensor, parsedAxis, batchDims);
  const out = backend.makeOutput(info.outputShape, x.dtype);
  if (util.sizeFromShape(out.shape) === 0) return out;
  // views after makeOutput: allocating may grow (and so detach) the heap
  const xs = backend.typedArrayFromHeap(x);
  const idx = backend.typedArrayFromHeap(indices);
  const os = backend.typedArrayFromHeap(out);
  const dim = info.dimSize;
  const slice = info.sliceSize;
  const perBatch = util.sizeFromShape(indices.shape) / info.batchSize;
  for (const v of idx) {
    if (!(v >= 0 && v <= dim - 1)) throw new Error(`GatherV2: the index value ${v} is not in [0, ${dim - 1}]`);
  }
  // x as [batch, outer, dim, slice], indices as [batch, perBatch], out as [batch, outer, perBatch, slice];
  // one view of the whole heap in the element type, so each slice is one copyWithin (a memmove)
  const heap = new (xs.constructor as Float32ArrayConstructor)(xs.buffer);
  const xAt = xs.byteOffset / xs.BYTES_PER_ELEMENT;
  let o = os.byteOffset / os.BYTES_PER_ELEMENT;
  for (let b = 0; b < info.batchSize; b++) {
    for (let outer = 0; outer < info.outerSize; outer++) {
      const base = xAt + (b * info.outerSize + outer) * dim * slice;
      for (let i = 0; i < perBatch; i++) {
        const from = base + idx[b * perBatch + i]! * slice;
        heap.copyWithin(o, from, from + slice);
        o += slice;
      }
    }
  }
  return out;
}

/** lopt's WASM `GatherV2` (tf.gather: embedding lookups, batches gathered from a resident dataset). */
export const gatherV2Config: KernelConfig = {
  kernelName: tf.GatherV2,
  backendName: 'wasm',
  kernelFunc: gatherV2 as KernelConfig['kernelFunc'],
};
