// The hand-derived backward passes of the MLP autoencoder and the conv classifier against tfjs
// autodiff, against central differences of float64 references written from the definitions,
// second-order gradients (nested tapes take autodiff), and memory over many task steps.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { key, normalArray, randintArray, split, type Key } from '@lopt/core';
import { mlpAutoencoderLoss, type AutoencoderLossPath } from './autoencoder-fast-grad.js';
import { convName, convSoftmaxLoss, type ConvNetSpec } from './conv-fast-grad.js';
import { imageConvTask, imageMlpAutoencoderTask } from './image-tasks.js';
import { mlpLayerName, type Activation, type DenseParams } from './nn.js';
import { centralDifference, checkTaskFastGrad, expectGradsClose, f32, secondOrderOn, valueAndGradsOn, type PathLoss } from './fast-grad-test-helpers.js';

const ACT64: Partial<Record<Activation, (z: number) => number>> = {
  relu: (z) => Math.max(0, z),
  tanh: Math.tanh,
  sigmoid: (z) => 1 / (1 + Math.exp(-z)),
};
const sigmoid64 = ACT64.sigmoid!;

/** Keyed float32-representable host values: `n` normals times `scale`. */
const hostNormal = (k: Key, n: number, scale: number): Float64Array => f32(normalArray(k, n).map((v) => v * scale));

/** `y = x W + b` in float64 for `rows` rows. */
function dense64(x: Float64Array, w: Float64Array, b: Float64Array, rows: number, fi: number, fo: number): Float64Array {
  const y = new Float64Array(rows * fo);
  for (let r = 0; r < rows; r++) for (let j = 0; j < fo; j++) {
    let s = b[j]!;
    for (let q = 0; q < fi; q++) s += x[r * fi + q]! * w[q * fo + j]!;
    y[r * fo + j] = s;
  }
  return y;
}

/** Mean softmax cross-entropy of `[rows, C]` logits in float64. */
function xent64(z: Float64Array, labels: Int32Array, C: number): number {
  let total = 0;
  for (let r = 0; r < labels.length; r++) {
    const row = Array.from(z.subarray(r * C, (r + 1) * C));
    const m = Math.max(...row);
    total += m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[labels[r]!]!;
  }
  return total / labels.length;
}

/** Central differences of `loss64` at the first, middle and last coordinate of every host leaf, against `grads`. */
function expectFiniteDifferences(grads: Float32Array[], hosts: Float64Array[], loss64: () => number, tol: number): void {
  hosts.forEach((h, i) => {
    for (const j of new Set([0, Math.floor(h.length / 2), h.length - 1])) expect(Math.abs(grads[i]![j]! - centralDifference(loss64, h, j))).toBeLessThan(tol);
  });
}

/**
 * The value on `path` (default the hand-derived `'fast'`) equals autodiff's (exactly for `'fast'`,
 * same forward ops; within relative 1e-6 for the fused kernel) and the float64 loss within
 * `valueTol`; its gradients equal autodiff's (relative 1e-5) and central differences of the
 * float64 loss within `fdTol`.
 */
function expectFastEqualsReferences<P extends string>(p: { hosts: Float64Array[]; loss: PathLoss<P>; loss64: () => number }, leaves: tf.Tensor[], valueTol: number, fdTol: number, path = 'fast' as P): void {
  const fast = valueAndGradsOn(p.loss, leaves, path);
  const auto = valueAndGradsOn(p.loss, leaves, 'autodiff' as P);
  if (path === 'fast') expect(fast.value).toBe(auto.value);
  else expect(Math.abs(fast.value - auto.value)).toBeLessThan(1e-6 * Math.max(1, auto.value));
  expect(Math.abs(fast.value - p.loss64())).toBeLessThan(valueTol);
  expectGradsClose(fast.grads, auto.grads, 1e-5, 1e-7);
  expectFiniteDifferences(fast.grads, p.hosts, p.loss64, fdTol);
}

