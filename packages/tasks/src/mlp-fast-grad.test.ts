// The hand-derived backward pass of the MLP softmax loss against tfjs autodiff, against central
// finite differences of a float64 reference, and the guard that keeps second-order gradients
// on the autodiff path.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { key, normalArray, randintArray, split, treeLeaves, treeUnflatten, treeFlatten, disposeTree, type TensorTree } from '@lopt/core';
import { fastGradCovers, mlpSoftmaxLoss, takesFastGrad, type MlpLossPath } from './mlp-fast-grad.js';
import { imageMlpTask } from './image-tasks.js';
import { mlpLayerName, type Activation, type DenseParams } from './nn.js';
import { secondOrderOn } from './fast-grad-test-helpers.js';

interface Net {
  sizes: number[];
  act: Activation;
  batch: number;
}

/** Keyed random parameters, inputs and labels (host values, so float64 references can use them). */
function problem(net: Net, seed: number): { params: Record<string, DenseParams>; x: tf.Tensor2D; labels: tf.Tensor1D; host: { ws: Float64Array[]; bs: Float64Array[]; x: Float64Array; labels: Int32Array } } {
  const keys = split(key(seed), 2 * net.sizes.length + 2);
  const ws: Float64Array[] = [];
  const bs: Float64Array[] = [];
  const params: Record<string, DenseParams> = {};
  for (let i = 0; i + 1 < net.sizes.length; i++) {
    const [fi, fo] = [net.sizes[i]!, net.sizes[i + 1]!];
    ws.push(normalArray(keys[2 * i]!, fi * fo).map((v) => v / Math.sqrt(fi)));
    bs.push(normalArray(keys[2 * i + 1]!, fo).map((v) => 0.1 * v));
    params[mlpLayerName(i)] = { w: tf.tensor2d(Float32Array.from(ws[i]!), [fi, fo]), b: tf.tensor1d(Float32Array.from(bs[i]!)) };
  }
  const xv = normalArray(keys[keys.length - 2]!, net.batch * net.sizes[0]!);
  const labels = randintArray(keys[keys.length - 1]!, net.batch, 0, net.sizes[net.sizes.length - 1]!);
  // round the host copies to float32, so the float64 reference sees the same numbers as tfjs
  const f32 = (a: Float64Array): Float64Array => Float64Array.from(Float32Array.from(a));
  return {
    params,
    x: tf.tensor2d(Float32Array.from(xv), [net.batch, net.sizes[0]!]),
    labels: tf.tensor1d(labels, 'int32'),
    host: { ws: ws.map(f32), bs: bs.map(f32), x: f32(xv), labels },
  };
}

const ACT64: Partial<Record<Activation, (z: number) => number>> = {
  relu: (z) => Math.max(0, z),
  tanh: Math.tanh,
  sigmoid: (z) => 1 / (1 + Math.exp(-z)),
};

/** float64 mean softmax cross-entropy of the MLP, written from the definition. */
function loss64(net: Net, ws: Float64Array[], bs: Float64Array[], x: Float64Array, labels: Int32Array): number {
  let total = 0;
  const layers = net.sizes.length - 1;
  for (let r = 0; r < net.batch; r++) {
    let h = Array.from(x.subarray(r * net.sizes[0]!, (r + 1) * net.sizes[0]!));
    for (let i = 0; i < layers; i++) {
      const [fi, fo] = [net.sizes[i]!, net.sizes[i + 1]!];
      const z = Array.from({ length: fo }, (_, j) => {
        let s = bs[i]![j]!;
        for (let q = 0; q < fi; q++) s += h[q]! * ws[i]![q * fo + j]!;
        return s;
      });
      h = i + 1 < layers ? z.map(ACT64[net.act]!) : z;
    }
    const m = Math.max(...h);
    const lse = m + Math.log(h.reduce((s, v) => s + Math.exp(v - m), 0));
    total += lse - h[labels[r]!]!;
  }
  return total / net.batch;
}

