import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { split, randintArray } from '@lopt/core';
import { caseKey, maxAbs, randomValues, relativeError, runOn, wasmVsCpu } from '../../test/harness.js';
import { conv2dFilterGrad, conv2dInputGrad, depthwiseFilterGrad, depthwiseInputGrad, einsumReference, type RefConv } from '../../test/reference.js';

const TOL = 1e-4;
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
type Pair = [number, number];

interface ConvCase {
  readonly name: string;
  readonly x: [number, number, number, number];
  readonly filter: [number, number, number, number];
  readonly strides: Pair;
  readonly pad: Pad;
  readonly dilations?: Pair;
}

function outShape(c: ConvCase, depthwise: boolean): number[] {
  return backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations ?? [1, 1], c.pad, undefined, depthwise).outShape;
}

function refGeometry(c: ConvCase, depthwise: boolean): RefConv {
  const info = backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations ?? [1, 1], c.pad, undefined, depthwise);
  return { x: c.x, filter: c.filter, out: info.outShape, strides: c.strides, dilations: c.dilations ?? [1, 1], padTop: info.padInfo.top, padLeft: info.padInfo.left };
}

/**
 * Compares WASM with the CPU backend and both with a float64 reference. The CPU kernels of
 * tfjs 4.22 ignore `dilations` in the depthwise backprop kernels (tfjs' own gradient never
 * passes a dilation > 1), so dilated cases are checked against the float64 reference only.
 */
async function checkKernel(body: () => tf.Tensor, reference: Float64Array, shape: readonly number[], cpuIsReference: boolean): Promise<void> {
  if (cpuIsReference) {
    const { error, shapes, cpu } = await wasmVsCpu(body);
    expect(shapes[0]).toEqual(shape);
    expect(maxAbs(cpu)).toBeGreaterThan(1);
    expect(error).toBeLessThan(TOL);
    expect(relativeError(cpu[0]!, reference)).toBeLessThan(TOL);
  } else {
    const wasm = await runOn('wasm', body);
    expect(wasm.shapes[0]).toEqual(shape);
    expect(relativeError(wasm.values[0]!, reference)).toBeLessThan(TOL);
  }
}

const explicitPad: Pad = [
  [0, 0],
  [2, 1],
  [0, 2],
  [0, 0],
];

