import { LoptError } from '@lopt/core';
import { decodeFloat32 } from './byte-reader.js';
import { PickleDict, readStateDictPickle, TensorRef } from './pickle.js';
import { checkInputBytes, defineKey, resolveLimits, shapeSize, type RawTensor, type RawTree, type ReadLimits } from './raw-tree.js';
import { readZip, type ZipEntry } from './zip.js';

const FORMAT = 'PyTorch zip state_dict';

function invalid(message: string, path?: string): LoptError {
  return new LoptError('CHECKPOINT_INVALID', `Not a valid ${FORMAT}: ${message}.`, path === undefined ? {} : { path });
}

/**
 * Reads a `torch.save(state_dict)` file (PyTorch >= 1.6 zip format, such as PyLO's
 * `celo2_weights.pt`) into a flat tree name -> float32 {@link RawTensor}, in dict order.
 * The archive's entries must be stored (uncompressed); `data.pkl` is interpreted by a
 * pickle reader that accepts only the opcodes and globals such a file needs (nothing is
 * executed); tensors must be float32 and contiguous (a storage offset is fine), and the
 * `byteorder` entry (`little`, or `big`) is honoured. Anything else is
 * `LoptError('CHECKPOINT_INVALID')` naming the entry, opcode or tensor.
 *
 * @example
 * ```ts
 * const tree = readTorchStateDict(bytes); // { 'hidden.weight': { shape: [8, 8], data }, ... }
 * ```
 */
export function readTorchStateDict(bytes: Uint8Array, limits?: ReadLimits): RawTree {
  const lim = resolveLimits(limits);
  checkInputBytes(bytes, FORMAT, lim);
  const entries = readZip(bytes, lim.maxEntries);
  const prefix = archivePrefix(entries);
  const little = byteOrder(entries.get(`${prefix}byteorder`));
  const root = readStateDictPickle((entries.get(`${prefix}data.pkl`) as ZipEntry).data);
  if (!(root instanceof PickleDict)) throw invalid('data.pkl does not hold a dict of tensors');
  if (root.items.size > lim.maxLeaves) throw invalid(`the state_dict has ${root.items.size} tensors, more than the limit of ${lim.maxLeaves} (limits.maxLeaves)`);
  const out: Record<string, RawTree> = {};
  for (const [name, value] of root.items) {
    if (!(value instanceof TensorRef)) throw invalid(`entry '${name}' of the state_dict is not a tensor`, name);
    defineKey(out, name, tensorData(name, value, entries, prefix, little));
  }
  return out;
}

/** The folder every entry lives in (`celo2_weights/`), found from its single `data.pkl`. */
function archivePrefix(entries: Map<string, ZipEntry>): string {
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    throw invalid(pkls.length === 0 ? 'the archive has no <name>/data.pkl entry (is it a torch.save file?)' : `the archive has ${pkls.length} data.pkl entries`);
  }
  return (pkls[0] as string).slice(0, -'data.pkl'.length);
}

function byteOrder(entry: ZipEntry | undefined): boolean {
  if (entry === undefined) return true; // files older than the byteorder entry are little-endian
  const text = new TextDecoder().decode(entry.data);
  if (text === 'little' || text === 'big') return text === 'little';
  throw invalid(`the byteorder entry says '${text.slice(0, 20)}', not 'little' or 'big'`);
}

function tensorData(name: string, t: TensorRef, entries: Map<string, ZipEntry>, prefix: string, little: boolean): RawTensor {
  const entryName = `${prefix}data/${t.storage.key}`;
  const entry = entries.get(entryName);
  if (entry === undefined) throw invalid(`tensor '${name}' uses storage '${t.storage.key}', but the archive has no entry ${entryName}`, name);
  if (entry.data.length !== 4 * t.storage.numel) {
    throw invalid(`storage ${entryName} of tensor '${name}' holds ${entry.data.length} bytes, but the pickle declares ${t.storage.numel} float32 (${4 * t.storage.numel} bytes)`, name);
  }
  const size = shapeSize(t.shape, t.storage.numel);
  if (typeof size === 'string') throw invalid(`tensor '${name}' does not fit its storage of ${t.storage.numel} values: ${size}`, name);
  if (t.offset + size > t.storage.numel) {
    throw invalid(`tensor '${name}' (offset ${t.offset}, ${size} values) runs past its storage of ${t.storage.numel} values`, name);
  }
  if (!isContiguous(t.shape, t.stride)) {
    throw invalid(`tensor '${name}' has shape [${t.shape.join(', ')}] with stride [${t.stride.join(', ')}]; only contiguous tensors are supported (save tensor.contiguous())`, name);
  }
  return { shape: [...t.shape], data: decodeFloat32(entry.data.subarray(4 * t.offset, 4 * (t.offset + size)), size, little) };
}

/** Row-major contiguity as torch defines it: dimensions of size 1 may have any stride. */
function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i] as number;
    if (d !== 1 && stride[i] !== expected) return false;
    expected *= d;
  }
  return true;
}