const NETS: Net[] = [
  { sizes: [7, 4], act: 'relu', batch: 9 },
  { sizes: [7, 6, 4], act: 'relu', batch: 9 },
  { sizes: [5, 6, 5, 3], act: 'tanh', batch: 8 },
  { sizes: [6, 5, 4], act: 'sigmoid', batch: 10 },
  // wide enough for the fused kernel's 4x8 SIMD blocks, with remainders in every dimension
  { sizes: [19, 17, 10], act: 'tanh', batch: 13 },
  { sizes: [12, 16, 11], act: 'relu', batch: 8 },
];

function gradsOf(p: ReturnType<typeof problem>, net: Net, path: MlpLossPath): { value: number; grads: Float32Array[] } {
  const { structure } = treeFlatten(p.params as unknown as TensorTree);
  const layers = net.sizes.length - 1;
  const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) =>
    mlpSoftmaxLoss(treeUnflatten(structure, ls) as unknown as Record<string, DenseParams>, p.x, p.labels, layers, net.act, net.sizes[layers]!, path),
  )(treeLeaves(p.params as unknown as TensorTree));
  const out = { value: value.dataSync()[0]!, grads: grads.map((g) => Float32Array.from(g.dataSync())) };
  tf.dispose([value, ...grads]);
  return out;
}