const conv2dCases: ConvCase[] = [
  { name: '3x3 stride 1 same', x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'same' },
  { name: '3x3 stride 1 valid', x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'valid' },
  { name: '3x3 stride 2 same (even input, asymmetric pad)', x: [3, 8, 10, 2], filter: [3, 3, 2, 5], strides: [2, 2], pad: 'same' },
  { name: '3x3 stride 2 valid', x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: [2, 2], pad: 'valid' },
  { name: '5x2 strides [2,1] same', x: [2, 11, 7, 3], filter: [5, 2, 3, 2], strides: [2, 1], pad: 'same' },
  { name: '1x1 stride 1 valid', x: [2, 6, 6, 8], filter: [1, 1, 8, 4], strides: [1, 1], pad: 'valid' },
  { name: '3x3 explicit padding', x: [2, 7, 7, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: explicitPad },
  { name: '3x3 stride 2 same, 16 channels', x: [4, 14, 14, 8], filter: [3, 3, 8, 16], strides: [2, 2], pad: 'same' },
];

const depthwiseCases: ConvCase[] = [
  { name: '3x3 multiplier 1 stride 1 same', x: [2, 9, 9, 3], filter: [3, 3, 3, 1], strides: [1, 1], pad: 'same' },
  { name: '3x3 multiplier 2 stride 1 valid', x: [2, 9, 9, 3], filter: [3, 3, 3, 2], strides: [1, 1], pad: 'valid' },
  { name: '3x3 multiplier 2 stride 2 same (even input)', x: [2, 8, 10, 3], filter: [3, 3, 3, 2], strides: [2, 2], pad: 'same' },
  { name: '3x3 stride 2 valid', x: [2, 9, 9, 4], filter: [3, 3, 4, 1], strides: [2, 2], pad: 'valid' },
  { name: '3x3 dilation 2 same', x: [2, 9, 9, 3], filter: [3, 3, 3, 2], strides: [1, 1], pad: 'same', dilations: [2, 2] },
  { name: '3x3 dilation 2 valid', x: [2, 10, 9, 3], filter: [3, 3, 3, 1], strides: [1, 1], pad: 'valid', dilations: [2, 2] },
  { name: '5x3 strides [2,1] same', x: [2, 11, 7, 2], filter: [5, 3, 2, 3], strides: [2, 1], pad: 'same' },
  { name: '3x3 explicit padding', x: [2, 7, 7, 3], filter: [3, 3, 3, 2], strides: [1, 1], pad: explicitPad },
];

/** The filled conv gradient kernels: which gradient (of the filter or of the input), the cases, their key seeds and float64 references. */
const GRADIENT_KERNELS = [
  { kernel: tf.Conv2DBackpropFilter, of: 'filter', depthwise: false, cases: conv2dCases, seed: 100, reference: conv2dFilterGrad },
  { kernel: tf.Conv2DBackpropInput, of: 'input', depthwise: false, cases: conv2dCases, seed: 160, reference: conv2dInputGrad },
  { kernel: tf.DepthwiseConv2dNativeBackpropFilter, of: 'filter', depthwise: true, cases: depthwiseCases, seed: 200, reference: depthwiseFilterGrad },
  { kernel: tf.DepthwiseConv2dNativeBackpropInput, of: 'input', depthwise: true, cases: depthwiseCases, seed: 300, reference: depthwiseInputGrad },
] as const;

function tensor(values: Float32Array, shape: readonly number[]): tf.Tensor {
  return tf.tensor(values, [...shape], 'float32');
}

describe('filled WASM kernels match the CPU backend', () => {
  for (const k of GRADIENT_KERNELS) {
    k.cases.forEach((c, i) => {
      it(`${k.kernel}: ${c.name}`, async () => {
        const [ka, kdy] = split(caseKey(k.seed + i));
        // the operand besides dy: x for a filter gradient, the filter for an input gradient
        const operandShape = k.of === 'filter' ? c.x : c.filter;
        const av = randomValues(ka!, operandShape);
        const dyShape = outShape(c, k.depthwise);
        const dyv = randomValues(kdy!, dyShape);
        const attrs = {
          strides: c.strides,
          pad: c.pad,
          ...(k.depthwise ? { dilations: c.dilations ?? [1, 1] } : { dataFormat: 'NHWC' }),
          ...(k.of === 'filter' ? { filterShape: c.filter } : { inputShape: c.x }),
        };
        const body = (): tf.Tensor => {
          const operand = tensor(av, operandShape);
          const dy = tensor(dyv, dyShape);
          return tf.engine().runKernel(k.kernel, k.of === 'filter' ? { x: operand, dy } : { dy, filter: operand }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
        };
        const want = k.reference(refGeometry(c, k.depthwise), av, dyv);
        await checkKernel(body, want, k.of === 'filter' ? c.filter : c.x, !k.depthwise || c.dilations === undefined);
      });
    });
  }

  it('Conv2DBackpropInput: NCHW data format', async () => {
    const [kf, kdy] = split(caseKey(190));
    const fv = randomValues(kf!, [3, 3, 3, 4]);
    const dyv = randomValues(kdy!, [2, 4, 4, 4]);
    const nchw = await wasmVsCpu(() => {
      const dy = tensor(dyv, [2, 4, 4, 4]);
      const filter = tensor(fv, [3, 3, 3, 4]);
      if (tf.getBackend() === 'wasm') {
        return tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, { strides: 2, pad: 'same', dataFormat: 'NCHW', inputShape: [2, 3, 8, 8] }) as tf.Tensor;
      }
      const nhwc = tf.engine().runKernel(
        tf.Conv2DBackpropInput,
        { dy: tf.transpose(dy, [0, 2, 3, 1]), filter },
        { strides: 2, pad: 'same', dataFormat: 'NHWC', inputShape: [2, 8, 8, 3] },
      ) as tf.Tensor;
      return tf.transpose(nhwc, [0, 3, 1, 2]);
    });
    expect(nchw.shapes[0]).toEqual([2, 3, 8, 8]);
    expect(nchw.error).toBeLessThan(TOL);
  });

  it('Conv2DBackpropFilter: NCHW data format', async () => {
    const [kx, kdy] = split(caseKey(150));
    const xShape = [2, 3, 8, 8];
    const dyShape = [2, 4, 4, 4];
    const xv = randomValues(kx!, xShape);
    const dyv = randomValues(kdy!, dyShape);
    // The CPU kernel has no NCHW support either; compare against NHWC on CPU.
    const nchw = await wasmVsCpu(() => {
      const x = tensor(xv, xShape);
      const dy = tensor(dyv, dyShape);
      if (tf.getBackend() === 'wasm') {
        return tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { strides: 2, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 4] }) as tf.Tensor;
      }
      return tf.engine().runKernel(
        tf.Conv2DBackpropFilter,
        { x: tf.transpose(x, [0, 2, 3, 1]), dy: tf.transpose(dy, [0, 2, 3, 1]) },
        { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 3, 4] },
      ) as tf.Tensor;
    });
    expect(nchw.error).toBeLessThan(TOL);
  });

  // The CPU kernel of tfjs 4.22 fails on rank-2 ids (it expands them on the wrong axis); that
  // case is checked against the float64 reference only. Gather's gradient always passes rank-1 ids.
  const segmentCases: { name: string; x: number[]; ids: number[]; numSegments: number; dtype: 'float32' | 'int32'; invalid?: boolean }[] = [
    { name: 'rows of a matrix', x: [40, 6], ids: [40], numSegments: 7, dtype: 'float32' },
    { name: 'rank-2 ids (a batch of token sequences)', x: [4, 5, 3], ids: [4, 5], numSegments: 9, dtype: 'float32' },
    { name: 'scalar rows', x: [30], ids: [30], numSegments: 4, dtype: 'float32' },
    { name: 'int32 values', x: [20, 3], ids: [20], numSegments: 5, dtype: 'int32' },
    { name: 'out-of-range ids are dropped', x: [20, 3], ids: [20], numSegments: 5, dtype: 'float32', invalid: true },
  ];
  segmentCases.forEach((c, i) => {
    it(`UnsortedSegmentSum: ${c.name}`, async () => {
      const [kx, kid] = split(caseKey(400 + i));
      const n = c.ids.reduce((a, b) => a * b, 1);
      const ids = randintArray(kid!, n, c.invalid ? -2 : 0, c.invalid ? c.numSegments + 2 : c.numSegments);
      if (c.invalid) expect(ids.some((id) => id < 0 || id >= c.numSegments)).toBe(true);
      const raw = randomValues(kx!, c.x, c.dtype === 'int32' ? 10 : 1);
      const xv = c.dtype === 'int32' ? Int32Array.from(raw, Math.round) : raw;
      // float64 reference computed here, independent of both backends
      const rowSize = c.x.slice(c.ids.length).reduce((a, b) => a * b, 1);
      const expected = new Float64Array(c.numSegments * rowSize);
      ids.forEach((id, r) => {
        if (id < 0 || id >= c.numSegments) return;
        for (let j = 0; j < rowSize; j++) expected[id * rowSize + j]! += xv[r * rowSize + j]!;
      });
      const body = (): tf.Tensor => {
        const idsT: tf.Tensor = tf.tensor(ids, c.ids, 'int32');
        return tf.unsortedSegmentSum(tf.tensor(xv, c.x, c.dtype), idsT as tf.Tensor1D, c.numSegments);
      };
      const wasm = await runOn('wasm', body);
      expect(wasm.shapes[0]).toEqual([c.numSegments, ...c.x.slice(c.ids.length)]);
      expect(relativeError(wasm.values[0]!, expected)).toBeLessThan(TOL);
      if (c.ids.length === 1) {
        const { error } = await wasmVsCpu(body);
        expect(error).toBeLessThan(TOL);
      }
    });
  });

  // tfjs 4.22's CPU einsum is wrong when a label is summed out of both operands and the output
  // is a scalar ('ab,cb->' returns shape [c]); such cases are checked against the float64
  // reference only. Every case is checked against it.
  const einsumCases: { eq: string; shapes: number[][]; dtype?: 'int32'; cpuWrong?: true }[] = [
    { eq: 'ij,jk->ik', shapes: [[5, 7], [7, 3]] },
    { eq: 'ij,jk->ki', shapes: [[5, 7], [7, 3]] },
    { eq: 'bij,bjk->bik', shapes: [[4, 5, 6], [4, 6, 3]] },
    { eq: 'bhqd,bhkd->bhqk', shapes: [[2, 3, 5, 4], [2, 3, 6, 4]] },
    { eq: 'bhqk,bhkd->bqhd', shapes: [[2, 3, 5, 6], [2, 3, 6, 4]] },
    { eq: 'ij,ij->i', shapes: [[5, 7], [5, 7]] },
    { eq: 'i,j->ij', shapes: [[5], [4]] },
    { eq: 'abc,cd->abd', shapes: [[2, 3, 4], [4, 5]] },
    { eq: 'ab,cb->', shapes: [[3, 4], [5, 4]], cpuWrong: true },
    { eq: 'ab,cb->a', shapes: [[3, 4], [5, 4]] },
    { eq: 'ij->ji', shapes: [[3, 4]] },
    { eq: 'ijk->ik', shapes: [[3, 4, 5]] },
    { eq: 'ij,jk->ik', shapes: [[4, 5], [5, 3]], dtype: 'int32' },
  ];
  einsumCases.forEach((c, i) => {
    it(`Einsum: ${c.eq}${c.dtype ? ` (${c.dtype})` : ''}`, async () => {
      const keys = split(caseKey(500 + i), c.shapes.length);
      const vals = c.shapes.map((s, j) => {
        const v = randomValues(keys[j]!, s, c.dtype ? 5 : 1);
        return c.dtype ? Int32Array.from(v, Math.round) : v;
      });
      const body = (): tf.Tensor => tf.einsum(c.eq, ...vals.map((v, j) => tf.tensor(v, c.shapes[j], c.dtype ?? 'float32')));
      const ref = einsumReference(c.eq, vals.map((values, j) => ({ values, shape: c.shapes[j]! })));
      const wasm = await runOn('wasm', body);
      expect(wasm.shapes[0]).toEqual(ref.shape);
      expect(maxAbs([Float32Array.from(ref.values)])).toBeGreaterThan(0.5);
      expect(relativeError(wasm.values[0]!, ref.values)).toBeLessThan(TOL);
      if (!c.cpuWrong) expect((await wasmVsCpu(body)).error).toBeLessThan(TOL);
    });
  });
});

