// Test-only builders of small flax msgpack, zip and pickle files (not exported by the package).
// They write the formats from their specifications, independently of the readers.
import { crc32 } from './crc32.js';

/** A msgpack extension value to encode. */
export class Ext {
  constructor(readonly type: number, readonly data: Uint8Array) {}
}

/** A value {@link packMsgpack} encodes; objects become maps in key order. */
export type Packable = null | boolean | number | string | Uint8Array | Ext | Packable[] | { [k: string]: Packable } | Map<Packable, Packable>;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function be(n: number, size: 1 | 2 | 4): Uint8Array {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  if (size === 1) v.setUint8(0, n);
  else if (size === 2) v.setUint16(0, n);
  else v.setUint32(0, n);
  return b;
}

function sized(tags: [number, number, number, number], n: number, body: Uint8Array): Uint8Array {
  if (tags[0] >= 0 && n < 16 && tags[0] !== 0) return concat([Uint8Array.of(tags[0] | n), body]);
  if (n < 256 && tags[1] >= 0) return concat([Uint8Array.of(tags[1]), be(n, 1), body]);
  if (n < 65536) return concat([Uint8Array.of(tags[2]), be(n, 2), body]);
  return concat([Uint8Array.of(tags[3]), be(n, 4), body]);
}

/** Encodes `v` as msgpack (ints as the shortest form, other numbers as float64). */
export function packMsgpack(v: Packable): Uint8Array {
  if (v === null) return Uint8Array.of(0xc0);
  if (v === false || v === true) return Uint8Array.of(v ? 0xc3 : 0xc2);
  if (typeof v === 'number') return packNumber(v);
  if (typeof v === 'string') {
    const s = new TextEncoder().encode(v);
    return s.length < 32 ? concat([Uint8Array.of(0xa0 | s.length), s]) : sized([0, 0xd9, 0xda, 0xdb], s.length, s);
  }
  if (v instanceof Uint8Array) return sized([0, 0xc4, 0xc5, 0xc6], v.length, v);
  if (v instanceof Ext) return concat([sized([0, 0xc7, 0xc8, 0xc9], v.data.length, Uint8Array.of(v.type & 0xff)), v.data]);
  if (Array.isArray(v)) return sized([0x90, -1, 0xdc, 0xdd], v.length, concat(v.map(packMsgpack)));
  const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
  return sized([0x80, -1, 0xde, 0xdf], entries.length, concat(entries.flatMap(([k, x]) => [packMsgpack(k), packMsgpack(x)])));
}

function packNumber(v: number): Uint8Array {
  if (Number.isInteger(v) && v >= 0 && v < 128) return Uint8Array.of(v);
  if (Number.isInteger(v) && v < 0 && v >= -32) return Uint8Array.of(v & 0xff);
  if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
    const b = new Uint8Array(5);
    b[0] = 0xd2;
    new DataView(b.buffer).setInt32(1, v);
    return b;
  }
  const b = new Uint8Array(9);
  b[0] = 0xcb;
  new DataView(b.buffer).setFloat64(1, v);
  return b;
}

/** Little-endian float32 bytes of `values`. */
export function f32le(values: ArrayLike<number>): Uint8Array {
  const b = new Uint8Array(4 * values.length);
  const v = new DataView(b.buffer);
  for (let i = 0; i < values.length; i++) v.setFloat32(4 * i, values[i] as number, true);
  return b;
}

/** A flax ndarray leaf: ext type 1 holding `[shape, dtype, data]`. */
export function flaxLeaf(shape: number[], data: Uint8Array | number[], dtype = 'float32'): Ext {
  return new Ext(1, packMsgpack([shape, dtype, data instanceof Uint8Array ? data : f32le(data)]));
}

/** One zip entry to write: stored unless `method` says otherwise; fields can be forced to lie. */
export interface ZipSpec {
  readonly name: string;
  readonly data: Uint8Array;
  readonly method?: number;
  readonly crc?: number;
  readonly compressedSize?: number;
  readonly size?: number;
  /** Write the local header at this offset instead (to make entries overlap). */
  readonly localOffset?: number;
  /** Skip writing the local header and data (for entries that point into another's data). */
  readonly centralOnly?: boolean;
}

function le(n: number, size: 2 | 4): Uint8Array {
  const b = new Uint8Array(size);
  if (size === 2) new DataView(b.buffer).setUint16(0, n, true);
  else new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

/** The local header of `e` (sizes and CRC in the header, bit 3 off). */
export function zipLocalHeader(e: ZipSpec): Uint8Array {
  const name = new TextEncoder().encode(e.name);
  const crc = e.crc ?? crc32(e.data);
  return concat([le(0x04034b50, 4), le(20, 2), le(0, 2), le(e.method ?? 0, 2), le(0, 4), le(crc, 4), le(e.compressedSize ?? e.data.length, 4), le(e.size ?? e.data.length, 4), le(name.length, 2), le(0, 2), name]);
}

/** A zip archive of `entries` (local headers, data, central directory, end record). */
export function buildZip(entries: ZipSpec[], options: { count?: number; comment?: string } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const at = e.localOffset ?? offset;
    if (!e.centralOnly) {
      const local = concat([zipLocalHeader(e), e.data]);
      parts.push(local);
      offset += local.length;
    }
    const name = new TextEncoder().encode(e.name);
    const crc = e.crc ?? crc32(e.data);
    central.push(concat([le(0x02014b50, 4), le(20, 2), le(20, 2), le(0, 2), le(e.method ?? 0, 2), le(0, 4), le(crc, 4), le(e.compressedSize ?? e.data.length, 4), le(e.size ?? e.data.length, 4), le(name.length, 2), le(0, 2), le(0, 2), le(0, 2), le(0, 2), le(0, 4), le(at, 4), name]));
  }
  const cd = concat(central);
  const comment = new TextEncoder().encode(options.comment ?? '');
  const count = options.count ?? entries.length;
  const eocd = concat([le(0x06054b50, 4), le(0, 2), le(0, 2), le(count, 2), le(count, 2), le(cd.length, 4), le(offset, 4), le(comment.length, 2), comment]);
  return concat([...parts, cd, eocd]);
}

