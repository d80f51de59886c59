import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  assertSameStructure,
  checkNumber,
  isTensor,
  split,
  treeLeaves,
  treePaths,
  truncatedNormal,
  type Key,
  type TensorTree,
  type UpdateContext,
} from '@lopt/core';

// Option checks shared by every package live in core; re-exported for this package's modules.
export { checkBoolean as checkBool, checkKnownKeys as checkKnownOptions, isTapeRecording } from '@lopt/core';

/** The 11 timescales of the step embeddings of learned_optimization (`1, 3, 10, ... 1e5`). */
export const TIMESCALES: readonly number[] = [1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000];

/**
 * `tanh(t / tau - 1)` for each of the 11 {@link TIMESCALES}: the training-step features
 * of MLPLOpt and AdafacMLPLOpt. Plain numbers (the step count is not differentiated).
 */
export function tanhEmbedding(iteration: number): number[] {
  return TIMESCALES.map((tau) => Math.tanh(Math.fround(iteration / tau) - 1));
}

/** `sin(t / (tau * pi))` for each of the 11 {@link TIMESCALES}: the step features of RNNMLPLOpt. */
export function sinEmbedding(iteration: number): number[] {
  return TIMESCALES.map((tau) => Math.sin(iteration / (tau * Math.PI)));
}

/**
 * Normalizes each feature row of `x` (shape `[F, N]`) by its root mean square over the
 * tensor: `x * rsqrt(eps + mean(x^2))`, eps = 1e-5 (the reference's `second_moment_normalizer`).
 */
export function secondMomentNormalize(x: tf.Tensor2D, eps = 1e-5): tf.Tensor2D {
  return tf.mul(x, tf.rsqrt(tf.add(eps, tf.mean(tf.square(x), 1, true))));
}

/** `rsqrt(max(x, 1e-9))`, the reference's `safe_rsqrt`. */
export function safeRsqrt(x: tf.Tensor): tf.Tensor {
  return tf.rsqrt(tf.maximum(x, 1e-9));
}

/**
 * The two axes a factored (Adafactor-style) accumulator reduces over, or null for rank < 2:
 * `[d1, d0]` with `d0` the largest axis and `d1` the second largest (stable argsort, as
 * numpy's `argsort`, so ties pick the later axis as `d0`).
 */
export function factoredDims(shape: readonly number[]): [number, number] | null {
  if (shape.length < 2) return null;
  const order = shape.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return [(order[order.length - 2] as readonly [number, number])[1], (order[order.length - 1] as readonly [number, number])[1]];
}

/** `log(1 - d) / 10`: the space AdafacMLPLOpt learns accumulator decays in. */
export function decayToParam(d: number): number {
  return Math.log(1 - d) / 10;
}

/**
 * Decays as a `[K]` tensor: `1 - exp(10 * (decayToParam(initial) + offset))`, where
 * `offset` is the learned meta-parameter (zero at initialization).
 */
export function paramToDecay(initial: readonly number[], offset: tf.Tensor): tf.Tensor1D {
  return tf.sub(1, tf.exp(tf.mul(10, tf.add(tf.tensor1d(initial.map(decayToParam)), offset)))) as tf.Tensor1D;
}

/** Reshapes a `[K]` tensor to `[K, 1, ..., 1]` so it broadcasts over a `[K, ...shape]` tensor. */
export function perDecay(d: tf.Tensor, rank: number): tf.Tensor {
  return tf.reshape(d, [d.size, ...new Array<number>(rank).fill(1)]);
}

/**
 * Momentum accumulators at K decays, decay-first layout `[K, ...shape]`:
 * `m <- d * m + (1 - d) * g` (the reference's `vec_rolling_mom`).
 */
export function updateMomentum(m: tf.Tensor, g: tf.Tensor, decays: tf.Tensor): tf.Tensor {
  const d = perDecay(decays, g.rank);
  return tf.add(tf.mul(d, m), tf.mul(tf.sub(1, d), tf.expandDims(g, 0)));
}

/**
 * Second-moment accumulators at K decays, layout `[K, ...shape]`:
 * `v <- c * v + (1 - c) * g^2` with `c = clip(d, 0, 1)` (the reference's `vec_rolling_rms`).
 */
