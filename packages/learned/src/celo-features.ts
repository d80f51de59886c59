import * as tf from '@tensorflow/tfjs-core';
import { updateFactored, updateMomentum, updateRms, type FactoredSlot } from './common.js';

/** The accumulator decays of Celo and Celo2, as constant `[K]` tensors. */
export interface CeloDecays {
  /** Momentum decays `[Km]`. */
  readonly mom: tf.Tensor1D;
  /** Second-moment decays `[Kr]`. */
  readonly rms: tf.Tensor1D;
  /** Factored decays `[Kf]`. */
  readonly fac: tf.Tensor1D;
}

/** Which reference's feature and normalization variant (ALGORITHMS.md 1.3, 1.4). */
export type CeloVariant = 'celo' | 'celo2';

/** Per-tensor accumulators before or after a step (decay-first layout `[K, ...shape]`). */
export interface CeloSlot {
  /** Momenta `[Km, ...shape]`. */
  readonly m: tf.Tensor;
  /** Second moment `[Kr, ...shape]`. */
  readonly rms: tf.Tensor;
  /** Factored accumulators. */
  readonly fac: FactoredSlot;
}

/** What {@link celoFeatures} returns for one tensor. */
export interface CeloFeatures extends CeloSlot {
  /** The raw feature channels `[F, ...shape]` in the order of the first-layer weight groups. */
  readonly x: tf.Tensor;
}

/**
 * Widths of the 14 input groups (the rows of `w0__0 .. w0__13`) for `km` momenta, `kr`
 * second moments and `kf` factored decays: `[1, 1, 1, km, kr, km, kr, kf, kr, kf, kf, kf, kf, kf]`.
 */
export function celoGroupWidths(km: number, kr: number, kf: number): number[] {
  return [1, 1, 1, km, kr, km, kr, kf, kr, kf, kf, kf, kf, kf];
}

/** Rank-0 tensors are treated as shape `[1]` (the references do). */
export function asAtLeast1d(x: tf.Tensor): tf.Tensor {
  return x.rank === 0 ? tf.reshape(x, [1]) : x;
}

/** Broadcasts `[K, ...]` to `[K, ...shape]`. */
function full(x: tf.Tensor, k: number, shape: readonly number[]): tf.Tensor {
  return tf.add(x, tf.zeros([k, ...shape]));
}

/** Groups 9-13 for a factored (rank >= 2) tensor. */
function factoredGroups(m: tf.Tensor, fu: ReturnType<typeof updateFactored>, kf: number, shape: readonly number[]): tf.Tensor[] {
  const rowB = full(fu.rowB as tf.Tensor, kf, shape);
  const colB = full(fu.colB as tf.Tensor, kf, shape);
  const facMom = tf.mul(tf.mul(m, fu.rowFactor as tf.Tensor), fu.colFactor as tf.Tensor);
  return [rowB, colB, tf.rsqrt(tf.add(rowB, 1e-8)), tf.rsqrt(tf.add(colB, 1e-8)), facMom];
}

/** Groups 9-13 for a rank-1 tensor in Celo (the full accumulator twice, no floor in the last). */
function unfactoredGroups(m: tf.Tensor, v: tf.Tensor): tf.Tensor[] {
  const rs = tf.rsqrt(tf.add(v, 1e-8));
  return [v, v, rs, rs, tf.mul(m, tf.rsqrt(v))];
}

/**
 * Updates the accumulators of one tensor with its (clipped) gradient and builds the raw
 * per-element features of Celo / Celo2 (ALGORITHMS.md 1.2, 1.3): `g`, `clip(g, ±0.1)`, `p`,
 * momenta, second moment, `m * r`, `r`, factored gradients, `g * r`, and for rank >= 2 the
 * factored accumulators, their rsqrt and the factored momenta. Below rank 2, Celo builds
 * groups 9-13 from the full accumulator; Celo2 omits them. `p` and `g` must have rank >= 1.
 */
export function celoFeatures(p: tf.Tensor, g: tf.Tensor, prev: CeloSlot, decays: CeloDecays, variant: CeloVariant): CeloFeatures {
  const shape = p.shape;
  const km = decays.mom.size;
  const kr = decays.rms.size;
  const kf = decays.fac.size;
  const m = updateMomentum(prev.m, g, decays.mom);
  const rms = updateRms(prev.rms, g, decays.rms);
  const fu = updateFactored(prev.fac, g, decays.fac);
  const r = tf.rsqrt(tf.add(rms, variant === 'celo' ? 1e-6 : 1e-8));
  const g1 = tf.expandDims(g, 0);
  const groups: tf.Tensor[] = [g1, tf.clipByValue(g1, -0.1, 0.1), tf.expandDims(p, 0), m, rms, full(tf.mul(m, r), km, shape), r, fu.facG, full(tf.mul(g1, r), kr, shape)];
  if (p.rank >= 2) groups.push(...factoredGroups(m, fu, kf, shape));
  else if (variant === 'celo') groups.push(...unfactoredGroups(m, (fu.slot as { diag: tf.Tensor }).diag));
  return { m, rms, fac: fu.slot, x: tf.concat(groups, 0) };
}

/**
 * Second-moment normalization of the feature channels `[F, ...shape]` (ALGORITHMS.md 1.4):
 * Celo divides each channel by its RMS over the whole tensor (eps 1e-5); Celo2 over the
 * last two axes (the only one for rank 1; eps 1e-9), so each leading index of a rank >= 3
 * tensor gets its own scale.
 */
export function celoNormalize(x: tf.Tensor, variant: CeloVariant): tf.Tensor {
  const rank = x.rank - 1;
  const axes = variant === 'celo' ? Array.from({ length: rank }, (_, i) => i + 1) : rank >= 2 ? [x.rank - 2, x.rank - 1] : [x.rank - 1];
  const eps = variant === 'celo' ? 1e-5 : 1e-9;
  return tf.mul(x, tf.rsqrt(tf.add(eps, tf.mean(tf.square(x), axes, true))));
}
