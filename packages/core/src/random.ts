import * as tf from '@tensorflow/tfjs-core';
import { requireBackend } from './backend-check.js';
import { LoptError } from './errors.js';
import { checkNumber } from './validate.js';

/** A tensor from host-generated samples; names `where` if no backend is registered. */
function hostTensor(where: string, values: tf.TypedArray, shape: readonly number[], dtype: 'float32' | 'bool' | 'int32'): tf.Tensor {
  requireBackend(where);
  return tf.tensor(values, [...shape], dtype);
}

/**
 * A counter-based PRNG key (Threefry-2x32, as in JAX): two 32-bit words. Keys are
 * immutable values; the same key always yields the same numbers, on every backend,
 * because samples are generated on the host. Derive new keys with {@link split} and
 * {@link foldIn}; never reuse a key for two different purposes.
 */
export interface Key {
  readonly k0: number;
  readonly k1: number;
}

const ROT = [13, 15, 26, 6, 17, 29, 16, 24] as const;

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/**
 * The Threefry-2x32 block cipher with 20 rounds (Salmon et al. 2011), exactly as JAX's
 * `threefry2x32`. Encrypts `count0[i], count1[i]` under the key; writes into `out0`, `out1`.
 * @internal exported for tests against published test vectors.
 */
export function threefry2x32(
  k0: number,
  k1: number,
  x0in: Uint32Array,
  x1in: Uint32Array,
  out0: Uint32Array,
  out1: Uint32Array,
): void {
  const ks0 = k0 >>> 0;
  const ks1 = k1 >>> 0;
  const ks2 = (ks0 ^ ks1 ^ 0x1bd11bda) >>> 0;
  const ks = [ks0, ks1, ks2];
  for (let i = 0; i < x0in.length; i++) {
    let x0 = ((x0in[i] as number) + ks0) >>> 0;
    let x1 = ((x1in[i] as number) + ks1) >>> 0;
    for (let block = 0; block < 5; block++) {
      const base = (block & 1) * 4;
      for (let r = 0; r < 4; r++) {
        x0 = (x0 + x1) >>> 0;
        x1 = rotl(x1, ROT[base + r] as number);
        x1 = (x1 ^ x0) >>> 0;
      }
      const s = block + 1;
      x0 = (x0 + (ks[s % 3] as number)) >>> 0;
      x1 = (x1 + (ks[(s + 1) % 3] as number) + s) >>> 0;
    }
    out0[i] = x0;
    out1[i] = x1;
  }
}

/** Threefry applied to a flat counter array as JAX does (halves as the two words, odd length padded). */
function threefryCounts(key: Key, counts: Uint32Array): Uint32Array {
  const n = counts.length;
  const padded = n % 2 === 1 ? n + 1 : n;
  const half = padded / 2;
  const x = new Uint32Array(padded);
  x.set(counts);
  const out = new Uint32Array(padded);
  threefry2x32(key.k0, key.k1, x.subarray(0, half), x.subarray(half), out.subarray(0, half), out.subarray(half));
  return n === padded ? out : out.subarray(0, n);
}

