import { LoptError } from '@lopt/core';

/** A float32 array read from a file, with its shape (row-major data). */
export interface RawTensor {
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** `product(shape)` values, row-major. */
  readonly data: Float32Array;
}

/** A tree of {@link RawTensor}s as stored in a reference checkpoint (no tfjs tensors yet). */
export type RawTree = RawTensor | readonly RawTree[] | { readonly [name: string]: RawTree };

/** True when `node` is a {@link RawTensor} leaf. */
export function isRawTensor(node: RawTree): node is RawTensor {
  return !Array.isArray(node) && (node as RawTensor).data instanceof Float32Array;
}

/** Every leaf of a raw tree with its path (map keys in file order, joined by `/`). */
export function rawLeaves(tree: RawTree, prefix: readonly string[] = []): { path: string[]; tensor: RawTensor }[] {
  if (isRawTensor(tree)) return [{ path: [...prefix], tensor: tree }];
  const out: { path: string[]; tensor: RawTensor }[] = [];
  const entries = Array.isArray(tree) ? tree.map((v, i) => [String(i), v] as const) : Object.entries(tree);
  for (const [k, v] of entries) for (const leaf of rawLeaves(v as RawTree, [...prefix, k])) out.push(leaf);
  return out;
}

/** Limits that keep a reader's time and memory bounded on hostile files. */
export interface ReadLimits {
  /** Largest accepted file, in bytes. Default 256 MiB. */
  readonly maxBytes?: number;
  /** Most tensors (leaves) in one file. Default 100,000. */
  readonly maxLeaves?: number;
  /** Deepest nesting of containers. Default 64, at most 1,000 (the readers recurse). */
  readonly maxDepth?: number;
  /** Most entries in a zip archive. Default 10,000. */
  readonly maxEntries?: number;
}

/** {@link ReadLimits} with every field set. */
export type ResolvedLimits = Required<ReadLimits>;

const MAX_DEPTH = 1000;
const DEFAULT_LIMITS: ResolvedLimits = { maxBytes: 256 * 1024 * 1024, maxLeaves: 100_000, maxDepth: 64, maxEntries: 10_000 };

/** Validates `limits` (positive integers) and fills in the defaults. */
export function resolveLimits(limits: ReadLimits | undefined): ResolvedLimits {
  if (limits !== undefined && (typeof limits !== 'object' || limits === null)) {
    throw new LoptError('INVALID_OPTION', `Reader limits must be an object, got ${String(limits)}.`, { option: 'limits' });
  }
  const out: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const name of Object.keys(DEFAULT_LIMITS) as (keyof ResolvedLimits)[]) {
    const v = limits?.[name];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new LoptError('INVALID_OPTION', `Reader limit '${name}' must be a positive integer, got ${String(v)}.`, { option: name });
    }
    if (name === 'maxDepth' && v > MAX_DEPTH) {
      throw new LoptError('INVALID_OPTION', `Reader limit 'maxDepth' must be at most ${MAX_DEPTH}, got ${v}.`, { option: name });
    }
    out[name] = v;
  }
  return out as ResolvedLimits;
}

/** Throws `INVALID_OPTION` unless `bytes` is a `Uint8Array`; `CHECKPOINT_INVALID` when above `maxBytes`. */
export function checkInputBytes(bytes: unknown, format: string, limits: ResolvedLimits): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new LoptError('INVALID_OPTION', `The ${format} reader takes a Uint8Array of the file's bytes, got ${bytes === null ? 'null' : typeof bytes}.`, { option: 'bytes' });
  }
  if (bytes.length > limits.maxBytes) {
    throw new LoptError('CHECKPOINT_INVALID', `The ${format} file is ${bytes.length} bytes, above the limit of ${limits.maxBytes} bytes (limits.maxBytes).`);
  }
}

/**
 * The element count of `shape`, checking that every dimension is a non-negative safe
 * integer and that the product stays within `maxElements` (no overflow). Returns a message
 * describing the problem instead of a count when the shape is not acceptable.
 */
export function shapeSize(shape: readonly unknown[], maxElements: number): number | string {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return `dimension ${String(d)} is not a non-negative integer`;
    n *= d;
    if (n > maxElements) return `shape [${shape.join(', ')}] has more than ${maxElements} elements`;
  }
  return n;
}

/** Sets `obj[key] = value` as an own data property, so a key such as `__proto__` stays a plain key. */
export function defineKey<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
