import { ByteReader } from './byte-reader.js';
import { crc32 } from './crc32.js';

const FORMAT = 'zip archive';
const EOCD_SIG = 0x06054b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_SIZE = 22;
const METHODS: Record<number, string> = { 8: 'deflate', 9: 'deflate64', 12: 'bzip2', 14: 'lzma', 93: 'zstd', 95: 'xz' };

/** One stored entry of a zip archive. */
export interface ZipEntry {
  /** The entry's name (path inside the archive). */
  readonly name: string;
  /** Its bytes (a view into the archive; stored entries are not copied). */
  readonly data: Uint8Array;
}

interface CentralRecord {
  readonly name: string;
  readonly method: number;
  readonly flags: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localOffset: number;
  readonly at: number;
}

/**
 * Lists the entries of a zip archive from its central directory and returns the bytes of
 * each (stored, i.e. uncompressed, entries only: PyTorch writes those). Compressed entries,
 * zip64 sizes, multi-disk archives, more than `maxEntries` entries, duplicate names,
 * sizes that disagree or point outside the file, overlapping entries and CRC mismatches are
 * `LoptError('CHECKPOINT_INVALID')`. Nothing is decompressed, so no entry can be larger
 * than the archive itself.
 */
export function readZip(bytes: Uint8Array, maxEntries: number): Map<string, ZipEntry> {
  const r = new ByteReader(bytes, FORMAT);
  const eocd = findEndOfCentralDirectory(r);
  r.offset = eocd + 4;
  const disk = r.uint(2, 'the disk number', true);
  const cdDisk = r.uint(2, 'the central directory disk', true);
  const diskEntries = r.uint(2, 'the entry count on this disk', true);
  const count = r.uint(2, 'the entry count', true);
  const cdSize = r.uint(4, 'the central directory size', true);
  const cdOffset = r.uint(4, 'the central directory offset', true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw r.error('the archive needs zip64 sizes, which this reader does not support (files this large are above any reference checkpoint)', eocd);
  }
  if (disk !== 0 || cdDisk !== 0 || diskEntries !== count) throw r.error('multi-disk archives are not supported', eocd);
  if (count > maxEntries) throw r.error(`the archive has ${count} entries, more than the limit of ${maxEntries} (limits.maxEntries)`, eocd);
  if (cdOffset + cdSize > eocd) throw r.error(`the central directory (${cdSize} bytes at ${cdOffset}) runs past the end record`, eocd);
  r.offset = cdOffset;
  const records: CentralRecord[] = [];
  for (let i = 0; i < count; i++) records.push(readCentralRecord(r));
  if (r.offset > cdOffset + cdSize) throw r.error('the central directory is longer than its declared size', cdOffset);
  return entriesFrom(r, records, cdOffset);
}

function findEndOfCentralDirectory(r: ByteReader): number {
  const n = r.bytes.length;
  if (n < EOCD_SIZE) throw r.error(`the file is ${n} bytes, too short for a zip end record (truncated?)`, 0);
  const view = new DataView(r.bytes.buffer, r.bytes.byteOffset, n);
  const stop = Math.max(0, n - EOCD_SIZE - 0xffff);
  for (let at = n - EOCD_SIZE; at >= stop; at--) {
    if (view.getUint32(at, true) === EOCD_SIG && view.getUint16(at + 20, true) === n - at - EOCD_SIZE) return at;
  }
  throw r.error('no end-of-central-directory record (truncated, or not a zip archive)', n);
}

interface HeaderFields {
  readonly flags: number;
  readonly method: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly nameLength: number;
  readonly extraLength: number;
}

/** The fields central and local headers share, from 'version needed' to the extra length. */
function readHeaderFields(r: ByteReader): HeaderFields {
  r.take(2, 'the version needed');
  const flags = r.uint(2, 'the flags', true);
  const method = r.uint(2, 'the compression method', true);
  r.take(4, 'the modification time');
  const crc = r.uint(4, 'the CRC-32', true);
  const compressedSize = r.uint(4, 'the compressed size', true);
  const size = r.uint(4, 'the uncompressed size', true);
  const nameLength = r.uint(2, 'the name length', true);
  const extraLength = r.uint(2, 'the extra field length', true);
  return { flags, method, crc, compressedSize, size, nameLength, extraLength };
}

