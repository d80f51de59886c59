import { ByteReader } from './byte-reader.js';

/** A msgpack extension value: its type code and raw payload. */
export class MsgExt {
  constructor(readonly type: number, readonly data: Uint8Array) {}
}

/** A decoded msgpack map: string keys in file order (duplicate keys are rejected). */
export type MsgMap = Map<string, MsgValue>;

/** A decoded msgpack value (the subset flax writes). */
export type MsgValue = null | boolean | number | string | Uint8Array | MsgValue[] | MsgMap | MsgExt;

const FORMAT = 'msgpack file';

/**
 * Decodes one msgpack value that fills `reader` to its end. Nesting deeper than `maxDepth`,
 * non-string or duplicate map keys, declared lengths larger than the bytes left, and trailing
 * bytes are `CHECKPOINT_INVALID`. Every container's declared count is checked against the
 * bytes left before anything is allocated, so time and memory stay linear in the input.
 */
export function decodeMsgpack(bytes: Uint8Array, maxDepth: number, format = FORMAT): MsgValue {
  const r = new ByteReader(bytes, format);
  const value = decodeValue(r, 0, maxDepth);
  if (r.remaining > 0) throw r.error(`${r.remaining} trailing bytes after the top-level value`);
  return value;
}

function decodeValue(r: ByteReader, depth: number, maxDepth: number): MsgValue {
  const at = r.offset;
  const b = r.uint(1, 'a value tag');
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b >= 0x80 && b <= 0x8f) return decodeMap(r, b & 0x0f, depth, maxDepth, at);
  if (b >= 0x90 && b <= 0x9f) return decodeArray(r, b & 0x0f, depth, maxDepth, at);
  if (b >= 0xa0 && b <= 0xbf) return r.utf8(b & 0x1f, 'a string');
  switch (b) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: case 0xc5: case 0xc6: return r.take(r.uint(lenSize(b - 0xc4), 'a bin length'), 'a bin');
    case 0xc7: case 0xc8: case 0xc9: {
      const n = r.uint(lenSize(b - 0xc7), 'an ext length');
      return decodeExt(r, n);
    }
    case 0xca: return r.float(4, 'a float32');
    case 0xcb: return r.float(8, 'a float64');
    case 0xcc: return r.uint(1, 'a uint8');
    case 0xcd: return r.uint(2, 'a uint16');
    case 0xce: return r.uint(4, 'a uint32');
    case 0xcf: return r.int64(false, 'a uint64');
    case 0xd0: return r.int(1, 'an int8');
    case 0xd1: return r.int(2, 'an int16');
    case 0xd2: return r.int(4, 'an int32');
    case 0xd3: return r.int64(true, 'an int64');
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return decodeExt(r, 1 << (b - 0xd4));
    case 0xd9: case 0xda: case 0xdb: return r.utf8(r.uint(lenSize(b - 0xd9), 'a string length'), 'a string');
    case 0xdc: case 0xdd: return decodeArray(r, r.uint(b === 0xdc ? 2 : 4, 'an array length'), depth, maxDepth, at);
    case 0xde: case 0xdf: return decodeMap(r, r.uint(b === 0xde ? 2 : 4, 'a map length'), depth, maxDepth, at);
    default: throw r.error(`0x${b.toString(16)} is not a msgpack type tag`, at);
  }
}

function lenSize(i: number): 1 | 2 | 4 {
  return i === 0 ? 1 : i === 1 ? 2 : 4;
}

function decodeExt(r: ByteReader, n: number): MsgExt {
  const type = r.int(1, 'an ext type');
  return new MsgExt(type, r.take(n, `the payload of ext type ${type}`));
}

function enter(r: ByteReader, depth: number, maxDepth: number, at: number): number {
  if (depth + 1 > maxDepth) throw r.error(`containers are nested deeper than ${maxDepth} levels (limits.maxDepth)`, at);
  return depth + 1;
}

function decodeArray(r: ByteReader, n: number, depth: number, maxDepth: number, at: number): MsgValue[] {
  const d = enter(r, depth, maxDepth, at);
  if (n > r.remaining) throw r.error(`an array declares ${n} items but only ${r.remaining} bytes are left`, at);
  const out: MsgValue[] = [];
  for (let i = 0; i < n; i++) out.push(decodeValue(r, d, maxDepth));
  return out;
}

function decodeMap(r: ByteReader, n: number, depth: number, maxDepth: number, at: number): MsgMap {
  const d = enter(r, depth, maxDepth, at);
  if (2 * n > r.remaining) throw r.error(`a map declares ${n} entries but only ${r.remaining} bytes are left`, at);
  const out: MsgMap = new Map();
  for (let i = 0; i < n; i++) {
    const keyAt = r.offset;
    const k = decodeValue(r, d, maxDepth);
    if (typeof k !== 'string') throw r.error(`a map key is ${describe(k)}, not a string`, keyAt);
    if (out.has(k)) throw r.error(`the map key '${k}' appears twice`, keyAt);
    out.set(k, decodeValue(r, d, maxDepth));
  }
  return out;
}

/** A short description of a decoded value's type, for error messages. */
export function describe(v: MsgValue): string {
  if (v === null) return 'nil';
  if (v instanceof Uint8Array) return 'a bin';
  if (v instanceof MsgExt) return `an ext of type ${v.type}`;
  if (v instanceof Map) return 'a map';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}
