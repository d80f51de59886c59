import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LoptError, advance, deserializeTree, disposeTree, key, lossAndGrads, normal, serializeTree, treeLeaves, treePaths, type OptState, type TensorTree } from '@lopt/core';
import { adam, toTfjsOptimizer } from '@lopt/optimizers';
import { loadLearnedOptimizer, saveLearnedOptimizer } from '../checkpoint.js';
import { celo } from '../celo.js';
import { celo2 } from '../celo2.js';
import { PRETRAINED_NAMES, pretrained, pretrainedOptimizer } from './pretrained.js';

/** The folder of the ground-truth JSON copies: `shared/pretrained` next to the repository or one of its parents. */
function sharedPretrained(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const cand = join(dir, 'shared', 'pretrained');
    if (existsSync(join(cand, 'ALGORITHMS.md'))) return cand;
  }
  throw new Error('shared/pretrained (the JSON copies of the published weights) not found above this package');
}

type JsonLeaf = { shape: number[]; data: number[] };
const JSON_FILES = { celo: 'celo/theta.json', 'celo-adam': 'celo-adam/theta.json', celo2: 'celo2/celo2_weights.json' } as const;

/** A small model: a rank-3 kernel, two matrices, a bias and a scalar. */
function model(seed: number): TensorTree {
  return {
    conv: normal(key(seed), [2, 3, 4], { std: 0.5 }),
    l1: { w: normal(key(seed + 1), [4, 6], { std: 0.5 }), b: normal(key(seed + 2), [6], { std: 0.5 }) },
    l2: { w: normal(key(seed + 3), [6, 3], { std: 0.5 }) },
    s: tf.scalar(0.3),
  };
}

/** Gradients of sum(p^3 / 3 - p), leaf by leaf (so every step differs). */
function grads(params: TensorTree): TensorTree {
  const out = tf.tidy(() => treeLeaves(params).map((p) => tf.sub(tf.square(p), 1)));
  return { conv: out[0] as tf.Tensor, l1: { b: out[1] as tf.Tensor, w: out[2] as tf.Tensor }, l2: { w: out[3] as tf.Tensor }, s: out[4] as tf.Tensor };
}

describe('pretrained()', () => {
  it.each(Object.keys(JSON_FILES) as (keyof typeof JSON_FILES)[])('%s: the shipped theta equals the published JSON copy, leaf by leaf, bit for bit', (name) => {
    const json = JSON.parse(readFileSync(join(sharedPretrained(), JSON_FILES[name]), 'utf8')) as { leaves: Record<string, JsonLeaf>; parameterCount: number };
    const { theta } = pretrained(name);
    const paths = treePaths(theta);
    const leaves = treeLeaves(theta);
    expect(leaves.reduce((a, l) => a + l.size, 0)).toBe(json.parameterCount);
    for (const [path, leaf] of Object.entries(json.leaves)) {
      // JSON paths are '/'-joined (celo) or flat PyLO names (celo2); lopt paths are '.'-joined.
      const i = paths.indexOf(name === 'celo2' ? path : path.split('/').join('.'));
      expect(i, path).toBeGreaterThanOrEqual(0);
      const t = leaves[i] as tf.Tensor;
      expect(t.shape).toEqual(leaf.shape);
      expect(Array.from(t.dataSync())).toEqual(leaf.data.map((v) => Math.fround(v)));
    }
    disposeTree(theta);
  });

  it('keeps the reference leaf names: nested Haiku trees for Celo, flat PyLO names for Celo2', () => {
    const c = pretrained('celo').theta as Record<string, Record<string, Record<string, tf.Tensor | Record<string, tf.Tensor>>>>;
    expect((c.ff_mod_stack?.['~']?.w0__0 as tf.Tensor).shape).toEqual([1, 1, 4]);
    expect(((c.rnn_params?.rnn as Record<string, Record<string, tf.Tensor>>).linear?.w as tf.Tensor).shape).toEqual([128, 256]);
    expect((c.lstm_init_state?.hidden as unknown as tf.Tensor).shape).toEqual([1, 64]);
    const c2 = pretrained('celo2').theta as Record<string, tf.Tensor>;
    expect(c2['first_layer_weights.0']?.shape).toEqual([8, 1]);
    expect(c2['hidden.weight']?.shape).toEqual([8, 8]);
    expect(c2['output.bias']?.shape).toEqual([3]);
    disposeTree(c as unknown as TensorTree);
    disposeTree(c2);
  });

  it('reports licence and source, and rejects unknown names and bad overrides with LoptError', () => {
    expect(pretrained('celo2').info.licence).toBe('BSD-3-Clause');
    expect(pretrained('celo').info.licence).toBe('MIT');
    expect(() => pretrained('velo' as 'celo')).toThrow(/No pretrained optimizer 'velo'/);
    expect(() => pretrainedOptimizer('celo2', { learningRate: -1 })).toThrow(/'learningRate'/);
    expect(() => pretrainedOptimizer('celo2', { hiddenSize: 4 })).toThrow(LoptError);
    expect(() => pretrainedOptimizer('celo2', { routing: 'first' })).toThrow(/'routing'/);
    expect(() => pretrainedOptimizer('celo2', { regex1d: '(' })).toThrow(/'regex1d'/);
    expect(() => pretrainedOptimizer('celo').init(model(1))).toThrow(/'numSteps'/);
    const opt = pretrainedOptimizer('celo', { numSteps: 10 });
    const s = opt.init(model(1));
    expect(() => opt.update(s, grads(s.params))).toThrow(/ctx\.loss/);
    expect(() => celo({ stepMult: Number.NaN })).toThrow(/'stepMult'/);
    expect(() => celo2({ nsIters: 1.5 })).toThrow(/'iterations'|'nsIters'/);
    expect(() => celo2({ colour: 1 } as never)).toThrow(/celo2: unknown option 'colour'\. Known options: /);
  });
});

