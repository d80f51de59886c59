import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoptError, deserializeTree, disposeTree, key, serializeTree, treeLeaves, treeUnflatten, treeFlatten } from '@lopt/core';
import { ARCHITECTURES } from './architectures.js';
import { loadLearnedOptimizer, saveLearnedOptimizer } from './checkpoint.js';

/** Rewrites a checkpoint with edited leaves and config; the hash is recomputed, so only content checks can catch it. */
function rewrite(bytes: Uint8Array, edit: { leaves?: (l: tf.Tensor[]) => tf.Tensor[]; config?: (c: Record<string, unknown>) => Record<string, unknown> }): Uint8Array {
  const { tree, metadata } = deserializeTree(bytes);
  const { leaves, structure } = treeFlatten(tree);
  const edited = edit.leaves ? edit.leaves(leaves) : leaves.map((t) => tf.clone(t));
  const out = serializeTree(treeUnflatten(structure, edited), {
    kind: metadata.kind,
    name: metadata.name,
    config: edit.config ? edit.config({ ...metadata.config }) : metadata.config,
    extra: metadata.extra,
  });
  tf.dispose([...leaves, ...edited]);
  return out;
}

function saved(name: string): Uint8Array {
  const lopt = (ARCHITECTURES[name] as (typeof ARCHITECTURES)[string]).factory({});
  const theta = lopt.init(key(3));
  const bytes = saveLearnedOptimizer(lopt, theta);
  disposeTree(theta);
  return bytes;
}

describe('tampered learned-optimizer checkpoints with valid hashes (issue 14, item 2)', () => {
  const adafac = saved('adafacMlpLOpt');

  it('huge sizes in the config are refused before anything is built, naming the field (and fast)', () => {
    const before = tf.memory().numTensors;
    for (const hiddenSize of [20_000, 1e6]) {
      const forged = rewrite(adafac, { config: (c) => ({ ...c, hiddenSize }) });
      const t0 = performance.now();
      expect(() => loadLearnedOptimizer(forged)).toThrow(
        expect.objectContaining({ code: 'CHECKPOINT_MISMATCH', option: 'hiddenSize', message: expect.stringMatching(new RegExp(`'hiddenSize' is ${hiddenSize}, but the largest tensor dimension in the file is 39`)) }),
      );
      // Building a 20000-wide MLP took 57 s and 11 GB before; the check needs no allocation.
      expect(performance.now() - t0).toBeLessThan(2000);
    }
    expect(() => loadLearnedOptimizer(rewrite(adafac, { config: (c) => ({ ...c, hiddenLayers: 1e9 }) }))).toThrow(/'hiddenLayers' is 1000000000, but the file holds \d+ tensors/);
    const lstm = saved('lstmL2L');
    expect(() => loadLearnedOptimizer(rewrite(lstm, { config: (c) => ({ ...c, layers: [20, 5000] }) }))).toThrow(/'layers' is 5000/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('NaN data, a wrong dtype and swapped tensors are refused, naming the leaf', () => {
    const nan = rewrite(adafac, { leaves: (l) => l.map((t, i) => (i === 2 ? tf.fill(t.shape, NaN) : tf.clone(t))) });
    expect(() => loadLearnedOptimizer(nan)).toThrow(expect.objectContaining({ code: 'NON_FINITE', message: expect.stringMatching(/theta leaf '.+' of the checkpoint holds NaN or Infinity/) }));
    const int = rewrite(adafac, { leaves: (l) => l.map((t, i) => (i === 0 ? tf.cast(t, 'int32') : tf.clone(t))) });
    expect(() => loadLearnedOptimizer(int)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_MISMATCH', message: expect.stringMatching(/has dtype int32 but adafacMlpLOpt needs float32/) }));
    const swapped = rewrite(adafac, {
      leaves: (l) => {
        const j = l.findIndex((t) => t.shape.join() !== (l[0] as tf.Tensor).shape.join());
        return l.map((t, i) => tf.clone(i === 0 ? (l[j] as tf.Tensor) : i === j ? (l[0] as tf.Tensor) : t));
      },
    });
    expect(() => loadLearnedOptimizer(swapped)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_MISMATCH', message: expect.stringMatching(/has shape \[.*\] but adafacMlpLOpt with this config needs/) }));
    // Control: the untampered file loads.
    disposeTree(loadLearnedOptimizer(adafac).theta);
  });

  it('every architecture: a random hostile edit with a recomputed hash is refused with a LoptError, never loaded (property)', () => {
    const names = Object.keys(ARCHITECTURES);
    const files = new Map(names.map((n) => [n, saved(n)]));
    const before = tf.memory().numTensors;
    const edits = fc.oneof(
      fc.record({ kind: fc.constant('nan' as const), leaf: fc.nat(), value: fc.constantFrom(NaN, Infinity, -Infinity) }),
      fc.record({ kind: fc.constant('size' as const), field: fc.constantFrom('hiddenSize', 'lstmHiddenSize', 'fromMlpSize', 'fromLstmSize', 'lstmToFf', 'hiddenLayers'), value: fc.integer({ min: 100_000, max: 2 ** 40 }) }),
      fc.record({ kind: fc.constant('dtype' as const), leaf: fc.nat() }),
      fc.record({ kind: fc.constant('swap' as const), leaf: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...names), edits, (name, edit) => {
        const bytes = files.get(name) as Uint8Array;
        const { sizes } = inspect(bytes);
        const n = sizes.length;
        let forged: Uint8Array | undefined;
        if (edit.kind === 'size') {
          forged = rewrite(bytes, { config: (c) => (edit.field in c ? { ...c, [edit.field]: edit.value } : c) });
          if (!(edit.field in inspect(forged).config)) return true; // the architecture has no such field
        } else {
          const i = edit.leaf % n;
          forged = rewrite(bytes, {
            leaves: (l) => {
              if (edit.kind === 'nan') return l.map((t, k) => (k === i ? tf.fill(t.shape, edit.value) : tf.clone(t)));
              if (edit.kind === 'dtype') return l.map((t, k) => (k === i ? tf.cast(t, 'int32') : tf.clone(t)));
              const j = l.findIndex((t) => t.shape.join() !== (l[i] as tf.Tensor).shape.join());
              return l.map((t, k) => tf.clone(j < 0 ? t : k === i ? (l[j] as tf.Tensor) : k === j ? (l[i] as tf.Tensor) : t));
            },
          });
          if (edit.kind === 'nan' && sizes[i] === 0) return true;
          if (edit.kind === 'swap' && forged.every((b, k) => b === bytes[k])) return true; // all leaves one shape: nothing to swap
        }
        try {
          const loaded = loadLearnedOptimizer(forged);
          disposeTree(loaded.theta);
          return false;
        } catch (e) {
          return e instanceof LoptError && ['CHECKPOINT_MISMATCH', 'NON_FINITE', 'CHECKPOINT_INVALID'].includes(e.code);
        }
      }),
      { numRuns: 120 },
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});

/** The leaf sizes and config of a checkpoint (its tensors are disposed at once). */
function inspect(bytes: Uint8Array): { sizes: number[]; config: Record<string, unknown> } {
  const { tree, metadata } = deserializeTree(bytes);
  const sizes = treeLeaves(tree).map((t) => t.size);
  disposeTree(tree);
  return { sizes, config: metadata.config };
}