function iota(n: number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

function makeKey(k0: number, k1: number): Key {
  return Object.freeze({ k0: k0 >>> 0, k1: k1 >>> 0 });
}

/**
 * A key from an integer seed (0 <= seed < 2^53), laid out as JAX's `PRNGKey(seed)`:
 * high 32 bits, low 32 bits.
 */
export function key(seed: number): Key {
  checkNumber('seed', seed, { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
  return makeKey(Math.floor(seed / 2 ** 32), seed % 2 ** 32);
}

/** True when `value` is a {@link Key}. */
export function isKey(value: unknown): value is Key {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<Key>;
  return (
    typeof v.k0 === 'number' && typeof v.k1 === 'number' && Number.isInteger(v.k0) && Number.isInteger(v.k1) &&
    v.k0 >= 0 && v.k0 < 2 ** 32 && v.k1 >= 0 && v.k1 < 2 ** 32
  );
}

function checkKey(k: unknown, option = 'key'): Key {
  if (!isKey(k)) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be a PRNG key made by key(seed), split or foldIn.`, { option });
  }
  return k;
}

/** Splits a key into `n` independent keys (JAX's `random.split`). */
export function split(k: Key, n = 2): Key[] {
  checkKey(k);
  checkNumber('n', n, { integer: true, min: 1 });
  const bits = threefryCounts(k, iota(2 * n));
  const keys: Key[] = [];
  for (let i = 0; i < n; i++) keys.push(makeKey(bits[2 * i] as number, bits[2 * i + 1] as number));
  return keys;
}

/** Derives a key from `k` and an integer `data` (JAX's `random.fold_in`): a key per step, per task, per worker. */
export function foldIn(k: Key, data: number): Key {
  checkKey(k);
  checkNumber('data', data, { integer: true, min: 0, max: 2 ** 32 - 1 });
  const bits = threefryCounts(k, new Uint32Array([0, data >>> 0]));
  return makeKey(bits[0] as number, bits[1] as number);
}

/** `n` raw random 32-bit words for a key (JAX's `random.bits` for uint32). */
export function randomBits(k: Key, n: number): Uint32Array {
  checkKey(k);
  checkNumber('n', n, { integer: true, min: 0 });
  return threefryCounts(k, iota(n));
}

/** The key as JSON-friendly data `[k0, k1]` (for checkpoints). */
export function keyToJSON(k: Key): [number, number] {
  checkKey(k);
  return [k.k0, k.k1];
}

/** Rebuilds a key from {@link keyToJSON} output; validates it. */
export function keyFromJSON(data: unknown): Key {
  if (!Array.isArray(data) || data.length !== 2) {
    throw new LoptError('INVALID_OPTION', `A serialized key must be an array [k0, k1] of two uint32 values, got ${JSON.stringify(data)}.`, { option: 'key' });
  }
  return checkKey({ k0: data[0], k1: data[1] });
}

type Shape = readonly number[];

function sizeOf(shape: Shape, option = 'shape'): number {
  if (!Array.isArray(shape)) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be an array of non-negative integers.`, { option });
  }
  let n = 1;
  for (const d of shape) {
    checkNumber(option, d, { integer: true, min: 0 });
    n *= d;
  }
  return n;
}

/** Uniform floats in [0, 1) with 23 random mantissa bits (exact in float32, never 1). */
function unitFloats(k: Key, n: number): Float64Array {
  const bits = randomBits(k, n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = ((bits[i] as number) >>> 9) * 2 ** -23;
  return out;
}

/** Standard normal samples in float64, by Box-Muller on 32-bit uniforms. */
export function normalArray(k: Key, n: number): Float64Array {
  checkKey(k);
  checkNumber('n', n, { integer: true, min: 0 });
  const pairs = Math.ceil(n / 2);
  const bits = randomBits(k, 2 * pairs);
  const out = new Float64Array(n);
  for (let i = 0; i < pairs; i++) {
    const u1 = ((bits[i] as number) + 0.5) / 2 ** 32; // (0, 1): log is finite
    const u2 = (bits[pairs + i] as number) / 2 ** 32;
    const r = Math.sqrt(-2 * Math.log(u1));
    const a = 2 * Math.PI * u2;
    out[2 * i] = r * Math.cos(a);
    if (2 * i + 1 < n) out[2 * i + 1] = r * Math.sin(a);
  }
  return out;
}

/** Options of {@link normal}. */
export interface NormalOptions {
  /** Mean. Default 0. */
  readonly mean?: number;
  /** Standard deviation (>= 0). Default 1. */
  readonly std?: number;
  /** Output dtype. Default `float32`. */
  readonly dtype?: 'float32';
}

/** A tensor of normal samples with the given shape, generated on the host from `k`. */
export function normal(k: Key, shape: Shape, options: NormalOptions = {}): tf.Tensor {
  const mean = checkNumber('mean', options.mean ?? 0);
  const std = checkNumber('std', options.std ?? 1, { min: 0 });
  const n = sizeOf(shape);
  const z = normalArray(k, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * (z[i] as number);
  return hostTensor('normal', out, [...shape], 'float32');
}

/** Options of {@link truncatedNormal}. */
export interface TruncatedNormalOptions {
  /** Lower bound in standard deviations. Default -2. */
  readonly lower?: number;
  /** Upper bound in standard deviations. Default 2. */
  readonly upper?: number;
  /** Standard deviation of the untruncated distribution. Default 1. */
  readonly std?: number;
}

/**
 * Normal samples restricted to `[lower, upper]` (in units of std), by rejection on a
 * deterministic stream of keys: the initializer of the learned-optimization reference.
 */
export function truncatedNormal(k: Key, shape: Shape, options: TruncatedNormalOptions = {}): tf.Tensor {
  const lower = checkNumber('lower', options.lower ?? -2);
  const upper = checkNumber('upper', options.upper ?? 2, { greaterThan: lower });
  const std = checkNumber('std', options.std ?? 1, { min: 0 });
  const n = sizeOf(shape);
  const out = new Float32Array(n);
  let filled = 0;
  for (let round = 0; filled < n; round++) {
    if (round > 10_000) {
      throw new LoptError('INVALID_OPTION', `truncatedNormal bounds [${lower}, ${upper}] accept too few samples.`, { option: 'lower' });
    }
    const z = normalArray(foldIn(k, round), Math.max(64, 2 * (n - filled)));
    for (let i = 0; i < z.length && filled < n; i++) {
      const v = z[i] as number;
      if (v >= lower && v <= upper) out[filled++] = std * v;
    }
  }
  return hostTensor('truncatedNormal', out, [...shape], 'float32');
}

/** Options of {@link uniform}. */
export interface UniformOptions {
  /** Inclusive lower bound. Default 0. */
  readonly low?: number;
  /** Exclusive upper bound. Default 1. */
  readonly high?: number;
}

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);
/** The largest float32 strictly below `x` (for x > 0 or x <= 0 alike). */
function prevFloat32(x: number): number {
  f32[0] = x;
  if (x === 0) return -(2 ** -149);
  i32[0] = (i32[0] as number) + (x > 0 ? -1 : 1);
  return f32[0] as number;
}

/** Uniform float32 samples in `[low, high)` generated on the host from `k`. */
export function uniform(k: Key, shape: Shape, options: UniformOptions = {}): tf.Tensor {
  const low = checkNumber('low', options.low ?? 0);
  const high = checkNumber('high', options.high ?? 1, { greaterThan: low });
  const n = sizeOf(shape);
  const u = unitFloats(checkKey(k), n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Math.fround(low + (high - low) * (u[i] as number));
    out[i] = v < high ? v : prevFloat32(high);
  }
  return hostTensor('uniform', out, [...shape], 'float32');
}

/** Uniform floats in [0, 1) as a float64 array (host-side; for sampling configs and batches). */
export function uniformArray(k: Key, n: number): Float64Array {
  return unitFloats(checkKey(k), n);
}

/** Bernoulli samples (`true` with probability `p`) as a bool tensor. */
export function bernoulli(k: Key, p: number, shape: Shape): tf.Tensor {
  checkNumber('p', p, { min: 0, max: 1 });
  const n = sizeOf(shape);
  const u = unitFloats(checkKey(k), n);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (u[i] as number) < p ? 1 : 0;
  return hostTensor('bernoulli', out, [...shape], 'bool');
}

/** Uniform integers in `[low, high)` as an Int32Array (host-side). Bias is below `range / 2^53`. */
export function randintArray(k: Key, n: number, low: number, high: number): Int32Array {
  checkNumber('low', low, { integer: true, min: -(2 ** 31) });
  checkNumber('high', high, { integer: true, greaterThan: low, max: 2 ** 31 });
  const range = high - low;
  const bits = randomBits(checkKey(k), 2 * n);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    // 53 random bits from two words -> a double in [0, 1).
    const u = ((bits[i] as number) * 2 ** 21 + ((bits[n + i] as number) >>> 11)) / 2 ** 53;
    out[i] = low + Math.floor(u * range);
  }
  return out;
}

/** Uniform integers in `[low, high)` as an int32 tensor. */
export function randint(k: Key, shape: Shape, options: { low?: number; high: number }): tf.Tensor {
  const n = sizeOf(shape);
  return hostTensor('randint', randintArray(k, n, options.low ?? 0, options.high), [...shape], 'int32');
}

/** A uniformly random permutation of `0..n-1` (Fisher-Yates on host random bits). */
export function permutation(k: Key, n: number): Int32Array {
  checkNumber('n', n, { integer: true, min: 0 });
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const u = unitFloats(checkKey(k), n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((u[i] as number) * (i + 1));
    const t = perm[i] as number;
    perm[i] = perm[j] as number;
    perm[j] = t;
  }
  return perm;
}
