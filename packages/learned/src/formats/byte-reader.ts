import { LoptError } from '@lopt/core';

/**
 * A bounds-checked cursor over bytes. Every read checks that the bytes exist first, so a
 * truncated or lying file ends in a `CHECKPOINT_INVALID` error that names the format and the
 * offset, never in an out-of-range read or a huge allocation.
 */
export class ByteReader {
  /** The next byte to read. */
  offset = 0;
  private readonly view: DataView;

  /** `format` names what is read in error messages (e.g. `flax msgpack file`). */
  constructor(readonly bytes: Uint8Array, readonly format: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Bytes left after the cursor. */
  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  /** A `CHECKPOINT_INVALID` error about the byte at `at` (default: the cursor). */
  error(message: string, at = this.offset): LoptError {
    return new LoptError('CHECKPOINT_INVALID', `Not a valid ${this.format}: ${message} (at byte ${at}).`);
  }

  /** Throws unless `n` more bytes exist; `what` names what was being read. */
  need(n: number, what: string): void {
    if (!Number.isSafeInteger(n) || n < 0) throw this.error(`${what} has an invalid length ${n}`);
    if (n > this.remaining) {
      throw this.error(`the file ends inside ${what} (needs ${n} bytes, ${this.remaining} left; truncated?)`);
    }
  }

  /** The next `n` bytes as a view (no copy), advancing the cursor. */
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** An unsigned integer of 1, 2 or 4 bytes (big-endian unless `little`). */
  uint(size: 1 | 2 | 4, what: string, little = false): number {
    return this.integer(size, false, what, little);
  }

  /** A signed integer of 1, 2 or 4 bytes (big-endian unless `little`). */
  int(size: 1 | 2 | 4, what: string, little = false): number {
    return this.integer(size, true, what, little);
  }

  /** A signed or unsigned integer of 1, 2 or 4 bytes, advancing the cursor. */
  private integer(size: 1 | 2 | 4, signed: boolean, what: string, little: boolean): number {
    this.need(size, what);
    const o = this.offset;
    this.offset += size;
    const v = this.view;
    if (size === 1) return signed ? v.getInt8(o) : v.getUint8(o);
    if (size === 2) return signed ? v.getInt16(o, little) : v.getUint16(o, little);
    return signed ? v.getInt32(o, little) : v.getUint32(o, little);
  }

  /** A 64-bit integer; throws unless it is a safe JS integer. */
  int64(signed: boolean, what: string, little = false): number {
    this.need(8, what);
    const at = this.offset;
    const v = signed ? this.view.getBigInt64(at, little) : this.view.getBigUint64(at, little);
    this.offset += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw this.error(`${what} ${v} is outside the safe integer range`, at);
    }
    return Number(v);
  }

  /** A 32- or 64-bit float (big-endian unless `little`). */
  float(size: 4 | 8, what: string, little = false): number {
    this.need(size, what);
    const o = this.offset;
    this.offset += size;
    return size === 4 ? this.view.getFloat32(o, little) : this.view.getFloat64(o, little);
  }

  /** `n` bytes decoded as strict UTF-8. */
  utf8(n: number, what: string): string {
    const at = this.offset;
    const raw = this.take(n, what);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw this.error(`${what} is not valid UTF-8`, at);
    }
  }
}

/**
 * Copies `count` float32 values stored at `bytes[0..4*count)` into a new `Float32Array`,
 * reading them little-endian (or big-endian when `little` is false) whatever the host's byte
 * order and the data's alignment.
 */
export function decodeFloat32(bytes: Uint8Array, count: number, little = true): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, little);
  return out;
}
