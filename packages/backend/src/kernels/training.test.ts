// Training blockers: the gradients of whole models (a convnet, a depthwise-separable convnet, an
// embedding + LSTM, a transformer block) must exist on WASM and match the CPU backend.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { randintArray, split, type Key } from '@lopt/core';
import { caseKey, maxAbs, randomValues, wasmVsCpu } from '../../test/harness.js';

const TOL = 1e-4;

/** Sets a layers model's weights from keyed random values (no tfjs random initialiser is trusted). */
function setKeyedWeights(model: tf.LayersModel, seed: number, scale = 0.3): void {
  const keys = split(caseKey(seed), model.weights.length);
  model.setWeights(model.weights.map((w, i) => tf.tensor(randomValues(keys[i]!, w.shape as number[], scale), w.shape as number[])));
}

/** Gradients of a softmax cross-entropy loss w.r.t. every trainable weight of `model`. */
function modelGrads(model: tf.LayersModel, x: tf.Tensor, labels: tf.Tensor): tf.Tensor[] {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, model.apply(x) as tf.Tensor) as tf.Scalar, vars);
  return vars.map((v) => grads[v.name]!);
}

function oneHot(k: ReturnType<typeof caseKey>, n: number, classes: number): tf.Tensor {
  return tf.oneHot(tf.tensor1d(randintArray(k, n, 0, classes), 'int32'), classes);
}

/** The gradients on CPU are `count` tensors, not all tiny, and WASM's agree with them within {@link TOL}. */
function expectGradientsMatch(cpu: Float32Array[], error: number, count: number): void {
  expect(cpu).toHaveLength(count);
  expect(maxAbs(cpu)).toBeGreaterThan(1e-2);
  expect(error).toBeLessThan(TOL);
}

/**
 * WASM-vs-CPU check of the gradients of the sequential model `layers()`: inputs `input(kx)` and
 * one-hot labels `[batch, classes]` from the keys of `caseKey(seed)`, weights keyed by `seed + 1`;
 * the model has `gradients` trainable weights.
 */
async function expectModelGradients(c: { seed: number; labels: readonly [batch: number, classes: number]; gradients: number; input: (k: Key) => tf.Tensor }, layers: () => tf.layers.Layer[]): Promise<void> {
  const [kx, ky] = split(caseKey(c.seed)) as [Key, Key];
  const { error, cpu } = await wasmVsCpu(() => {
    const model = tf.sequential({ layers: layers() });
    setKeyedWeights(model, c.seed + 1);
    const grads = modelGrads(model, c.input(kx), oneHot(ky, c.labels[0], c.labels[1]));
    const kept = grads.map((g) => g.clone());
    model.dispose();
    return kept;
  });
  expectGradientsMatch(cpu, error, c.gradients);
}

describe('model gradients on WASM match the CPU backend', () => {
  it('convnet: conv2d same/valid, stride 2, max pooling, dense', () =>
    expectModelGradients({ seed: 800, labels: [4, 3], gradients: 6, input: (k) => tf.tensor(randomValues(k, [4, 12, 12, 2]), [4, 12, 12, 2]) }, () => [
      tf.layers.conv2d({ inputShape: [12, 12, 2], filters: 6, kernelSize: 3, padding: 'same', activation: 'tanh' }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', activation: 'tanh' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3 }),
    ]));

  it('depthwise-separable convnet: separableConv2d, depthwiseConv2d stride 2, global pooling', () =>
    expectModelGradients({ seed: 810, labels: [3, 4], gradients: 7, input: (k) => tf.tensor(randomValues(k, [3, 10, 10, 3]), [3, 10, 10, 3]) }, () => [
      tf.layers.separableConv2d({ inputShape: [10, 10, 3], filters: 5, kernelSize: 3, padding: 'same', depthMultiplier: 2, activation: 'relu' }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 4 }),
    ]));

  it('embedding + LSTM + dense', () =>
    expectModelGradients({ seed: 820, labels: [4, 3], gradients: 6, input: (k) => tf.tensor(randintArray(k, 4 * 6, 0, 15), [4, 6], 'int32') }, () => [
      tf.layers.embedding({ inputDim: 15, outputDim: 8, inputLength: 6 }),
      tf.layers.lstm({ units: 10 }),
      tf.layers.dense({ units: 3 }),
    ]));

  it('transformer block: token embedding, multi-head attention in einsum, layer norm, GELU MLP, tied output', async () => {
    const [batch, seq, vocab, dim, heads] = [2, 5, 13, 8, 2];
    const hd = dim / heads;
    const keys = split(caseKey(830), 8);
    const shapes: Record<string, number[]> = { emb: [vocab, dim], pos: [seq, dim], wqkv: [dim, 3 * dim], wo: [dim, dim], w1: [dim, 2 * dim], w2: [2 * dim, dim] };
    const init = Object.fromEntries(Object.entries(shapes).map(([name, s], i) => [name, randomValues(keys[i]!, s, 0.4)]));
    const tokens = randintArray(keys[6]!, batch * seq, 0, vocab);
    const targets = randintArray(keys[7]!, batch * seq, 0, vocab);
    const layerNorm = (x: tf.Tensor): tf.Tensor => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5)));
    };
    const { error, cpu } = await wasmVsCpu(() => {
      const names = Object.keys(shapes);
      const params = names.map((n) => tf.tensor(init[n]!, shapes[n]!));
      const tok = tf.tensor(tokens, [batch, seq], 'int32');
      const tgt = tf.oneHot(tf.tensor1d(targets, 'int32'), vocab);
      const loss = (...p: tf.Tensor[]): tf.Scalar => {
        const [emb, pos, wqkv, wo, w1, w2] = p as [tf.Tensor2D, tf.Tensor, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        const h = tf.add(tf.gather(emb, tok), pos); // [b, s, d]
        const qkv = tf.reshape(tf.matMul(tf.reshape(layerNorm(h), [batch * seq, dim]), wqkv), [batch, seq, 3, heads, hd]);
        const [q, k, v] = tf.unstack(qkv, 2); // each [b, s, h, hd]
        const scores = tf.mul(tf.einsum('bqhd,bkhd->bhqk', q!, k!), 1 / Math.sqrt(hd));
        const causal = tf.linalg.bandPart(tf.ones([seq, seq]), -1, 0);
        const att = tf.softmax(tf.add(scores, tf.mul(tf.sub(1, causal), -1e9)));
        const mixed = tf.reshape(tf.einsum('bhqk,bkhd->bqhd', att, v!), [batch * seq, dim]);
        const h2 = tf.add(tf.reshape(h, [batch * seq, dim]), tf.matMul(mixed, wo));
        const u = tf.matMul(layerNorm(h2), w1);
        const gelu = tf.mul(tf.mul(u, 0.5), tf.add(1, tf.erf(tf.mul(u, Math.SQRT1_2))));
        const h3 = tf.add(h2, tf.matMul(gelu, w2));
        const logits = tf.matMul(layerNorm(h3), emb, false, true); // tied output embedding
        return tf.losses.softmaxCrossEntropy(tgt, logits) as tf.Scalar;
      };
      return tf.grads(loss)(params);
    });
    expectGradientsMatch(cpu, error, 6);
  });
});
