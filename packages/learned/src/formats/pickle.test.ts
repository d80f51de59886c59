import { describe, expect, it } from 'vitest';
import { P } from './fixtures.js';
import { PickleDict, readStateDictPickle, TensorRef } from './pickle.js';
import { rejection } from './test-helpers-rejections.js';

const long1 = (...bytes: number[]): Uint8Array => Uint8Array.of(0x8a, bytes.length, ...bytes);
const longBinput = (i: number): Uint8Array => Uint8Array.of(0x72, i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff, i >>> 24);
const longBinget = (i: number): Uint8Array => Uint8Array.of(0x6a, i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff, i >>> 24);
const binint2 = (n: number): Uint8Array => Uint8Array.of(0x4d, n & 0xff, n >> 8);

/** `{'t': _rebuild_tensor_v2(storage('k', numel), offset, size, stride, False, OrderedDict())}` with the given encodings. */
function onePickle(numel: Uint8Array, offset: Uint8Array, size: Uint8Array[], stride: Uint8Array[]): Uint8Array {
  const pid = P.concat([P.mark(), P.str('storage'), P.global('torch', 'FloatStorage'), P.str('k'), P.str('cpu'), numel, P.tuple()]);
  const od = P.concat([P.global('collections', 'OrderedDict'), longBinput(70000), P.emptyTuple(), P.reduce()]);
  const args = P.concat([P.mark(), pid, P.persid(), offset, P.mark(), ...size, P.tuple(), P.mark(), ...stride, P.tuple(), P.newfalse(), longBinget(70000), P.emptyTuple(), P.reduce(), P.tuple()]);
  return P.concat([P.proto(), od, P.mark(), P.str('t'), P.global('torch._utils', '_rebuild_tensor_v2'), args, P.reduce(), P.setitems(), P.stop()]);
}

describe('readStateDictPickle', () => {
  it('decodes BININT2, LONG1 and LONG_BINPUT/LONG_BINGET into the tensor description', () => {
    const out = readStateDictPickle(onePickle(binint2(1000), long1(0x00, 0x01), [binint2(300), P.int(2)], [P.int(2), P.int(1)]));
    expect(out).toBeInstanceOf(PickleDict);
    const t = (out as PickleDict).items.get('t') as TensorRef;
    expect(t).toBeInstanceOf(TensorRef);
    expect([t.storage.key, t.storage.location, t.storage.numel, t.offset, t.shape, t.stride]).toEqual(['k', 'cpu', 1000, 256, [300, 2], [2, 1]]);
    expect((out as PickleDict).ordered).toBe(true);
  });

  it('reads LONG1 as two\'s complement and refuses negative offsets and unsafe integers', () => {
    expect(rejection(() => readStateDictPickle(onePickle(P.int(4), long1(0xff), [P.int(2)], [P.int(1)]))).message).toMatch(/negative or non-integer storage offset -1/);
    expect(rejection(() => readStateDictPickle(onePickle(P.int(4), long1(0, 0, 0, 0, 0, 0, 0, 1), [P.int(2)], [P.int(1)]))).message).toMatch(/a LONG1 integer of 8 bytes is outside the safe integer range/);
  });

  it('refuses REDUCE of FloatStorage, OrderedDict with arguments, SETITEM or BUILD on the wrong object, and pops across a MARK', () => {
    const reduceStorage = P.concat([P.proto(), P.global('torch', 'FloatStorage'), P.emptyTuple(), P.reduce(), P.stop()]);
    expect(rejection(() => readStateDictPickle(reduceStorage)).message).toMatch(/REDUCE calls torch\.FloatStorage, which is not callable here/);
    const odArgs = P.concat([P.proto(), P.global('collections', 'OrderedDict'), P.mark(), P.int(1), P.tuple(), P.reduce(), P.stop()]);
    expect(rejection(() => readStateDictPickle(odArgs)).message).toMatch(/OrderedDict is called with arguments/);
    const crossMark = P.concat([P.proto(), P.emptyDict(), P.mark(), P.str('k'), P.setitem(), P.stop()]);
    expect(rejection(() => readStateDictPickle(crossMark)).message).toMatch(/an opcode pops from an empty stack/);
    const setOnTuple = P.concat([P.proto(), P.emptyTuple(), P.str('k'), P.int(1), P.setitem(), P.stop()]);
    expect(rejection(() => readStateDictPickle(setOnTuple)).message).toMatch(/SETITEM\(S\) on something that is not a dict/);
    const buildOnDict = P.concat([P.proto(), P.emptyDict(), P.emptyDict(), P.build(), P.stop()]);
    expect(rejection(() => readStateDictPickle(buildOnDict)).message).toMatch(/BUILD is only accepted on an OrderedDict/);
  });
});