export function updateRms(v: tf.Tensor, g: tf.Tensor, decays: tf.Tensor): tf.Tensor {
  const d = perDecay(tf.clipByValue(decays, 0, 1), g.rank);
  return tf.add(tf.mul(d, v), tf.mul(tf.sub(1, d), tf.expandDims(tf.square(g), 0)));
}

/** The state of a factored accumulator for one tensor: rows/cols (rank >= 2) or a full `v`. */
export type FactoredSlot = { row: tf.Tensor; col: tf.Tensor } | { diag: tf.Tensor };

/** Initial factored accumulator state (zeros) for a tensor of `shape` and K decays. */
export function initFactored(shape: readonly number[], k: number): FactoredSlot {
  const dims = factoredDims(shape);
  if (dims === null) return { diag: tf.zeros([k, ...shape]) };
  const [d1, d0] = dims;
  return {
    row: tf.zeros([k, ...shape.filter((_, i) => i !== d0)]),
    col: tf.zeros([k, ...shape.filter((_, i) => i !== d1)]),
  };
}

/** What {@link updateFactored} returns. */
export interface FactoredUpdate {
  /** The next accumulator state. */
  readonly slot: FactoredSlot;
  /** The factored-preconditioned gradient, `[K, ...shape]`. */
  readonly facG: tf.Tensor;
  /** Row factor broadcastable to `[K, ...shape]` (`safe_rsqrt(v_row / mean(v_row))`), or null when unfactored. */
  readonly rowFactor: tf.Tensor | null;
  /** Column factor broadcastable to `[K, ...shape]` (`safe_rsqrt(v_col)`), or null when unfactored. */
  readonly colFactor: tf.Tensor | null;
  /** Row accumulator broadcastable to `[K, ...shape]`, or null when unfactored. */
  readonly rowB: tf.Tensor | null;
  /** Column accumulator broadcastable to `[K, ...shape]`, or null when unfactored. */
  readonly colB: tf.Tensor | null;
}

/**
 * One step of the Adafactor-style accumulators of learned_optimization's `factored_rolling`
 * at K decays for one tensor (decay-first layout). For rank >= 2 it keeps EMAs of
 * `g^2 + 1e-30` averaged over the largest axis (`row`) and the second largest (`col`) and
 * returns `g * rsqrt(v_row / mean(v_row)) * rsqrt(v_col)`; below rank 2, a full EMA `v` and
 * `g * rsqrt(v + 1e-9)`.
 */
export function updateFactored(slot: FactoredSlot, g: tf.Tensor, decays: tf.Tensor): FactoredUpdate {
  const rank = g.rank;
  const c = tf.clipByValue(decays, 0, 1);
  const gs = tf.expandDims(tf.add(tf.square(g), 1e-30), 0);
  const dims = factoredDims(g.shape);
  if (dims === null || !('row' in slot)) {
    if ('row' in slot) throw new LoptError('INTERNAL', 'factored state for an unfactored tensor');
    const d = perDecay(c, rank);
    const v = tf.add(tf.mul(d, slot.diag), tf.mul(tf.sub(1, d), gs));
    return { slot: { diag: v }, facG: tf.mul(tf.expandDims(g, 0), safeRsqrt(tf.add(v, 1e-9))), rowFactor: null, colFactor: null, rowB: null, colB: null };
  }
  const [d1, d0] = dims;
  const dr = perDecay(c, rank - 1);
  const row = tf.add(tf.mul(dr, slot.row), tf.mul(tf.sub(1, dr), tf.mean(gs, d0 + 1)));
  const col = tf.add(tf.mul(dr, slot.col), tf.mul(tf.sub(1, dr), tf.mean(gs, d1 + 1)));
  const reducedD1 = d1 > d0 ? d1 - 1 : d1;
  const rowColMean = tf.mean(row, reducedD1 + 1, true);
  const rowFactor = tf.expandDims(safeRsqrt(tf.div(row, tf.add(rowColMean, 1e-9))), d0 + 1);
  const colFactor = tf.expandDims(safeRsqrt(col), d1 + 1);
  const facG = tf.mul(tf.mul(tf.expandDims(g, 0), rowFactor), colFactor);
  return {
    slot: { row, col },
    facG,
    rowFactor,
    colFactor,
    rowB: tf.expandDims(row, d0 + 1),
    colB: tf.expandDims(col, d1 + 1),
  };
}

