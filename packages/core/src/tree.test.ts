import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoptError } from './errors.js';
import {
  assertSameStructure,
  disposeTree,
  globalNorm,
  treeFlatten,
  treeLeaves,
  treeMap,
  treeMapWithPath,
  treePaths,
  treeSize,
  treeUnflatten,
  treeVdot,
  treeZerosLike,
  type TensorTree,
} from './tree.js';

const sample = (): TensorTree => ({
  w: tf.tensor2d([[1, 2], [3, 4]]),
  b: tf.tensor1d([5]),
  layers: [{ z: tf.scalar(6), a: tf.tensor1d([7, 8]) }, tf.scalar(9)],
});

describe('tree traversal', () => {
  it('flattens in sorted-key then index order', () => {
    const t = sample();
    expect(treePaths(t)).toEqual(['b', 'layers.0.a', 'layers.0.z', 'layers.1', 'w']);
    const values = treeLeaves(t).flatMap((x) => Array.from(x.dataSync()));
    expect(values).toEqual([5, 7, 8, 6, 9, 1, 2, 3, 4]);
    disposeTree(t);
  });

  it('rebuilds a tree from its structure', () => {
    const t = sample();
    const { leaves, structure } = treeFlatten(t);
    const back = treeUnflatten(JSON.parse(JSON.stringify(structure)), leaves);
    expect(treePaths(back)).toEqual(treePaths(t));
    expect(treeLeaves(back)).toEqual(leaves);
    expect(() => treeUnflatten(structure, leaves.slice(1))).toThrow(LoptError);
    disposeTree(t);
  });

  it('round-trips arbitrary nested structures (property)', () => {
    const leaf = fc.constant(null);
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('arr'), tie('obj')),
      arr: fc.array(tie('tree'), { maxLength: 3 }),
      obj: fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), tie('tree'), { maxKeys: 3 }),
    }));
    fc.assert(
      fc.property(tree, (def) => {
        let counter = 0;
        const build = (d: unknown): TensorTree => {
          if (d === null) return tf.scalar(counter++);
          if (Array.isArray(d)) return d.map(build);
          const o: Record<string, TensorTree> = {};
          for (const [k, v] of Object.entries(d as Record<string, unknown>)) o[k] = build(v);
          return o;
        };
        const t = build(def);
        const { leaves, structure } = treeFlatten(t);
        const back = treeUnflatten(structure, leaves);
        const same = JSON.stringify(treeFlatten(back).structure) === JSON.stringify(structure) &&
          treeLeaves(back).every((l, i) => l === leaves[i]);
        disposeTree(t);
        return same;
      }),
      { numRuns: 200 },
    );
  });
});

describe('structure checks', () => {
  it('names the first differing path', () => {
    const a = { layers: [{ w: tf.scalar(1) }, { w: tf.scalar(2) }] };
    const b = { layers: [{ w: tf.scalar(1) }, { v: tf.scalar(2) }] };
    expect(() => assertSameStructure(a, b)).toThrow(/layers\.1\.w/);
    try {
      treeMap((x, y) => tf.add(x, y as tf.Tensor), a, b);
    } catch (e) {
      expect(e).toBeInstanceOf(LoptError);
      expect((e as LoptError).code).toBe('TREE_MISMATCH');
      expect((e as LoptError).path).toBe('layers.1.w');
    }
    expect(() => assertSameStructure([tf.scalar(1)], [tf.scalar(1), tf.scalar(2)])).toThrow(/1 entries but .* 2/);
    expect(() => assertSameStructure({ a: tf.scalar(1) }, { a: tf.scalar(1) , b: tf.scalar(3) })).toThrow(/'b'/);
    expect(() => assertSameStructure({ a: tf.ones([2]) }, { a: tf.ones([3]) }, { checkShapes: true })).toThrow(/Shape mismatch at 'a'/);
  });

  it('rejects non-tree values with the path', () => {
    expect(() => treeLeaves({ a: [tf.scalar(1), 3 as unknown as tf.Tensor] })).toThrow(/a\.1/);
  });
});

describe('tree arithmetic', () => {
  it('maps with paths, zeros, sizes and norms', () => {
    const t = sample();
    const paths: string[] = [];
    const doubled = treeMapWithPath((p, x) => {
      paths.push(p);
      return tf.mul(x, 2);
    }, t);
    expect(paths).toEqual(treePaths(t));
    expect(Array.from((doubled as { w: tf.Tensor }).w.dataSync())).toEqual([2, 4, 6, 8]);
    expect(treeSize(t)).toBe(9);
    const z = treeZerosLike(t);
    expect(treeLeaves(z).every((x) => x.dataSync().every((v) => v === 0))).toBe(true);
    const expected = Math.sqrt([1, 2, 3, 4, 5, 6, 7, 8, 9].reduce((s, v) => s + v * v, 0));
    expect(globalNorm(t).dataSync()[0]).toBeCloseTo(expected, 4);
    expect(treeVdot(t, t).dataSync()[0]).toBeCloseTo(expected * expected, 2);
    disposeTree([t, doubled, z]);
  });

  it('disposeTree keeps what it is told to keep and tolerates shared leaves', () => {
    const before = tf.memory().numTensors;
    const a = tf.scalar(1);
    const b = tf.scalar(2);
    disposeTree({ x: a, y: [a, b] }, { keep: [b] });
    expect(a.isDisposed).toBe(true);
    expect(b.isDisposed).toBe(false);
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