describe('mlpSoftmaxLoss: the hand-derived backward pass', () => {
  NETS.forEach((net, n) => {
    it.each(['fast', 'fused'] as const)(`%s path equals autodiff and float64 finite differences: ${net.sizes.join('-')} ${net.act}`, (path) => {
      const p = problem(net, 40 + n);
      const fast = gradsOf(p, net, path);
      const auto = gradsOf(p, net, 'autodiff');
      if (path === 'fast') expect(fast.value).toBe(auto.value);
      else expect(Math.abs(fast.value - auto.value)).toBeLessThan(1e-6 * Math.max(1, auto.value));
      expect(Math.abs(fast.value - loss64(net, p.host.ws, p.host.bs, p.host.x, p.host.labels))).toBeLessThan(1e-5);
      fast.grads.forEach((g, i) => {
        const a = auto.grads[i]!;
        const scale = Math.max(...Array.from(a, Math.abs));
        expect(scale).toBeGreaterThan(1e-3);
        for (let j = 0; j < g.length; j++) expect(Math.abs(g[j]! - a[j]!)).toBeLessThan(1e-6 + 1e-5 * scale);
      });
      // central differences of the float64 loss; leaves are sorted: layerNN.b, layerNN.w, ...
      const h = 1e-6;
      for (let i = 0; i + 1 < net.sizes.length; i++) {
        for (const [leaf, host] of [[2 * i, p.host.bs[i]!], [2 * i + 1, p.host.ws[i]!]] as const) {
          for (const j of [0, Math.floor(host.length / 2), host.length - 1]) {
            const keep = host[j]!;
            host[j] = keep + h;
            const up = loss64(net, p.host.ws, p.host.bs, p.host.x, p.host.labels);
            host[j] = keep - h;
            const down = loss64(net, p.host.ws, p.host.bs, p.host.x, p.host.labels);
            host[j] = keep;
            expect(Math.abs(fast.grads[leaf]![j]! - (up - down) / (2 * h))).toBeLessThan(2e-5);
          }
        }
      }
      disposeTree([p.params as unknown as TensorTree, p.x, p.labels]);
    });
  });

  it('works when the parameters are temporaries of the caller (a reparameterized task)', () => {
    const net = NETS[1]!;
    const p = problem(net, 50);
    const layers = net.sizes.length - 1;
    const { structure } = treeFlatten(p.params as unknown as TensorTree);
    const scaled = (path: MlpLossPath): Float32Array[] => {
      const gs = tf.grads((...ls: tf.Tensor[]) =>
        tf.tidy(() => {
          const real = ls.map((l) => tf.mul(l, 1.5)); // disposed when this tidy ends, before the backward pass
          return mlpSoftmaxLoss(treeUnflatten(structure, real) as unknown as Record<string, DenseParams>, p.x, p.labels, layers, net.act, net.sizes[layers]!, path);
        }),
      )(treeLeaves(p.params as unknown as TensorTree));
      const out = gs.map((g) => Float32Array.from(g.dataSync()));
      tf.dispose(gs);
      return out;
    };
    const fast = scaled('fast');
    const fused = scaled('fused');
    scaled('autodiff').forEach((a, i) =>
      a.forEach((v, j) => {
        expect(Math.abs(fast[i]![j]! - v)).toBeLessThan(1e-6);
        expect(Math.abs(fused[i]![j]! - v)).toBeLessThan(1e-6);
      }),
    );
    disposeTree([p.params as unknown as TensorTree, p.x, p.labels]);
  });

  it('covers relu, tanh, sigmoid and any activation without hidden layers', () => {
    expect(['relu', 'tanh', 'sigmoid'].every((a) => fastGradCovers(2, a as Activation))).toBe(true);
    expect(fastGradCovers(2, 'gelu')).toBe(false);
    expect(fastGradCovers(1, 'gelu')).toBe(true);
  });

  it('second-order gradients are unchanged: under a nested tape the autodiff path runs', () => {
    const net = NETS[2]!;
    const p = problem(net, 60);
    const layers = net.sizes.length - 1;
    const { structure } = treeFlatten(p.params as unknown as TensorTree);
    const leaves = treeLeaves(p.params as unknown as TensorTree);
    // d/dθ of |inner gradient|² (tfjs 4.22 cannot differentiate twice through tf.logSoftmax: then the error)
    const secondOrder = (path: 'auto' | 'autodiff'): string =>
      secondOrderOn((ls, gp) => mlpSoftmaxLoss(treeUnflatten(structure, ls) as unknown as Record<string, DenseParams>, p.x, p.labels, layers, net.act, net.sizes[layers]!, gp as MlpLossPath), leaves, path);
    const taken: boolean[] = [];
    const probe = (...ls: tf.Tensor[]): tf.Scalar => {
      taken.push(takesFastGrad(layers, net.act));
      return tf.sum(tf.square(ls[0]!)) as tf.Scalar;
    };
    const first = [leaves[0]!];
    tf.dispose(tf.grads((...ls: tf.Tensor[]) => tf.sum(tf.square(tf.grads(probe)(ls)[0]!)) as tf.Scalar)(first));
    tf.dispose(tf.grads(probe)(first));
    tf.dispose(probe(...first));
    expect(taken).toEqual([false, true, false]); // nested tapes: autodiff; one tape: fast; no tape: plain forward
    expect(secondOrder('auto')).toBe(secondOrder('autodiff'));
    disposeTree([p.params as unknown as TensorTree, p.x, p.labels]);
  });

  it('imageMlpTask trains through it: task gradients equal autodiff, and memory stays flat', () => {
    const task = imageMlpTask({ imageSize: 8, hidden: [12], batchSize: 16 });
    const params = task.init(key(7));
    const { structure } = treeFlatten(params);
    const leaves = treeLeaves(params);
    const batch = task.datasets!.train.sample(key(8)) as { image: tf.Tensor; label: tf.Tensor1D };
    const viaTask = (): tf.Tensor[] => tf.grads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch))(leaves);
    const reference = tf.grads((...ls: tf.Tensor[]) =>
      mlpSoftmaxLoss(treeUnflatten(structure, ls) as unknown as Record<string, DenseParams>, tf.reshape(batch.image, [16, 64]) as tf.Tensor2D, batch.label, 2, 'relu', 10, 'autodiff'),
    )(leaves);
    const got = viaTask();
    got.forEach((g, i) => {
      const ref = reference[i]!.dataSync();
      const scale = Math.max(...Array.from(ref, Math.abs));
      g.dataSync().forEach((v, j) => expect(Math.abs(v - ref[j]!)).toBeLessThan(1e-6 + 1e-5 * scale));
    });
    tf.dispose([...got, ...reference]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 30; i++) tf.dispose(viaTask());
    expect(tf.memory().numTensors).toBe(before);
    disposeTree([params, batch as unknown as TensorTree]);
  });
});