function readCentralRecord(r: ByteReader): CentralRecord {
  const at = r.offset;
  if (r.uint(4, 'a central directory header', true) !== CENTRAL_SIG) throw r.error('a central directory header has a wrong signature', at);
  r.take(2, 'the version made by');
  const { flags, method, crc, compressedSize, size, nameLength, extraLength } = readHeaderFields(r);
  const commentLength = r.uint(2, 'the comment length', true);
  const diskStart = r.uint(2, 'the start disk', true);
  r.take(6, 'the file attributes');
  const localOffset = r.uint(4, 'the local header offset', true);
  const name = r.utf8(nameLength, 'an entry name');
  r.take(extraLength + commentLength, 'the extra field and comment');
  if (diskStart !== 0) throw r.error(`entry '${name}' starts on disk ${diskStart}; multi-disk archives are not supported`, at);
  if (compressedSize === 0xffffffff || size === 0xffffffff || localOffset === 0xffffffff) {
    throw r.error(`entry '${name}' needs zip64 sizes, which this reader does not support`, at);
  }
  return { name, method, flags, crc, compressedSize, size, localOffset, at };
}

function entriesFrom(r: ByteReader, records: CentralRecord[], cdOffset: number): Map<string, ZipEntry> {
  const out = new Map<string, ZipEntry>();
  const spans: [number, number, string][] = [];
  for (const rec of records) {
    if (out.has(rec.name)) throw r.error(`the entry name '${rec.name}' appears twice`, rec.at);
    checkStored(r, rec);
    const start = localDataStart(r, rec);
    const end = start + rec.size;
    if (end > cdOffset) throw r.error(`entry '${rec.name}' declares ${rec.size} bytes, which run past the central directory (declared sizes do not fit the file)`, rec.at);
    const data = r.bytes.subarray(start, end);
    if (crc32(data) !== rec.crc) throw r.error(`entry '${rec.name}' fails its CRC-32 check (corrupted)`, start);
    spans.push([rec.localOffset, end, rec.name]);
    out.set(rec.name, { name: rec.name, data });
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    const [prev, cur] = [spans[i - 1]!, spans[i]!];
    if (cur[0] < prev[1]) throw r.error(`entries '${prev[2]}' and '${cur[2]}' overlap`, cur[0]);
  }
  return out;
}

function checkStored(r: ByteReader, rec: CentralRecord): void {
  if (rec.flags & 0x1) throw r.error(`entry '${rec.name}' is encrypted`, rec.at);
  if (rec.method !== 0) {
    const what = METHODS[rec.method] ?? `method ${rec.method}`;
    throw r.error(`entry '${rec.name}' is compressed (${what}); only stored (uncompressed) entries are supported, as torch.save writes them`, rec.at);
  }
  if (rec.compressedSize !== rec.size) {
    throw r.error(`stored entry '${rec.name}' declares ${rec.compressedSize} stored bytes but ${rec.size} uncompressed bytes`, rec.at);
  }
}

function localDataStart(r: ByteReader, rec: CentralRecord): number {
  r.offset = rec.localOffset;
  if (r.uint(4, `the local header of '${rec.name}'`, true) !== LOCAL_SIG) throw r.error(`the local header of '${rec.name}' has a wrong signature`, rec.localOffset);
  const { flags, method, crc, compressedSize, size, nameLength, extraLength } = readHeaderFields(r);
  const name = r.utf8(nameLength, 'the local entry name');
  r.take(extraLength, 'the local extra field');
  if (name !== rec.name || method !== rec.method) throw r.error(`the local header of '${rec.name}' disagrees with the central directory`, rec.localOffset);
  // Bit 3: sizes and CRC follow the data in a descriptor; the central directory holds them.
  if (!(flags & 0x8) && (crc !== rec.crc || compressedSize !== rec.compressedSize || size !== rec.size)) {
    throw r.error(`the local sizes or CRC of '${rec.name}' disagree with the central directory`, rec.localOffset);
  }
  return r.offset;
}
