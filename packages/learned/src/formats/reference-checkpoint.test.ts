import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeTree, serializeTree, treeLeaves, type TensorTree } from '@lopt/core';
import { flaxLeaf, packMsgpack, torchFile, type Packable, type TorchTensorSpec } from './fixtures.js';
import { referenceCheckpointToTheta } from './reference-checkpoint.js';
import { REFERENCE_LAYOUTS } from './reference-layouts.js';
import { float32Bits, referenceBytes, referenceJson, type JsonLeaf } from './reference-files.js';
import { rejection } from './test-helpers-rejections.js';

const FILES = [
  { architecture: 'celo', file: 'celo/theta.state', json: 'celo/theta.json', format: 'flax-msgpack' },
  { architecture: 'celoAdam', file: 'celo-adam/theta.state', json: 'celo-adam/theta.json', format: 'flax-msgpack' },
  { architecture: 'celo2', file: 'celo2/celo2_weights.pt', json: 'celo2/celo2_weights.json', format: 'torch-zip' },
] as const;

/** The tensor at `path` of a theta tree. */
function at(theta: TensorTree, path: readonly string[]): tf.Tensor {
  return path.reduce<unknown>((node, k) => (node as Record<string, unknown>)[k], theta) as tf.Tensor;
}

const jsonPath = (name: string, leaf: JsonLeaf): string[] => leaf.path ?? [name];
/** Where a JSON leaf sits in theta: the JSON key split at '/' (Haiku module paths nest). */
const thetaPath = (name: string): string[] => name.split('/');