/** Flattens `[K, ...shape]` (or broadcastable) to `[K, N]` after broadcasting to `[K, ...shape]`. */
export function asRows(x: tf.Tensor, k: number, shape: readonly number[]): tf.Tensor2D {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.reshape(tf.broadcastTo(x, [k, ...shape]), [k, n]);
}

/** A dense layer of a per-parameter MLP: `w` is `[in, out]`, `b` is `[out]` (haiku layout). */
export type DenseParams = {
  /** Weights `[in, out]`. */
  w: tf.Tensor2D;
  /** Biases `[out]`. */
  b: tf.Tensor1D;
};

/**
 * Haiku's default `Linear` initializer: weights from a normal truncated at two standard
 * deviations with std `1 / sqrt(fanIn)` (no variance correction), zero biases.
 */
export function initDense(k: Key, fanIn: number, fanOut: number, opts: { zeroWeights?: boolean } = {}): DenseParams {
  return {
    w: (opts.zeroWeights ? tf.zeros([fanIn, fanOut]) : truncatedNormal(k, [fanIn, fanOut], { std: 1 / Math.sqrt(fanIn) })) as tf.Tensor2D,
    b: tf.zeros([fanOut]) as tf.Tensor1D,
  };
}

/**
 * Initializes the layers of a per-parameter MLP in haiku's `hk.nets.MLP` layout: keys
 * `mlp/~/linear_i` for each output size in `sizes`, the first taking `inputs` features.
 */
export function initMlpLayers(k: Key, inputs: number, sizes: readonly number[]): Record<string, DenseParams> {
  const keys = split(k, sizes.length);
  const theta: Record<string, DenseParams> = {};
  let fanIn = inputs;
  sizes.forEach((out, i) => {
    theta[`mlp/~/linear_${i}`] = initDense(keys[i] as Key, fanIn, out);
    fanIn = out;
  });
  return theta;
}

/**
 * Applies an MLP to features in column layout: `x` is `[F, N]` (one column per parameter),
 * each layer computes `relu(w^T x + b)` with one matMul for all N parameters; the last
 * layer has no activation. Returns `[out, N]`. `firstBias` (optional, `[H0]`) replaces the
 * first layer's bias (used to fold constant features into it); the first layer then uses
 * only its first `F` rows.
 */
export function applyMlpColumns(layers: readonly DenseParams[], x: tf.Tensor2D, firstBias?: tf.Tensor): tf.Tensor2D {
  let h: tf.Tensor2D = x;
  layers.forEach((layer, i) => {
    const bias = i === 0 && firstBias !== undefined ? firstBias : layer.b;
    // With folded constant features, the first layer uses only the rows of the per-parameter ones.
    const w = layer.w.shape[0] > h.shape[0] ? tf.slice(layer.w, [0, 0], [h.shape[0], layer.w.shape[1]]) : layer.w;
    const z = tf.add(tf.matMul(w, h, true, false), tf.reshape(bias, [-1, 1])) as tf.Tensor2D;
    h = i === layers.length - 1 ? z : tf.relu(z);
  });
  return h;
}

/**
 * `w[rows]^T c + b`: the first-layer contribution of features that are constant over a
 * tensor (the step embedding), folded into the bias. `w` is `[in, out]`, `c` a plain array
 * of the constant features, `offset` the row of `w` where they start.
 */
export function foldConstantFeatures(layer: DenseParams, offset: number, c: readonly number[]): tf.Tensor1D {
  const wc = tf.slice(layer.w, [offset, 0], [c.length, layer.w.shape[1]]);
  return tf.add(layer.b, tf.reshape(tf.matMul(tf.tensor2d([c as number[]]), wc), [-1])) as tf.Tensor1D;
}

/** Haiku-style LSTM parameters: one linear map from `[x, h]` to the 4 gates (order i, g, f, o). */
export type LstmParams = {
  /** Weights `[in + hidden, 4 * hidden]`. */
  w: tf.Tensor2D;
  /** Biases `[4 * hidden]`. */
  b: tf.Tensor1D;
};