describe('pretrained optimizers in a training loop', () => {
  it.each(PRETRAINED_NAMES)('%s: tf.memory().numTensors stays flat over 40 steps', (name) => {
    const opt = pretrainedOptimizer(name, { numSteps: 100 });
    let state: OptState = opt.init(model(3));
    const step = (): void => {
      const g = grads(state.params);
      const loss = tf.tidy(() => tf.sum(tf.square(treeLeaves(state.params)[2] as tf.Tensor)) as tf.Scalar);
      state = advance(opt, state, g, { loss });
      disposeTree(g);
      loss.dispose();
    };
    for (let i = 0; i < 3; i++) step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 40; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    expect(state.iteration).toBe(43);
    disposeTree({ p: state.params, s: state.state as TensorTree });
  });

  it.each(PRETRAINED_NAMES)('%s: theta and optimizer state survive a checkpoint round trip (same next steps)', (name) => {
    const { lopt, theta } = pretrained(name);
    const { lopt: again, theta: loaded } = loadLearnedOptimizer(saveLearnedOptimizer(lopt, theta));
    expect(again.name).toBe(lopt.name);
    expect(again.config).toEqual(lopt.config);
    const a = lopt.optimizer(theta, { numSteps: 50 });
    const b = again.optimizer(loaded, { numSteps: 50 });
    const ctx = { loss: tf.scalar(1.5) };
    let sa = a.init(model(5));
    for (let i = 0; i < 4; i++) sa = advance(a, sa, grads(sa.params), ctx);
    // The optimizer state (accumulators, scheduler) checkpoints with serializeTree too.
    const bytes = serializeTree({ params: sa.params, state: sa.state as TensorTree }, { kind: 'opt-state', name: lopt.name });
    const { tree } = deserializeTree(bytes, { kind: 'opt-state' });
    const restored = tree as { params: TensorTree; state: TensorTree };
    let sb: OptState = { params: restored.params, state: restored.state, iteration: sa.iteration };
    for (let i = 0; i < 3; i++) {
      sa = advance(a, sa, grads(sa.params), ctx);
      sb = advance(b, sb, grads(sb.params), ctx);
    }
    const la = treeLeaves(sa.params).map((t) => Array.from(t.dataSync()));
    const lb = treeLeaves(sb.params).map((t) => Array.from(t.dataSync()));
    expect(lb).toEqual(la);
    // It moved: a broken restore would not pass by accident.
    expect(Math.max(...la.flat().map((v, i) => Math.abs(v - (treeLeaves(model(5)).flatMap((t) => Array.from(t.dataSync()))[i] as number))))).toBeGreaterThan(1e-4);
  });

  it.each([
    ['celo2', { routing: 'regex' as const, learningRate: 0.01 }],
    ['celo', { numSteps: 60 }],
    ['celo-adam', { numSteps: 60 }],
    ['lopt-small-v1', { numSteps: 60 }],
  ] as const)('%s drives tfjs-layers model.fit through toTfjsOptimizer and lowers the loss', async (name, options) => {
    const x = normal(key(11), [64, 8]);
    const wTrue = normal(key(12), [8, 1]);
    const y = tf.matMul(x, wTrue);
    const m = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [8], units: 16, activation: 'tanh' }), tfl.layers.dense({ units: 1 })] });
    m.compile({ optimizer: toTfjsOptimizer(pretrainedOptimizer(name, options)), loss: 'meanSquaredError' });
    const h = await m.fit(x, y, { epochs: 60, batchSize: 64, verbose: 0 });
    const losses = h.history.loss as number[];
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1] as number).toBeLessThan(0.7 * (losses[0] as number));
    m.dispose();
    tf.dispose([x, wTrue, y]);
  });
});