describe('referenceCheckpointToTheta', () => {
  for (const f of FILES) {
    it(`converts ${f.file} to ${f.architecture}: every leaf bit-exact at the reference path`, () => {
      const before = tf.memory().numTensors;
      const json = referenceJson(f.json);
      const { architecture, format, theta } = referenceCheckpointToTheta(referenceBytes(f.file));
      expect([architecture, format]).toEqual([f.architecture, f.format]);
      expect(treeLeaves(theta)).toHaveLength(Object.keys(json).length);
      for (const [name, leaf] of Object.entries(json)) {
        const t = at(theta, thetaPath(name));
        expect(t.shape, name).toEqual(leaf.shape);
        expect(t.dtype).toBe('float32');
        expect(float32Bits(t.dataSync()), name).toEqual(float32Bits(leaf.data));
      }
      disposeTree(theta);
      expect(tf.memory().numTensors).toBe(before);
    });

    it(`the ${f.architecture} layout lists exactly the leaves and shapes of ${f.json}`, () => {
      const layout = REFERENCE_LAYOUTS.find((l) => l.architecture === f.architecture)!;
      const json = referenceJson(f.json);
      expect(layout.leaves.map(([p, s]) => [p, s])).toEqual(Object.entries(json).map(([name, l]) => [jsonPath(name, l), l.shape]));
    });
  }

  it('nests Celo\'s Haiku module path rnn/linear, keeps ~, and keeps flat Celo2 keys', () => {
    const celo = referenceCheckpointToTheta(referenceBytes('celo/theta.state')).theta as Record<string, Record<string, Record<string, tf.Tensor>>>;
    expect(Object.keys(celo.rnn_params!).sort()).toEqual(['linear', 'linear_1', 'linear_2', 'rnn', 'rnn_to_controls', 'step_size']);
    expect((celo.rnn_params!.rnn as unknown as Record<string, Record<string, tf.Tensor>>).linear!.w!.shape).toEqual([128, 256]);
    expect(celo.ff_mod_stack!['~']!.w0__13!.shape).toEqual([1, 3, 4]);
    const celo2 = referenceCheckpointToTheta(referenceBytes('celo2/celo2_weights.pt')).theta as Record<string, tf.Tensor>;
    expect(Object.keys(celo2)).toContain('first_layer_weights.13');
    expect(celo2['hidden.weight']!.shape).toEqual([8, 8]);
    disposeTree([celo as unknown as TensorTree, celo2 as unknown as TensorTree]);
  });

  /** A flax file with Celo-Adam's layout (zeros), edited by `edit`. */
  function celoAdamFile(edit: (leaves: Map<string, Packable>) => void): Uint8Array {
    const layout = REFERENCE_LAYOUTS.find((l) => l.architecture === 'celoAdam')!;
    const flat = new Map<string, Packable>(layout.leaves.map(([p, s]) => [p.join('\u0000'), flaxLeaf([...s], new Array(s.reduce((a, b) => a * b, 1)).fill(0))]));
    edit(flat);
    const root = new Map<Packable, Packable>();
    for (const [k, v] of flat) {
      const path = k.split('\u0000');
      let node = root;
      for (const p of path.slice(0, -1)) {
        if (!node.has(p)) node.set(p, new Map<Packable, Packable>());
        node = node.get(p) as Map<Packable, Packable>;
      }
      node.set(path[path.length - 1]!, v);
    }
    return packMsgpack(root);
  }

  it('accepts a generated file with exactly the Celo-Adam leaves', () => {
    const { architecture, theta } = referenceCheckpointToTheta(celoAdamFile(() => undefined));
    expect(architecture).toBe('celoAdam');
    disposeTree(theta);
  });

  const celo2Specs = (): TorchTensorSpec[] => REFERENCE_LAYOUTS.find((l) => l.architecture === 'celo2')!.leaves.map(([p, s]) => ({ name: p[0]!, shape: [...s] }));
  const celo2Data = (specs: TorchTensorSpec[]): Map<string, number[]> => new Map(specs.map((s, i) => [String(i), new Array(s.shape.reduce((a, b) => a * b, 1)).fill(0.5)]));

  const mismatches: [string, () => Uint8Array, RegExp, string][] = [
    ['a missing leaf', () => celoAdamFile((m) => m.delete('rnn_params\u0000step_size\u0000w')), /closest to a celoAdam checkpoint but do not match it: missing leaves rnn_params\/step_size\/w\./, 'rnn_params/step_size/w'],
    ['an unknown leaf', () => celoAdamFile((m) => m.set('rnn_params\u0000extra\u0000w', flaxLeaf([1], [1]))), /unknown leaves rnn_params\/extra\/w\./, 'rnn_params/extra/w'],
    ['a wrong shape', () => celoAdamFile((m) => m.set('lstm_init_state\u0000cell', flaxLeaf([64], new Array(64).fill(0)))), /Leaf 'lstm_init_state\/cell' has shape \[64\], but a celoAdam checkpoint needs \[1, 64\]\./, 'lstm_init_state/cell'],
    [
      'a Celo2 weight of the wrong shape',
      () => {
        const specs = celo2Specs().map((s) => (s.name === 'hidden.weight' ? { ...s, shape: [4, 16] } : s));
        return torchFile(specs, celo2Data(specs));
      },
      /Leaf 'hidden\.weight' has shape \[4, 16\], but a celo2 checkpoint needs \[8, 8\]\./,
      'hidden.weight',
    ],
    [
      'a state_dict of another model',
      () => torchFile([{ name: 'fc.weight', shape: [2, 2] }], new Map([['0', [1, 2, 3, 4]]])),
      /closest to a celo2 checkpoint but do not match it: missing leaves first_layer_weights\.0, .* and 13 more; unknown leaves fc\.weight\./,
      'first_layer_weights.0',
    ],
  ];
  for (const [what, bytes, message, path] of mismatches) {
    it(`rejects ${what} with CHECKPOINT_MISMATCH naming the path`, () => {
      const before = tf.memory().numTensors;
      const e = rejection(() => referenceCheckpointToTheta(bytes()));
      expect([e.code, e.path]).toEqual(['CHECKPOINT_MISMATCH', path]);
      expect(e.message).toMatch(message);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('says a safetensors file is already a checkpoint, and rejects other files and non-bytes', () => {
    const st = tf.tidy(() => serializeTree({ a: tf.zeros([2]) }, { kind: 'learned-optimizer', name: 'x' }));
    expect(rejection(() => referenceCheckpointToTheta(st)).message).toMatch(/This is a safetensors file \(perhaps already a lopt checkpoint\)/);
    const text = rejection(() => referenceCheckpointToTheta(new TextEncoder().encode('hello world')));
    expect([text.code, text.message]).toEqual(['CHECKPOINT_INVALID', 'Not a reference checkpoint: neither a PyTorch zip state_dict (starts with PK\\x03\\x04) nor a flax msgpack file (starts with a msgpack map).']);
    expect(rejection(() => referenceCheckpointToTheta(new Uint8Array(0))).code).toBe('CHECKPOINT_INVALID');
    expect(rejection(() => referenceCheckpointToTheta([1, 2] as unknown as Uint8Array)).code).toBe('INVALID_OPTION');
  });

  it('passes reader errors and limits through', () => {
    const bytes = referenceBytes('celo2/celo2_weights.pt');
    expect(rejection(() => referenceCheckpointToTheta(bytes.subarray(0, 5000))).message).toMatch(/^Not a valid zip archive: no end-of-central-directory record/);
    expect(rejection(() => referenceCheckpointToTheta(bytes, { maxBytes: 1000 })).message).toMatch(/above the limit of 1000 bytes/);
  });
});