describe('replaced WASM max-pooling kernels match the CPU backend and a float64 reference', () => {
  const poolCases: { name: string; shape: [number, number, number, number]; size: number; stride: number; pad: 'same' | 'valid' }[] = [
    { name: '2x2 stride 2 valid', shape: [2, 8, 8, 3], size: 2, stride: 2, pad: 'valid' },
    { name: '3x3 stride 2 same (odd input)', shape: [2, 7, 9, 2], size: 3, stride: 2, pad: 'same' },
    { name: '3x3 stride 1 same (overlapping windows)', shape: [1, 6, 6, 2], size: 3, stride: 1, pad: 'same' },
  ];
  poolCases.forEach((c, n) => {
    it(`MaxPoolGrad: ${c.name}, values of both signs`, async () => {
      const [kx, kdy] = split(caseKey(900 + n));
      const xv = randomValues(kx!, c.shape);
      const info = backend_util.computePool2DInfo(c.shape, c.size, c.stride, 1, c.pad);
      const dyv = randomValues(kdy!, info.outShape);
      // float64 reference: each window's gradient goes to its first maximum
      const [b, h, w, ch] = c.shape;
      const [, oh = 0, ow = 0] = info.outShape;
      const expected = new Float64Array(xv.length);
      for (let bi = 0; bi < b; bi++)
        for (let y = 0; y < oh; y++)
          for (let x = 0; x < ow; x++)
            for (let ci = 0; ci < ch; ci++) {
              let best = -Infinity;
              let at = -1;
              for (let i = 0; i < c.size; i++)
                for (let j = 0; j < c.size; j++) {
                  const r = y * c.stride + i - info.padInfo.top;
                  const q = x * c.stride + j - info.padInfo.left;
                  if (r < 0 || r >= h || q < 0 || q >= w) continue;
                  const idx = ((bi * h + r) * w + q) * ch + ci;
                  if (xv[idx]! > best) {
                    best = xv[idx]!;
                    at = idx;
                  }
                }
              expected[at]! += dyv[((bi * oh + y) * ow + x) * ch + ci]!;
            }
      const body = (): tf.Tensor => {
        const x = tensor(xv, c.shape);
        return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, c.size, c.stride, c.pad), tensor(dyv, info.outShape))))(x);
      };
      const { error, cpu } = await wasmVsCpu(body);
      expect(error).toBeLessThan(TOL);
      expect(relativeError(cpu[0]!, expected)).toBeLessThan(TOL);
    });
  });

  it('MaxPoolWithArgmax: argmax of all-negative windows', async () => {
    const xv = randomValues(caseKey(950), [2, 6, 6, 3]).map((v) => -Math.abs(v) - 0.1);
    const { error, cpu } = await wasmVsCpu(() => {
      const { result, indexes } = tf.maxPoolWithArgmax(tensor(xv, [2, 6, 6, 3]) as tf.Tensor4D, 2, 2, 'valid', true);
      return [result!, tf.cast(indexes!, 'float32')];
    });
    expect(maxAbs(cpu)).toBeGreaterThan(100); // argmax indices into the whole batch
    expect(error).toBeLessThan(1e-7);
  });
});