interface AeNet { sizes: number[]; act: Activation; batch: number }

function aeProblem(net: AeNet, seed: number): { hosts: Float64Array[]; x: Float64Array; loss: PathLoss<AutoencoderLossPath>; loss64: () => number } {
  const L = net.sizes.length - 1;
  const keys = split(key(seed), 2 * L + 1);
  const hosts: Float64Array[] = [];
  for (let i = 0; i < L; i++) hosts.push(hostNormal(keys[2 * i]!, net.sizes[i]! * net.sizes[i + 1]!, 1 / Math.sqrt(net.sizes[i]!)), hostNormal(keys[2 * i + 1]!, net.sizes[i + 1]!, 0.1));
  const D = net.sizes[0]!;
  const x = f32(Array.from(normalArray(keys[2 * L]!, net.batch * D), (v) => sigmoid64(v))); // pixels in (0, 1)
  const xt = tf.tensor2d(Float32Array.from(x), [net.batch, D]);
  const loss: PathLoss<AutoencoderLossPath> = (ls, path) => {
    const params: Record<string, DenseParams> = {};
    for (let i = 0; i < L; i++) params[mlpLayerName(i)] = { w: ls[2 * i]!, b: ls[2 * i + 1]! };
    return mlpAutoencoderLoss(params, xt, L, net.act, path);
  };
  const loss64 = (): number => {
    let h = x;
    for (let i = 0; i < L; i++) {
      const z = dense64(h, hosts[2 * i]!, hosts[2 * i + 1]!, net.batch, net.sizes[i]!, net.sizes[i + 1]!);
      h = z.map(i + 1 < L ? ACT64[net.act]! : sigmoid64);
    }
    return h.reduce((s, v, j) => s + (x[j]! - v) ** 2, 0) / h.length;
  };
  return { hosts, x, loss, loss64 };
}

const leavesOf = (hosts: Float64Array[], shapes: number[][]): tf.Tensor[] => hosts.map((h, i) => tf.tensor(Float32Array.from(h), shapes[i]));

describe('mlpAutoencoderLoss: the hand-derived backward pass', () => {
  const NETS: AeNet[] = [
    { sizes: [9, 9], act: 'relu', batch: 5 },
    { sizes: [12, 5, 12], act: 'relu', batch: 6 },
    { sizes: [10, 6, 3, 6, 10], act: 'tanh', batch: 7 },
    { sizes: [8, 4, 8], act: 'sigmoid', batch: 4 },
  ];
  NETS.forEach((net, n) => {
    const shapes = net.sizes.slice(1).flatMap((fo, i) => [[net.sizes[i]!, fo], [fo]]);
    it(`hand-derived and fused paths equal autodiff and float64 finite differences; second-order gradients unchanged: ${net.sizes.join('-')} ${net.act}`, () => {
      const p = aeProblem(net, 70 + n);
      const leaves = leavesOf(p.hosts, shapes);
      expectFastEqualsReferences(p, leaves, 1e-6, 1e-5);
      expectFastEqualsReferences(p, leaves, 1e-6, 1e-5, 'fused');
      const second = secondOrderOn(p.loss, leaves, 'auto');
      expect(second).not.toMatch(/^error/);
      expect(second).toBe(secondOrderOn(p.loss, leaves, 'autodiff'));
      tf.dispose(leaves);
    });
  });

  it('imageMlpAutoencoderTask trains through it: task gradients equal autodiff, memory flat over 100 steps', () => {
    checkTaskFastGrad(imageMlpAutoencoderTask({ imageSize: 8, hidden: [16, 8, 16], batchSize: 8 }), (p, b) =>
      mlpAutoencoderLoss(p as Record<string, DenseParams>, tf.reshape((b as { image: tf.Tensor }).image, [8, 64]) as tf.Tensor2D, 4, 'relu', 'autodiff'),
    );
  });
});