/** Full-batch regression of a random 8-32-1 tanh teacher by an 8-32-1 tanh MLP: the final loss after `steps` steps of `opt`. */
function trainTeacherMlp(opt: ReturnType<typeof pretrainedOptimizer>, steps: number): number {
  const data = tf.tidy(() => {
    const x = normal(key(21), [128, 8]);
    const h = tf.tanh(tf.matMul(x, normal(key(22), [8, 32], { std: 0.7 })));
    return { x, y: tf.matMul(h, normal(key(23), [32, 1], { std: 0.5 })) };
  });
  const loss = (p: TensorTree): tf.Scalar => {
    const q = p as { w1: tf.Tensor2D; b1: tf.Tensor1D; w2: tf.Tensor2D };
    return tf.mean(tf.square(tf.sub(tf.matMul(tf.tanh(tf.add(tf.matMul(data.x, q.w1), q.b1)), q.w2), data.y)));
  };
  let s: OptState = opt.init({ w1: normal(key(24), [8, 32], { std: 0.3 }), b1: tf.zeros([32]), w2: normal(key(25), [32, 1], { std: 0.1 }) });
  for (let t = 0; t < steps; t++) {
    const { value, grads: g } = lossAndGrads(loss, s.params);
    s = advance(opt, s, g, { loss: value });
    disposeTree([value, g]);
  }
  const final = tf.tidy(() => loss(s.params).dataSync()[0] as number);
  disposeTree([s.params, s.state as TensorTree, data.x, data.y]);
  return final;
}

describe("pretrained('lopt-small-v1'), lopt's own", () => {
  it('is a meta-trained controlAdam: 23 finite meta-parameters, not the zero start, Apache-2.0 from this repository', () => {
    const { lopt, theta, info } = pretrained('lopt-small-v1');
    expect(lopt.name).toBe('controlAdam');
    expect(info).toMatchObject({ architecture: 'controlAdam', licence: 'Apache-2.0' });
    expect(info.source).toMatch(/configs\/lopt-small-v1\.json/);
    const t = theta as { w: tf.Tensor; b: tf.Tensor };
    expect([t.w.shape, t.b.shape]).toEqual([[22], []]);
    const values = [...t.w.dataSync(), ...t.b.dataSync()];
    expect(values.every(Number.isFinite)).toBe(true);
    // Meta-training moved theta away from zero, but not far (PES with outer Adam at 0.01, 200 steps).
    expect(Math.max(...values.map(Math.abs))).toBeGreaterThan(0.05);
    expect(Math.max(...values.map(Math.abs))).toBeLessThan(3);
    disposeTree(theta);
  });

  it('trains a held-out teacher MLP to a 10x lower loss than Adam at its starting learning rate (the control raises it)', () => {
    const steps = 300;
    const own = trainTeacherMlp(pretrainedOptimizer('lopt-small-v1', { numSteps: steps }), steps);
    const base = trainTeacherMlp(adam({ learningRate: 3e-3 }), steps);
    // Measured: 2.4e-4 against 6.6e-2 (the zero-theta control alone reaches 1.1e-4 here).
    expect(own).toBeLessThan(0.1 * base);
    expect(own).toBeGreaterThan(0);
  });
});