describe('gradients through the filled kernels match the CPU backend', () => {
  const gradCases: { name: string; depthwise: boolean; c: ConvCase }[] = [
    { name: 'conv2d 3x3 same stride 1', depthwise: false, c: conv2dCases[0]! },
    { name: 'conv2d 3x3 same stride 2', depthwise: false, c: conv2dCases[2]! },
    { name: 'conv2d 3x3 valid stride 2', depthwise: false, c: conv2dCases[3]! },
    { name: 'depthwiseConv2d same stride 1 multiplier 1', depthwise: true, c: depthwiseCases[0]! },
    { name: 'depthwiseConv2d same stride 2 multiplier 2', depthwise: true, c: depthwiseCases[2]! },
    { name: 'depthwiseConv2d valid stride 2', depthwise: true, c: depthwiseCases[3]! },
  ];
  gradCases.forEach(({ name, depthwise, c }, i) => {
    it(`tf.grads of ${name} (input and filter)`, async () => {
      const [kx, kf, kw] = split(caseKey(600 + i), 3);
      const xv = randomValues(kx!, c.x);
      const fv = randomValues(kf!, c.filter, 0.5);
      const ws = outShape(c, depthwise);
      const wv = randomValues(kw!, ws);
      const pad = c.pad as 'same' | 'valid';
      const { error, cpu } = await wasmVsCpu(() => {
        const w = tensor(wv, ws);
        const loss = (x: tf.Tensor, f: tf.Tensor): tf.Tensor => {
          const y = depthwise
            ? tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.strides, pad)
            : tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.strides, pad);
          return tf.sum(tf.mul(tf.tanh(y), w));
        };
        return tf.grads(loss)([tensor(xv, c.x), tensor(fv, c.filter)]);
      });
      expect(maxAbs(cpu)).toBeGreaterThan(0.5);
      expect(error).toBeLessThan(TOL);
    });
  });

  it('tf.grad of gather (an embedding lookup with repeated ids)', async () => {
    const [ke, kid, kw] = split(caseKey(700), 3);
    const vocab = 11;
    const dim = 6;
    const ids = randintArray(kid!, 4 * 7, 0, vocab);
    const ev = randomValues(ke!, [vocab, dim]);
    const wv = randomValues(kw!, [4, 7, dim]);
    const { error, cpu } = await wasmVsCpu(() => {
      const idsT = tf.tensor(ids, [4, 7], 'int32');
      const w = tensor(wv, [4, 7, dim]);
      return tf.grad((e: tf.Tensor) => tf.sum(tf.mul(tf.sin(tf.gather(e, idsT)), w)))(tensor(ev, [vocab, dim]));
    });
    expect(maxAbs(cpu)).toBeGreaterThan(0.5);
    expect(error).toBeLessThan(TOL);
  });
});