/** What an LSTM carries from one step to the next for `L` rows: hidden and cell, `[L, hidden]` each. */
export type LstmCarry = { hidden: tf.Tensor2D; cell: tf.Tensor2D };

/** Initializes a haiku `LSTM(hidden)` for `inputSize` inputs (truncated normal 1/sqrt(fan-in), zero bias). */
export function initLstm(k: Key, inputSize: number, hidden: number): LstmParams {
  const d = initDense(k, inputSize + hidden, 4 * hidden);
  return { w: d.w, b: d.b };
}

/**
 * One step of a haiku LSTM (gate order i, g, f, o; forget bias +1) on a batch:
 * `x` `[B, in]`, `h` and `c` `[B, hidden]`. Returns the next `h` (also the output) and `c`.
 */
export function lstmStep(p: LstmParams, x: tf.Tensor2D, h: tf.Tensor2D, c: tf.Tensor2D): { h: tf.Tensor2D; c: tf.Tensor2D } {
  const hidden = h.shape[1];
  const gates = tf.add(tf.matMul(tf.concat([x, h], 1), p.w), p.b);
  const [i, g, f, o] = tf.split(gates, [hidden, hidden, hidden, hidden], 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  const nextC = tf.add(tf.mul(tf.sigmoid(tf.add(f, 1)), c), tf.mul(tf.sigmoid(i), tf.tanh(g))) as tf.Tensor2D;
  const nextH = tf.mul(tf.sigmoid(o), tf.tanh(nextC)) as tf.Tensor2D;
  return { h: nextH, c: nextC };
}

/** Checks that `grads` has the structure and leaf shapes of `params`; throws naming the path. */
export function checkGrads(params: TensorTree, grads: TensorTree, name: string): void {
  assertSameStructure(params, grads, { names: ['params', 'grads'], checkShapes: true });
  const pl = treeLeaves(params);
  const gl = treeLeaves(grads);
  const paths = treePaths(params);
  pl.forEach((p, i) => {
    if ((gl[i] as tf.Tensor).dtype !== 'float32' || p.dtype !== 'float32') {
      throw new LoptError('SHAPE_MISMATCH', `${name}: params and grads must be float32 (at '${paths[i]}').`, { path: paths[i] ?? '' });
    }
  });
}

/** The loss of the update context as a scalar tensor; throws MISSING_CONTEXT naming the optimizer when absent. */
export function requireLoss(ctx: UpdateContext | undefined, name: string, why: string): tf.Scalar {
  const loss = ctx?.loss;
  if (loss === undefined || !isTensor(loss)) {
    throw new LoptError('MISSING_CONTEXT', `${name} needs the training loss in the update context (ctx.loss): ${why}.`);
  }
  return loss;
}

/** Validates a list of decays in (0, 1). */
export function checkDecays(option: string, value: unknown, allowEmpty = false): number[] {
  if (!Array.isArray(value) || (!allowEmpty && value.length === 0)) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be a non-empty array of numbers in [0, 1).`, { option });
  }
  return value.map((d, i) => checkNumber(`${option}[${i}]`, d, { min: 0, lessThan: 1 }));
}

/** Validates `opts.fused`. */
export type FusedMode = boolean | 'auto';

/** Checks the `fused` option. */
export function checkFused(value: unknown): FusedMode {
  if (value === undefined) return 'auto';
  if (value === true || value === false || value === 'auto') return value;
  throw new LoptError('INVALID_OPTION', `Option 'fused' must be true, false or 'auto', got ${JSON.stringify(value)}.`, { option: 'fused' });
}

/** Adam's decays `beta1`, `beta2` from options (defaults 0.9, 0.999; each in [0, 1)). */
export function checkAdamDecays(options: { readonly beta1?: number; readonly beta2?: number }): AdamDecays {
  return {
    beta1: checkNumber('beta1', options.beta1 ?? 0.9, { min: 0, lessThan: 1 }),
    beta2: checkNumber('beta2', options.beta2 ?? 0.999, { min: 0, lessThan: 1 }),
  };
}

/** Adam's two moment decays. */
export interface AdamDecays {
  readonly beta1: number;
  readonly beta2: number;
}