/** `'same'` 3x3 convolution with bias in float64, NHWC, filter `[3, 3, cin, cout]`, TF's padding (extra pad at the end). */
function conv64(x: Float64Array, shape: number[], w: Float64Array, b: Float64Array, cout: number, stride: number): { y: Float64Array; shape: number[] } {
  const [B, H, W, C] = shape as [number, number, number, number];
  const [Ho, Wo] = [Math.ceil(H / stride), Math.ceil(W / stride)];
  const top = Math.floor(Math.max((Ho - 1) * stride + 3 - H, 0) / 2);
  const left = Math.floor(Math.max((Wo - 1) * stride + 3 - W, 0) / 2);
  const y = new Float64Array(B * Ho * Wo * cout);
  for (let n = 0; n < B; n++) for (let i = 0; i < Ho; i++) for (let j = 0; j < Wo; j++) for (let o = 0; o < cout; o++) {
    let s = b[o]!;
    for (let di = 0; di < 3; di++) for (let dj = 0; dj < 3; dj++) {
      const [r, c] = [i * stride + di - top, j * stride + dj - left];
      if (r < 0 || r >= H || c < 0 || c >= W) continue;
      for (let q = 0; q < C; q++) s += x[((n * H + r) * W + c) * C + q]! * w[((di * 3 + dj) * C + q) * cout + o]!;
    }
    y[((n * Ho + i) * Wo + j) * cout + o] = s;
  }
  return { y, shape: [B, Ho, Wo, cout] };
}

interface ConvNet { size: number; channels: number[]; act: Activation; pool: 'avg' | 'max'; batch: number }

function convProblem(net: ConvNet, seed: number): { hosts: Float64Array[]; shapes: number[][]; loss: PathLoss; loss64: () => number; dispose: () => void } {
  const L = net.channels.length;
  const keys = split(key(seed), 2 * L + 4);
  const hosts: Float64Array[] = [];
  const shapes: number[][] = [];
  let cin = 1;
  net.channels.forEach((cout, i) => {
    hosts.push(hostNormal(keys[2 * i]!, 9 * cin * cout, 1 / Math.sqrt(9 * cin)), hostNormal(keys[2 * i + 1]!, cout, 0.1));
    shapes.push([3, 3, cin, cout], [cout]);
    cin = cout;
  });
  hosts.push(hostNormal(keys[2 * L]!, cin * 10, 1 / Math.sqrt(cin)), hostNormal(keys[2 * L + 1]!, 10, 0.1));
  shapes.push([cin, 10], [10]);
  const imgShape = [net.batch, net.size, net.size, 1];
  const image = hostNormal(keys[2 * L + 2]!, net.batch * net.size * net.size, 1);
  const labels = randintArray(keys[2 * L + 3]!, net.batch, 0, 10);
  const [img, lab] = [tf.tensor4d(Float32Array.from(image), imgShape as [number, number, number, number]), tf.tensor1d(labels, 'int32')];
  const spec: ConvNetSpec = { numConvs: L, activation: net.act, pool: net.pool, numClasses: 10 };
  const loss: PathLoss = (ls, path) => {
    const params: Record<string, { w: tf.Tensor; b: tf.Tensor }> = { head: { w: ls[2 * L]!, b: ls[2 * L + 1]! } };
    for (let i = 0; i < L; i++) params[convName(i)] = { w: ls[2 * i]!, b: ls[2 * i + 1]! };
    return convSoftmaxLoss(params as never, img, lab, spec, path);
  };
  const loss64 = (): number => {
    let h = { y: image, shape: imgShape };
    net.channels.forEach((cout, i) => {
      const z = conv64(h.y, h.shape, hosts[2 * i]!, hosts[2 * i + 1]!, cout, i === 0 ? 2 : 1);
      h = { y: z.y.map(ACT64[net.act]!), shape: z.shape };
    });
    const [B, Ho, Wo, C] = h.shape as [number, number, number, number];
    const pooled = new Float64Array(B * C).fill(net.pool === 'avg' ? 0 : -Infinity);
    h.y.forEach((v, idx) => {
      const [n, c] = [Math.floor(idx / (Ho * Wo * C)), idx % C];
      pooled[n * C + c] = net.pool === 'avg' ? pooled[n * C + c]! + v / (Ho * Wo) : Math.max(pooled[n * C + c]!, v);
    });
    return xent64(dense64(pooled, hosts[2 * L]!, hosts[2 * L + 1]!, B, C, 10), labels, 10);
  };
  return { hosts, shapes, loss, loss64, dispose: () => tf.dispose([img, lab]) };
}

