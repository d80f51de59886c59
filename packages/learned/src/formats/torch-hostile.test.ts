import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLoptError } from '@lopt/core';
import { buildZip, f32le, P, torchFile, zipLocalHeader, type TorchTensorSpec } from './fixtures.js';
import { rawLeaves } from './raw-tree.js';
import { itRejects, rejection } from './test-helpers-rejections.js';
import { float32Bits, referenceBytes } from './reference-files.js';
import { readTorchStateDict } from './torch.js';

const w = [1, 2, 3, 4, 5, 6];
const b = [0.5, -0.25];
const twoTensors: TorchTensorSpec[] = [{ name: 'layer.weight', shape: [2, 3] }, { name: 'layer.bias', shape: [2] }];
const twoStorages = (): Map<string, number[]> => new Map([['0', w], ['1', b]]);
const leavesOf = (bytes: Uint8Array): [string, number[], number[]][] => rawLeaves(readTorchStateDict(bytes)).map((l) => [l.path.join('/'), [...l.tensor.shape], float32Bits(l.tensor.data)]);

describe('readTorchStateDict on generated files', () => {
  it('reads a generated state_dict, with and without the byteorder entry and _metadata', () => {
    const expected = [['layer.weight', [2, 3], float32Bits(w)], ['layer.bias', [2], float32Bits(b)]];
    expect(leavesOf(torchFile(twoTensors, twoStorages(), { byteorder: 'little' }))).toEqual(expected);
    expect(leavesOf(torchFile(twoTensors, twoStorages()))).toEqual(expected);
    expect(leavesOf(torchFile(twoTensors, twoStorages(), { byteorder: 'little', metadata: true }))).toEqual(expected);
  });

  it('honours byteorder big, storage offsets, shared storages and size-1 strides', () => {
    const big = torchFile(twoTensors, twoStorages(), { byteorder: 'big', bigEndian: true });
    expect(leavesOf(big).map((l) => l[2])).toEqual([float32Bits(w), float32Bits(b)]);
    const views: TorchTensorSpec[] = [
      { name: 'head', shape: [2], key: 's', offset: 0 },
      { name: 'tail', shape: [3, 1], stride: [1, 7], key: 's', offset: 3 },
    ];
    expect(leavesOf(torchFile(views, new Map([['s', w]])))).toEqual([['head', [2], float32Bits([1, 2])], ['tail', [3, 1], float32Bits([4, 5, 6])]]);
  });

  it('rejects every truncation of the published Celo2 file', () => {
    const bytes = referenceBytes('celo2/celo2_weights.pt');
    for (let n = 0; n < bytes.length; n++) expect(rejection(() => readTorchStateDict(bytes.subarray(0, n))).code).toBe('CHECKPOINT_INVALID');
  });

  it('either rejects a one-byte corruption of the Celo2 file or reads exactly the same tensors (property)', () => {
    const bytes = referenceBytes('celo2/celo2_weights.pt');
    const reference = leavesOf(bytes);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const copy = bytes.slice();
        copy[i] = (copy[i] as number) ^ x;
        let got: ReturnType<typeof leavesOf> | undefined;
        try {
          got = leavesOf(copy);
        } catch (e) {
          expect(isLoptError(e), String(e)).toBe(true);
          expect((e as { code: string }).code).toBe('CHECKPOINT_INVALID');
        }
        if (got !== undefined) expect(got).toEqual(reference);
      }),
      { numRuns: 1000 },
    );
  });

  const pickleOnly = (pkl: Uint8Array): Uint8Array => torchFile(twoTensors, twoStorages(), { pickle: pkl });
  const evil = P.concat([P.proto(), P.global('os', 'system'), P.mark(), P.str('echo pwned'), P.tuple(), P.reduce(), P.stop()]);
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['a pickle that calls os.system', () => pickleOnly(evil), /GLOBAL os\.system is not allowed; only collections\.OrderedDict, torch\._utils\._rebuild_tensor_v2, torch\.FloatStorage are allowed \(nothing in the file is imported or executed\)/],
    ['the INST opcode', () => pickleOnly(P.concat([P.proto(), P.mark(), Uint8Array.of(0x69), new TextEncoder().encode('os\nsystem\n'), P.stop()])), /opcode INST is not allowed/],
    ['STACK_GLOBAL', () => pickleOnly(P.concat([P.proto(), P.str('os'), P.str('system'), Uint8Array.of(0x93), P.stop()])), /opcode STACK_GLOBAL is not allowed/],
    ['NEWOBJ', () => pickleOnly(P.concat([P.proto(), P.global('collections', 'OrderedDict'), P.emptyTuple(), Uint8Array.of(0x81), P.stop()])), /opcode NEWOBJ is not allowed/],
    ['pickle protocol 4', () => pickleOnly(P.concat([P.proto(4), P.emptyDict(), P.stop()])), /pickle protocol 4; only protocol 2/],
    ['a float64 tensor', () => torchFile([{ name: 'x', shape: [2], storageType: 'torch.DoubleStorage' }], new Map([['0', [1, 2]]])), /GLOBAL torch\.DoubleStorage is not allowed; only float32 tensors/],
    ['a non-contiguous tensor', () => torchFile([{ name: 'x', shape: [2, 3], stride: [1, 2] }], new Map([['0', w]])), /tensor 'x' has shape \[2, 3\] with stride \[1, 2\]; only contiguous tensors/],
    ['a tensor past its storage', () => torchFile([{ name: 'x', shape: [4], offset: 3 }], new Map([['0', w]])), /tensor 'x' \(offset 3, 4 values\) runs past its storage of 6 values/],
    ['an absurd shape', () => torchFile([{ name: 'x', shape: [65536, 65536, 65536] }], new Map([['0', w]])), /tensor 'x' does not fit its storage of 6 values: shape \[65536, 65536, 65536\] has more than 6 elements/],
    ['a storage shorter than declared', () => torchFile([{ name: 'x', shape: [2], numel: 1000 }], new Map([['0', [1, 2]]])), /storage archive\/data\/0 of tensor 'x' holds 8 bytes, but the pickle declares 1000 float32/],
    ['a missing storage', () => torchFile([{ name: 'x', shape: [2], key: '9', numel: 2 }], new Map([['0', [1, 2]]])), /tensor 'x' uses storage '9', but the archive has no entry archive\/data\/9/],
    ['a negative storage size', () => torchFile([{ name: 'x', shape: [2], numel: -5 }], new Map([['0', [1, 2]]])), /storage '0' has a negative or non-integer size -5/],
    ['a duplicate key', () => torchFile([{ name: 'x', shape: [2], key: '0' }, { name: 'x', shape: [2], key: '0' }], new Map([['0', [1, 2]]])), /the key 'x' appears twice/],
    ['an unknown byteorder', () => torchFile(twoTensors, twoStorages(), { byteorder: 'middle' }), /the byteorder entry says 'middle', not 'little' or 'big'/],
    ['BINGET of an unset memo slot', () => pickleOnly(P.concat([P.proto(), P.binget(7), P.stop()])), /BINGET of memo slot 7, which was never set/],
    ['a negative BINUNICODE length', () => pickleOnly(P.concat([P.proto(), Uint8Array.of(0x58, 0xff, 0xff, 0xff, 0xff), P.stop()])), /the file ends inside a BINUNICODE string \(needs 4294967295 bytes/],
    ['a pickle that is not a dict', () => pickleOnly(P.concat([P.proto(), P.emptyTuple(), P.stop()])), /data\.pkl does not hold a dict of tensors/],
    ['a dict value that is not a tensor', () => pickleOnly(P.concat([P.proto(), P.emptyDict(), P.str('x'), P.int(3), P.setitem(), P.stop()])), /entry 'x' of the state_dict is not a tensor/],
    ['STOP with a stack of two', () => pickleOnly(P.concat([P.proto(), P.emptyDict(), P.emptyDict(), P.stop()])), /STOP with 2 values on the stack/],
    ['a pickle without STOP', () => pickleOnly(P.concat([P.proto(), P.emptyDict()])), /the file ends inside an opcode/],
    ['a deflated entry', () => buildZip([{ name: 'a/data.pkl', data: new Uint8Array(4), method: 8 }]), /entry 'a\/data\.pkl' is compressed \(deflate\); only stored/],
    ['sizes larger than the file (zip bomb)', () => buildZip([{ name: 'a/data.pkl', data: new Uint8Array(4), size: 2 ** 31, compressedSize: 2 ** 31 }]), /entry 'a\/data\.pkl' declares 2147483648 bytes, which run past the central directory/],
    ['stored and uncompressed sizes that differ', () => buildZip([{ name: 'a/data.pkl', data: new Uint8Array(4), size: 4000 }]), /stored entry 'a\/data\.pkl' declares 4 stored bytes but 4000 uncompressed bytes/],
    ['an entry count above the limit', () => buildZip([{ name: 'a/data.pkl', data: new Uint8Array(4) }], { count: 60000 }), /the archive has 60000 entries, more than the limit of 10000/],
    ['zip64 sizes', () => buildZip([{ name: 'a/data.pkl', data: new Uint8Array(4) }], { count: 0xffff }), /needs zip64 sizes/],
    ['duplicate entry names', () => buildZip([{ name: 'a/data.pkl', data: new Uint8Array(4) }, { name: 'a/data.pkl', data: new Uint8Array(4) }]), /the entry name 'a\/data\.pkl' appears twice/],
    ['a CRC mismatch', () => buildZip([{ name: 'a/data.pkl', data: new Uint8Array(4), crc: 1234 }]), /entry 'a\/data\.pkl' fails its CRC-32 check/],
    ['no data.pkl', () => buildZip([{ name: 'a/other', data: new Uint8Array(4) }]), /the archive has no <name>\/data\.pkl entry/],
    ['not a zip at all', () => new TextEncoder().encode('just some text, long enough to be searched'), /no end-of-central-directory record/],
  ];
  itRejects(readTorchStateDict, cases);

  it('rejects overlapping entries (the overlap zip bomb)', () => {
    const inner = { name: 'a/data/0', data: f32le([1, 2]) };
    const innerBytes = P.concat([zipLocalHeader(inner), inner.data]);
    const outer = { name: 'a/data.pkl', data: P.concat([new Uint8Array(8), innerBytes]) };
    const bytes = buildZip([outer, { ...inner, centralOnly: true, localOffset: zipLocalHeader(outer).length + 8 }]);
    expect(rejection(() => readTorchStateDict(bytes)).message).toMatch(/entries 'a\/data\.pkl' and 'a\/data\/0' overlap/);
  });

  it('enforces maxEntries and maxLeaves', () => {
    const bytes = torchFile(twoTensors, twoStorages());
    expect(rejection(() => readTorchStateDict(bytes, { maxEntries: 3 })).message).toMatch(/the archive has 4 entries, more than the limit of 3 \(limits\.maxEntries\)/);
    expect(rejection(() => readTorchStateDict(bytes, { maxLeaves: 1 })).message).toMatch(/the state_dict has 2 tensors, more than the limit of 1 \(limits\.maxLeaves\)/);
    expect(leavesOf(bytes)).toHaveLength(2);
  });
});
