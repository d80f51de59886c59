import * as tf from '@tensorflow/tfjs-core';
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex } from '@noble/hashes/utils';
import { LoptError } from './errors.js';
import { treeDefLeafCount, treeFlatten, treePaths, treeUnflatten, type TensorTree, type TreeDef } from './tree.js';

/** The checkpoint format version this library writes; it reads versions up to this one. */
export const CHECKPOINT_FORMAT_VERSION = 1;
const FORMAT_TAG = 'lopt';
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** What a checkpoint says about its contents; stored in the safetensors `__metadata__`. */
export interface CheckpointMetadata {
  /** What the tree is, e.g. `learned-optimizer`, `optimizer-state`, `meta-train`. */
  readonly kind: string;
  /** The producer's name, e.g. the architecture `adafacMlpLOpt`. */
  readonly name: string;
  /** JSON configuration needed to rebuild the producer. Default `{}`. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Further JSON data (step counters, keys, metrics). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** Metadata as read back from a checkpoint, with the format fields filled in. */
export interface LoadedCheckpointMetadata {
  /** See {@link CheckpointMetadata.kind}. */
  readonly kind: string;
  /** See {@link CheckpointMetadata.name}. */
  readonly name: string;
  /** See {@link CheckpointMetadata.config}. */
  readonly config: Record<string, unknown>;
  /** See {@link CheckpointMetadata.extra}. */
  readonly extra: Record<string, unknown>;
  /** Format version the file was written with. */
  readonly formatVersion: number;
  /** Hex sha256 over the header (without this field) and the data. */
  readonly sha256: string;
}

/** Expectations checked by {@link deserializeTree}; a mismatch is `CHECKPOINT_MISMATCH`. */
export interface CheckpointExpectation {
  /** Required `kind`. */
  readonly kind?: string;
  /** Required `name`. */
  readonly name?: string;
}

type SafetensorsDtype = 'F32' | 'I32' | 'BOOL';
const DTYPES: Record<string, { st: SafetensorsDtype; bytes: number }> = {
  float32: { st: 'F32', bytes: 4 },
  int32: { st: 'I32', bytes: 4 },
  bool: { st: 'BOOL', bytes: 1 },
};
const FROM_ST: Record<SafetensorsDtype, { dtype: 'float32' | 'int32' | 'bool'; bytes: number }> = {
  F32: { dtype: 'float32', bytes: 4 },
  I32: { dtype: 'int32', bytes: 4 },
  BOOL: { dtype: 'bool', bytes: 1 },
};

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function invalid(check: string, message: string): LoptError {
  return new LoptError('CHECKPOINT_INVALID', `Checkpoint ${check} check failed: ${message}`);
}

function digest(headerWithoutHash: unknown, data: Uint8Array): string {
  const h = sha256.create();
  h.update(new TextEncoder().encode(JSON.stringify(headerWithoutHash)));
  h.update(data);
  return bytesToHex(h.digest());
}

function leafBytes(t: tf.Tensor, path: string): Uint8Array {
  const dt = DTYPES[t.dtype];
  if (!dt) {
    throw new LoptError('CHECKPOINT_INVALID', `Cannot store tensor at '${path}' of dtype ${t.dtype}; supported: float32, int32, bool.`, { path });
  }
  const values = t.dataSync();
  if (t.dtype === 'bool') return Uint8Array.from(values as Uint8Array);
  const typed = t.dtype === 'float32' ? Float32Array.from(values as Float32Array) : Int32Array.from(values as Int32Array);
  const bytes = new Uint8Array(typed.buffer);
  if (!isLittleEndian) {
    for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  }
  return bytes;
}

/**
 * Serializes a tensor tree in the safetensors layout: an 8-byte little-endian header
 * length, a JSON header (dtype, shape and byte offsets of each tensor, keyed by tree path)
 * and the raw little-endian data. Python's `safetensors` reads the result. The header's
 * `__metadata__` carries the format tag and version, `kind`, `name`, the JSON `config`,
 * the tree structure and a sha256 over the header and the data, which loading verifies.
 */
export function serializeTree(tree: TensorTree, metadata: CheckpointMetadata): Uint8Array {
  if (typeof metadata?.kind !== 'string' || metadata.kind === '') {
    throw new LoptError('INVALID_OPTION', "Checkpoint metadata needs a non-empty string 'kind'.", { option: 'kind' });
  }
  if (typeof metadata.name !== 'string' || metadata.name === '') {
    throw new LoptError('INVALID_OPTION', "Checkpoint metadata needs a non-empty string 'name'.", { option: 'name' });
  }
  const { leaves, structure } = treeFlatten(tree);
  const paths = treePaths(tree);
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  leaves.forEach((t, i) => {
    const path = paths[i] as string;
    const bytes = leafBytes(t, path);
    header[`${i}:${path}`] = {
      dtype: (DTYPES[t.dtype] as { st: SafetensorsDtype }).st,
      shape: t.shape,
      data_offsets: [offset, offset + bytes.length],
    };
    chunks.push(bytes);
    offset += bytes.length;
  });
  const data = new Uint8Array(offset);
  let o = 0;
  for (const c of chunks) {
    data.set(c, o);
    o += c.length;
  }
  const meta: Record<string, string> = {
    format: FORMAT_TAG,
    format_version: String(CHECKPOINT_FORMAT_VERSION),
    kind: metadata.kind,
    name: metadata.name,
    config: JSON.stringify(metadata.config ?? {}),
    extra: JSON.stringify(metadata.extra ?? {}),
    structure: JSON.stringify(structure),
  };
  const withoutHash = { __metadata__: meta, ...header };
  meta.sha256 = digest(withoutHash, data);
  let json = JSON.stringify({ __metadata__: meta, ...header });
  // Pad the header with spaces to an 8-byte boundary, as the safetensors writer does.
  const encoder = new TextEncoder();
  let headerBytes = encoder.encode(json);
  const pad = (8 - (headerBytes.length % 8)) % 8;
  if (pad > 0) {
    json += ' '.repeat(pad);
    headerBytes = encoder.encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerBytes.length, true);
  view.setUint32(4, 0, true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

function parseJsonField(meta: Record<string, unknown>, field: string): unknown {
  const raw = meta[field];
  if (typeof raw !== 'string') throw invalid('metadata', `field '${field}' is missing.`);
  try {
    return JSON.parse(raw);
  } catch {
    throw invalid('metadata', `field '${field}' is not valid JSON.`);
  }
}

/** One tensor's entry of a checkpoint header, checked. */
interface LeafSpec {
  index: number;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** The header length field, the header JSON object and the data bytes after it. */
function readHeader(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  if (!(bytes instanceof Uint8Array)) throw invalid('input', 'expected a Uint8Array.');
  if (bytes.length < 8) throw invalid('length', `file has ${bytes.length} bytes, fewer than the 8-byte header length.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || 8 + headerLen > bytes.length) {
    throw invalid('header length', `header claims ${headerLen} bytes but the file has ${bytes.length - 8} after the length field (truncated or corrupted).`);
  }
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return { header: parsed as Record<string, unknown>, data: bytes.subarray(8 + headerLen) };
  } catch (e) {
    throw invalid('header JSON', `the header is not a valid JSON object (${(e as Error).message}).`);
  }
}

/** The `__metadata__` of a header, with its format tag and version checked. */
function readMetadata(header: Record<string, unknown>): { meta: Record<string, unknown>; version: number } {
  const metaRaw = header.__metadata__;
  if (typeof metaRaw !== 'object' || metaRaw === null) throw invalid('metadata', 'no __metadata__ in the header.');
  const meta = metaRaw as Record<string, unknown>;
  if (meta.format !== FORMAT_TAG) throw invalid('format', `not a lopt checkpoint (format tag ${JSON.stringify(meta.format)}).`);
  const version = Number(meta.format_version);
  if (!Number.isInteger(version) || version < 1 || version > CHECKPOINT_FORMAT_VERSION) {
    throw invalid('format version', `version ${JSON.stringify(meta.format_version)} is not supported (this library reads 1..${CHECKPOINT_FORMAT_VERSION}).`);
  }
  return { meta, version };
}

/** Checks one tensor entry (`<index>:<path>`): dtype, shape, offsets and byte size. */
function leafSpec(name: string, specRaw: unknown): LeafSpec {
  const index = Number(name.slice(0, name.indexOf(':')));
  const spec = specRaw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (!Number.isInteger(index) || typeof spec !== 'object' || spec === null) throw invalid('tensor entry', `bad entry '${name}'.`);
  const st = FROM_ST[spec.dtype as SafetensorsDtype];
  if (!st) throw invalid('dtype', `tensor '${name}' has unsupported dtype ${JSON.stringify(spec.dtype)}.`);
  const shape = spec.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw invalid('shape', `tensor '${name}' has an invalid shape.`);
  const offs = spec.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0)) {
    throw invalid('data offsets', `tensor '${name}' has invalid data_offsets.`);
  }
  const [begin, end] = offs as [number, number];
  const size = (shape as number[]).reduce((a, b) => a * b, 1);
  if (end - begin !== size * st.bytes) {
    throw invalid('size', `tensor '${name}' of shape [${shape.join(', ')}] needs ${size * st.bytes} bytes but spans ${end - begin}.`);
  }
  return { index, dtype: spec.dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

/** Every tensor entry of the header, checked, sorted by offset; their ranges must tile the data exactly. */
function leafSpecs(header: Record<string, unknown>, dataLength: number): LeafSpec[] {
  const specs = Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .map(([name, spec]) => leafSpec(name, spec));
  specs.sort((a, b) => a.begin - b.begin);
  let expectedOffset = 0;
  for (const s of specs) {
    if (s.begin !== expectedOffset) throw invalid('data offsets', 'tensor byte ranges are not contiguous.');
    expectedOffset = s.end;
  }
  if (expectedOffset !== dataLength) {
    throw invalid('data length', `the tensors span ${expectedOffset} bytes but the file holds ${dataLength} data bytes (truncated or extended).`);
  }
  return specs;
}

/** Checks the stored sha256 against header (without the hash, metadata first, as written) and data; returns it. */
function checkHash(header: Record<string, unknown>, meta: Record<string, unknown>, data: Uint8Array): string {
  const hash = meta.sha256;
  if (typeof hash !== 'string') throw invalid('sha256', 'the header has no sha256.');
  const withoutHash = { ...header, __metadata__: { ...meta } } as Record<string, unknown>;
  delete (withoutHash.__metadata__ as Record<string, unknown>).sha256;
  const { __metadata__: m, ...rest } = withoutHash;
  if (digest({ __metadata__: m, ...rest }, data) !== hash) {
    throw invalid('sha256', 'the contents do not match the stored hash (the file is corrupted).');
  }
  return hash;
}

/** The stored tree structure, which must have one leaf per tensor and every index 0..n-1. */
function checkStructure(meta: Record<string, unknown>, specs: readonly LeafSpec[]): TreeDef {
  const structure = parseJsonField(meta, 'structure') as TreeDef;
  let leafCount: number;
  try {
    leafCount = treeDefLeafCount(structure);
  } catch {
    throw invalid('structure', 'the stored tree structure is malformed.');
  }
  if (leafCount !== specs.length) {
    throw invalid('structure', `the structure has ${leafCount} leaves but the file holds ${specs.length} tensors.`);
  }
  const indices = new Set(specs.map((s) => s.index));
  for (let i = 0; i < leafCount; i++) if (!indices.has(i)) throw invalid('structure', `tensor ${i} is missing.`);
  return structure;
}

/** The tensors of the checked entries, in leaf order (little-endian data). */
function leafTensors(specs: readonly LeafSpec[], data: Uint8Array): tf.Tensor[] {
  const ordered = [...specs].sort((a, b) => a.index - b.index);
  return ordered.map((s) => {
    // A copy with its own ArrayBuffer: Node's Buffer.slice is a view into the whole file.
    const raw = new Uint8Array(data.subarray(s.begin, s.end));
    if (!isLittleEndian && s.dtype !== 'BOOL') {
      for (let i = 0; i < raw.length; i += 4) raw.subarray(i, i + 4).reverse();
    }
    const values =
      s.dtype === 'F32' ? new Float32Array(raw.buffer) : s.dtype === 'I32' ? new Int32Array(raw.buffer) : new Uint8Array(raw.buffer);
    return tf.tensor(values, s.shape, FROM_ST[s.dtype].dtype);
  });
}

/**
 * Reads a checkpoint written by {@link serializeTree}. Verifies, in order: the header
 * length, the header JSON, the format tag and version, each tensor's dtype, shape and
 * byte range (contiguous, covering the data exactly), the sha256 of header and data, and
 * the tree structure; then the optional expectations (`kind`, `name`). A failed check
 * throws `LoptError('CHECKPOINT_INVALID')` (or `CHECKPOINT_MISMATCH` for expectations)
 * naming the check; no tensor is created before all checks pass.
 */
export function deserializeTree(
  bytes: Uint8Array,
  expect: CheckpointExpectation = {},
): { tree: TensorTree; metadata: LoadedCheckpointMetadata } {
  const { header, data } = readHeader(bytes);
  const { meta, version } = readMetadata(header);
  const specs = leafSpecs(header, data.length);
  const hash = checkHash(header, meta, data);
  const structure = checkStructure(meta, specs);
  const config = parseJsonField(meta, 'config') as Record<string, unknown>;
  const extra = parseJsonField(meta, 'extra') as Record<string, unknown>;
  const kind = String(meta.kind);
  const name = String(meta.name);
  if (expect.kind !== undefined && expect.kind !== kind) {
    throw new LoptError('CHECKPOINT_MISMATCH', `Checkpoint holds a '${kind}' but a '${expect.kind}' was expected.`);
  }
  if (expect.name !== undefined && expect.name !== name) {
    throw new LoptError('CHECKPOINT_MISMATCH', `Checkpoint was written by '${name}' but '${expect.name}' was expected.`);
  }
  return {
    tree: treeUnflatten(structure, leafTensors(specs, data)),
    metadata: { kind, name, config, extra, formatVersion: version, sha256: hash },
  };
}