describe('convSoftmaxLoss: the hand-derived backward pass', () => {
  const NETS: ConvNet[] = [
    { size: 6, channels: [3, 4], act: 'tanh', pool: 'avg', batch: 3 },
    { size: 7, channels: [2, 3, 2], act: 'relu', pool: 'max', batch: 4 },
    { size: 5, channels: [3], act: 'sigmoid', pool: 'max', batch: 3 },
    { size: 8, channels: [4, 4], act: 'relu', pool: 'avg', batch: 2 },
  ];
  NETS.forEach((net, n) => {
    it(`equals autodiff and float64 finite differences; second-order unchanged: ${net.size}x${net.size} ${net.channels.join('x')} ${net.act} ${net.pool}`, () => {
      const p = convProblem(net, 80 + n);
      const leaves = leavesOf(p.hosts, p.shapes);
      expectFastEqualsReferences(p, leaves, 1e-5, 2e-5);
      // tfjs 4.22 cannot differentiate twice through tf.logSoftmax: both paths must fail (or agree) the same way
      expect(secondOrderOn(p.loss, leaves, 'auto')).toBe(secondOrderOn(p.loss, leaves, 'autodiff'));
      tf.dispose(leaves);
      p.dispose();
    });
  });

  it('under nested tapes the autodiff path records the convolutions; under one tape one custom node replaces them', () => {
    // second-order gradients of the conv task are unavailable in tfjs 4.22 on either path (no gradient of
    // Conv2DBackpropFilter, none through tf.logSoftmax), so the test reads what the active tape records
    const p = convProblem(NETS[0]!, 90);
    const leaves = leavesOf(p.hosts, p.shapes);
    const recorded = (): string[] => {
      const tape = (tf.engine() as unknown as { state: { activeTape: { kernelName: string }[] } }).state.activeTape;
      const start = tape.length;
      tf.dispose(p.loss(leaves.map((l) => tf.add(l, 0)), 'auto'));
      return tape.slice(start).map((n) => n.kernelName);
    };
    const seen: string[][] = [];
    const probe = (x: tf.Tensor): tf.Scalar => {
      seen.push(recorded());
      return tf.sum(tf.square(x));
    };
    tf.dispose(tf.grad(probe)(leaves[0]!)); // one tape
    tf.dispose(tf.grad((y: tf.Tensor) => tf.sum(tf.grad(probe)(y)))(leaves[0]!)); // two tapes
    const convs = (names: string[]): number => names.filter((n) => n === 'Conv2D').length;
    expect(convs(seen[0]!)).toBe(0);
    expect(convs(seen[1]!)).toBe(2);
    tf.dispose(leaves);
    p.dispose();
  });

  it('imageConvTask trains through it: task gradients equal autodiff, memory flat over 50 steps', () => {
    const spec: ConvNetSpec = { numConvs: 2, activation: 'relu', pool: 'max', numClasses: 10 };
    checkTaskFastGrad(imageConvTask({ imageSize: 8, channels: [4, 8], batchSize: 8, pool: 'max' }), (p, b) => {
      const { image, label } = b as { image: tf.Tensor4D; label: tf.Tensor1D };
      return convSoftmaxLoss(p as never, image, label, spec, 'autodiff');
    }, 50);
  });
});
