import { LoptError } from '@lopt/core';
import { decodeFloat32 } from './byte-reader.js';
import { decodeMsgpack, describe, MsgExt, type MsgValue } from './msgpack.js';
import { checkInputBytes, defineKey, resolveLimits, shapeSize, type RawTensor, type RawTree, type ReadLimits, type ResolvedLimits } from './raw-tree.js';

const FORMAT = 'flax msgpack file';
/** flax.serialization's ext type code of a numpy ndarray leaf. */
const NDARRAY_EXT = 1;

function invalid(path: readonly string[], message: string): LoptError {
  const p = path.join('/');
  return new LoptError('CHECKPOINT_INVALID', `Not a valid ${FORMAT}: ${p === '' ? 'the top level' : `leaf '${p}'`} ${message}.`, { path: p });
}

/**
 * Reads a flax `serialization.to_bytes` file (such as Celo's `theta.state`): nested msgpack
 * maps whose leaves are ndarrays (msgpack ext type 1 holding `[shape, dtype, bytes]`). Returns
 * the tree with map keys in file order and every leaf as a float32 {@link RawTensor}.
 * Only float32 leaves are accepted. Nothing in the file is executed; truncation, other types,
 * dtypes or ext codes, shapes that do not match the data, duplicate keys, deep nesting and
 * more than `limits.maxLeaves` leaves are `LoptError('CHECKPOINT_INVALID')` naming the leaf.
 *
 * @example
 * ```ts
 * const tree = readFlaxMsgpack(new Uint8Array(await (await fetch(url)).arrayBuffer()));
 * ```
 */
export function readFlaxMsgpack(bytes: Uint8Array, limits?: ReadLimits): RawTree {
  const lim = resolveLimits(limits);
  checkInputBytes(bytes, FORMAT, lim);
  const root = decodeMsgpack(bytes, lim.maxDepth, FORMAT);
  if (!(root instanceof Map)) throw invalid([], `is ${describe(root)}, not a map`);
  const counter = { leaves: 0 };
  return toTree(root, [], lim, counter);
}

function toTree(v: MsgValue, path: string[], lim: ResolvedLimits, counter: { leaves: number }): RawTree {
  if (v instanceof Map) {
    const out: Record<string, RawTree> = {};
    for (const [k, x] of v) defineKey(out, k, toTree(x, [...path, k], lim, counter));
    return out;
  }
  if (Array.isArray(v)) return v.map((x, i) => toTree(x, [...path, String(i)], lim, counter));
  if (v instanceof MsgExt) {
    if (++counter.leaves > lim.maxLeaves) throw invalid(path, `is past the limit of ${lim.maxLeaves} leaves (limits.maxLeaves)`);
    return ndarrayLeaf(v, path, lim);
  }
  throw invalid(path, `is ${describe(v)}, not an ndarray (msgpack ext type ${NDARRAY_EXT})`);
}

function ndarrayLeaf(ext: MsgExt, path: string[], lim: ResolvedLimits): RawTensor {
  if (ext.type !== NDARRAY_EXT) throw invalid(path, `is msgpack ext type ${ext.type}; only ndarrays (ext type ${NDARRAY_EXT}) are supported`);
  let payload: MsgValue;
  try {
    payload = decodeMsgpack(ext.data, lim.maxDepth, `ndarray payload of leaf '${path.join('/')}'`);
  } catch (e) {
    throw new LoptError('CHECKPOINT_INVALID', (e as Error).message, { path: path.join('/'), cause: e });
  }
  if (!Array.isArray(payload) || payload.length !== 3) throw invalid(path, 'is not an ndarray [shape, dtype, data]');
  const [shape, dtype, data] = payload;
  if (!Array.isArray(shape)) throw invalid(path, `has a shape that is ${describe(shape ?? null)}, not an array`);
  if (dtype !== 'float32') throw invalid(path, `has dtype ${typeof dtype === 'string' ? `'${dtype}'` : describe(dtype ?? null)}; only float32 is supported`);
  if (!(data instanceof Uint8Array)) throw invalid(path, `has data that is ${describe(data ?? null)}, not a bin`);
  const size = shapeSize(shape, Math.floor(lim.maxBytes / 4));
  if (typeof size === 'string') throw invalid(path, `has an unusable shape: ${size}`);
  if (data.length !== 4 * size) {
    throw invalid(path, `has shape [${shape.join(', ')}] (${size} float32 = ${4 * size} bytes) but ${data.length} bytes of data`);
  }
  return { shape: shape as number[], data: decodeFloat32(data, size) };
}
