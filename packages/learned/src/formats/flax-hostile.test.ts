import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLoptError } from '@lopt/core';
import { Ext, f32le, flaxLeaf, packMsgpack, type Packable } from './fixtures.js';
import { readFlaxMsgpack } from './flax.js';
import { rawLeaves, type RawTree } from './raw-tree.js';
import { itRejects, rejection } from './test-helpers-rejections.js';
import { float32Bits, referenceBytes } from './reference-files.js';

const small = (): Uint8Array => packMsgpack({ a: { w: flaxLeaf([2, 3], [1, 2, 3, 4, 5, 6]), b: flaxLeaf([3], [-1, 0.5, 1e-30]) }, c: flaxLeaf([], [7]) });

describe('readFlaxMsgpack on generated files', () => {
  it('reads a generated tree: keys in file order, shapes, values', () => {
    const leaves = rawLeaves(readFlaxMsgpack(small()));
    expect(leaves.map((l) => [l.path.join('/'), l.tensor.shape])).toEqual([['a/w', [2, 3]], ['a/b', [3]], ['c', []]]);
    expect(float32Bits(leaves[1]!.tensor.data)).toEqual(float32Bits([-1, 0.5, 1e-30]));
  });

  it('round-trips any tree of float32 arrays (property)', () => {
    const shape = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 });
    const leaf = shape.chain((s) => fc.tuple(fc.constant(s), fc.array(fc.float({ noNaN: true }), { minLength: s.reduce((a, b) => a * b, 1), maxLength: s.reduce((a, b) => a * b, 1) })));
    const tree = fc.letrec<{ node: unknown }>((tie) => ({
      node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), tie('node'), { maxKeys: 4 })),
    })).node;
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), tree, { minKeys: 1, maxKeys: 4 }), (t) => {
        const toPackable = (n: unknown): Packable => (Array.isArray(n) ? flaxLeaf(n[0] as number[], n[1] as number[]) : new Map(Object.entries(n as object).map(([k, v]) => [k, toPackable(v)])));
        const expected = (n: unknown, path: string[]): [string, number[], number[]][] =>
          Array.isArray(n) ? [[path.join('/'), n[0] as number[], float32Bits(n[1] as number[])]] : Object.entries(n as object).flatMap(([k, v]) => expected(v, [...path, k]));
        const got = rawLeaves(readFlaxMsgpack(packMsgpack(toPackable(t))));
        expect(got.map((l) => [l.path.join('/'), l.tensor.shape, float32Bits(l.tensor.data)])).toEqual(expected(t, []));
      }),
      { numRuns: 200 },
    );
  });

  it('rejects every truncation of a generated file', () => {
    const bytes = small();
    for (let n = 0; n < bytes.length; n++) expect(rejection(() => readFlaxMsgpack(bytes.subarray(0, n))).code).toBe('CHECKPOINT_INVALID');
  });

  it('rejects truncations of the published Celo file at any length (property)', () => {
    const bytes = referenceBytes('celo/theta.state');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), (n) => {
        expect(rejection(() => readFlaxMsgpack(bytes.subarray(0, n))).code).toBe('CHECKPOINT_INVALID');
      }),
      { numRuns: 300 },
    );
  });

  it('never throws anything but a LoptError on corrupted bytes (property)', () => {
    const bytes = referenceBytes('celo-adam/theta.state').subarray();
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (edits) => {
        const copy = bytes.slice();
        for (const [i, b] of edits) copy[i] = b;
        try {
          readFlaxMsgpack(copy);
        } catch (e) {
          expect(isLoptError(e), String(e)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  const cases: [string, () => Uint8Array, RegExp][] = [
    ['a float64 leaf', () => packMsgpack({ w: flaxLeaf([2], new Uint8Array(16), 'float64') }), /leaf 'w' has dtype 'float64'; only float32/],
    ['a shape whose product overflows', () => packMsgpack({ w: flaxLeaf([2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1], [1]) }), /leaf 'w' has an unusable shape: shape \[.*\] has more than/],
    ['a shape larger than its data', () => packMsgpack({ w: flaxLeaf([3, 3], [1, 2]) }), /leaf 'w' has shape \[3, 3\] \(9 float32 = 36 bytes\) but 8 bytes of data/],
    ['a negative dimension', () => packMsgpack({ w: flaxLeaf([-2, 1], [1, 2]) }), /leaf 'w' has an unusable shape: dimension -2/],
    ['a fractional dimension', () => packMsgpack({ w: flaxLeaf([1.5], [1]) }), /dimension 1.5 is not a non-negative integer/],
    ['nesting deeper than the limit', () => packMsgpack(Array.from({ length: 80 }).reduce<Packable>((t) => ({ x: t }), { w: flaxLeaf([1], [1]) })), /nested deeper than 64 levels/],
    ['a map declaring 2^32-1 entries', () => Uint8Array.of(0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61), /declares 4294967295 entries but only 2 bytes are left/],
    ['a bin declaring 4 GiB', () => packMsgpack({ w: new Ext(1, Uint8Array.of(0x93, 0x91, 0x01, 0xa7, ...new TextEncoder().encode('float32'), 0xc6, 0xff, 0xff, 0xff, 0xff)) }), /ends inside a bin \(needs 4294967295 bytes/],
    ['a duplicate key', () => Uint8Array.of(0x82, ...packMsgpack('w'), ...packMsgpack(flaxLeaf([1], [1])), ...packMsgpack('w'), ...packMsgpack(flaxLeaf([1], [2]))), /map key 'w' appears twice/],
    ['a non-string key', () => packMsgpack(new Map<Packable, Packable>([[3, flaxLeaf([1], [1])]])), /map key is a number, not a string/],
    ['trailing bytes', () => Uint8Array.of(...packMsgpack({ w: flaxLeaf([1], [1]) }), 0xc0), /1 trailing bytes after the top-level value/],
    ['a scalar leaf', () => packMsgpack({ step: 3 }), /leaf 'step' is a number, not an ndarray/],
    ['another ext type', () => packMsgpack({ w: new Ext(3, packMsgpack(['float32', f32le([1])])) }), /leaf 'w' is msgpack ext type 3; only ndarrays/],
    ['a malformed ndarray payload', () => packMsgpack({ w: new Ext(1, Uint8Array.of(0x93, 0x91)) }), /^Not a valid ndarray payload of leaf 'w': an array declares 3 items but only 1 bytes are left \(at byte 0\)\.$/],
    ['a reserved type tag', () => Uint8Array.of(0x81, 0xa1, 0x77, 0xc1), /0xc1 is not a msgpack type tag/],
    ['a top level that is not a map', () => packMsgpack([flaxLeaf([1], [1])]), /the top level is an array, not a map/],
    ['an empty file', () => new Uint8Array(0), /ends inside a value tag/],
    ['invalid UTF-8 in a key', () => Uint8Array.of(0x81, 0xa1, 0xff, 0xc0), /a string is not valid UTF-8/],
  ];
  itRejects(readFlaxMsgpack, cases);

  it('enforces maxLeaves and maxBytes, and validates its limits', () => {
    const three = packMsgpack({ a: flaxLeaf([1], [1]), b: flaxLeaf([1], [2]), c: flaxLeaf([1], [3]) });
    expect(rejection(() => readFlaxMsgpack(three, { maxLeaves: 2 })).message).toMatch(/leaf 'c' is past the limit of 2 leaves \(limits.maxLeaves\)/);
    expect(rejection(() => readFlaxMsgpack(three, { maxBytes: 10 })).message).toMatch(/is \d+ bytes, above the limit of 10 bytes/);
    expect(rawLeaves(readFlaxMsgpack(three, { maxLeaves: 3 }))).toHaveLength(3);
    const bad = rejection(() => readFlaxMsgpack(three, { maxDepth: 0 }));
    expect([bad.code, bad.message]).toEqual(['INVALID_OPTION', "Reader limit 'maxDepth' must be a positive integer, got 0."]);
    expect(rejection(() => readFlaxMsgpack(three, { maxDepth: 1001 })).message).toBe("Reader limit 'maxDepth' must be at most 1000, got 1001.");
    const deep = packMsgpack(Array.from({ length: 999 }).reduce<Packable>((t) => ({ x: t }), { w: flaxLeaf([1], [1]) }));
    expect(rawLeaves(readFlaxMsgpack(deep, { maxDepth: 1000 }))[0]!.path).toHaveLength(1000);
    expect(rejection(() => readFlaxMsgpack('theta' as unknown as Uint8Array)).code).toBe('INVALID_OPTION');
  });

  it('keeps a key named __proto__ as a plain key (no prototype pollution)', () => {
    const tree = readFlaxMsgpack(packMsgpack(new Map<Packable, Packable>([['__proto__', flaxLeaf([1], [5])]]))) as Record<string, RawTree>;
    expect(Object.keys(tree)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(tree)).toBe(Object.prototype);
    expect(rawLeaves(tree)[0]!.tensor.data[0]).toBe(5);
  });
});