/** A tensor to put in a torch state_dict file. */
export interface TorchTensorSpec {
  readonly name: string;
  readonly shape: number[];
  readonly stride?: number[];
  readonly offset?: number;
  /** The storage key (default: the tensor's index). Tensors may share a key. */
  readonly key?: string;
  /** The storage's declared element count (default: its data length). */
  readonly numel?: number;
  readonly storageType?: string;
}

/** Pickle opcodes, written byte by byte. */
export const P = {
  proto: (v = 2) => Uint8Array.of(0x80, v),
  global: (module: string, name: string) => concat([Uint8Array.of(0x63), new TextEncoder().encode(`${module}\n${name}\n`)]),
  str: (s: string) => {
    const b = new TextEncoder().encode(s);
    return concat([Uint8Array.of(0x58), le(b.length, 4), b]);
  },
  int: (n: number) => (n >= 0 && n < 256 ? Uint8Array.of(0x4b, n) : concat([Uint8Array.of(0x4a), le(n, 4)])),
  mark: () => Uint8Array.of(0x28),
  tuple: () => Uint8Array.of(0x74),
  emptyTuple: () => Uint8Array.of(0x29),
  emptyDict: () => Uint8Array.of(0x7d),
  reduce: () => Uint8Array.of(0x52),
  persid: () => Uint8Array.of(0x51),
  setitems: () => Uint8Array.of(0x75),
  setitem: () => Uint8Array.of(0x73),
  build: () => Uint8Array.of(0x62),
  newfalse: () => Uint8Array.of(0x89),
  binput: (i: number) => Uint8Array.of(0x71, i),
  binget: (i: number) => Uint8Array.of(0x68, i),
  stop: () => Uint8Array.of(0x2e),
  concat,
};

function tupleOf(items: Uint8Array[]): Uint8Array {
  return concat([P.mark(), ...items, P.tuple()]);
}

/** The data.pkl of `torch.save(OrderedDict(tensors))`, protocol 2, as torch writes it (optionally with `_metadata`). */
export function stateDictPickle(tensors: TorchTensorSpec[], storages: Map<string, number>, options: { metadata?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [P.proto(), P.global('collections', 'OrderedDict'), P.emptyTuple(), P.reduce(), P.mark()];
  tensors.forEach((t, i) => {
    const key = t.key ?? String(i);
    const stride = t.stride ?? t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    const [mod, cls] = (t.storageType ?? 'torch.FloatStorage').split('.') as [string, string];
    const pid = tupleOf([P.str('storage'), P.global(mod, cls), P.str(key), P.str('cpu'), P.int(t.numel ?? storages.get(key) ?? 0)]);
    const args = tupleOf([pid, P.persid(), P.int(t.offset ?? 0), tupleOf(t.shape.map(P.int)), tupleOf(stride.map(P.int)), P.newfalse(), P.global('collections', 'OrderedDict'), P.emptyTuple(), P.reduce()]);
    parts.push(P.str(t.name), P.global('torch._utils', '_rebuild_tensor_v2'), args, P.reduce());
  });
  parts.push(P.setitems());
  if (options.metadata) {
    const meta = concat([P.global('collections', 'OrderedDict'), P.emptyTuple(), P.reduce(), P.str(''), P.emptyDict(), P.str('version'), P.int(1), P.setitem(), P.setitem()]);
    parts.push(P.emptyDict(), P.str('_metadata'), meta, P.setitem(), P.build());
  }
  parts.push(P.stop());
  return concat(parts);
}

/** A torch.save zip file holding `tensors`, with storages `data` (key -> float32 values). */
export function torchFile(tensors: TorchTensorSpec[], data: Map<string, number[]>, options: { byteorder?: string; pickle?: Uint8Array; metadata?: boolean; bigEndian?: boolean } = {}): Uint8Array {
  const storages = new Map([...data].map(([k, v]) => [k, v.length]));
  const pkl = options.pickle ?? stateDictPickle(tensors, storages, { metadata: options.metadata ?? false });
  const entries: ZipSpec[] = [{ name: 'archive/data.pkl', data: pkl }];
  if (options.byteorder !== undefined) entries.push({ name: 'archive/byteorder', data: new TextEncoder().encode(options.byteorder) });
  for (const [k, v] of data) {
    const bytes = f32le(v);
    if (options.bigEndian) for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
    entries.push({ name: `archive/data/${k}`, data: bytes });
  }
  entries.push({ name: 'archive/version', data: new TextEncoder().encode('3\n') });
  return buildZip(entries);
}
