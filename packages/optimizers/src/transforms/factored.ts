import * as tf from '@tensorflow/tfjs-core';
import { LoptError, treeMap, treeMapWithPath, type GradientTransformation, type TensorTree } from '@lopt/core';
import { checkBoolean, checkHyper, checkKnownOptions, counter, readCount, type Hyper } from '../hyper.js';
import type { EmptyState } from '../transformation.js';

/** Options of {@link scaleByFactoredRms} (optax defaults). */
export interface ScaleByFactoredRmsOptions {
  /** Factor the second moment of matrices (Adafactor); false keeps a full second moment. Default true. */
  readonly factored?: boolean;
  /** Exponent of the decay schedule `1 - (t + 1)^(-decayRate)`. Default 0.8. */
  readonly decayRate?: number;
  /** Steps to subtract from the count in the decay schedule. Default 0. */
  readonly stepOffset?: number;
  /** Factor only leaves whose second-largest dimension is at least this. Default 128. */
  readonly minDimSizeToFactor?: number;
  /** Added to the squared gradients. Default 1e-30. */
  readonly epsilon?: number;
}

/**
 * Per-leaf state of {@link scaleByFactoredRms}: row and column statistics for a factored
 * leaf (`v` is a `[1]` placeholder), or the full statistic `v` (row/column are placeholders).
 */
export type FactoredLeafState = { vRow: tf.Tensor; vCol: tf.Tensor; v: tf.Tensor };
/** State of {@link scaleByFactoredRms}: counter and a {@link FactoredLeafState} per parameter. */
export type ScaleByFactoredRmsState = { count: tf.Scalar; leaves: { [path: string]: FactoredLeafState } };

/** The two dimensions to factor (second-largest, largest), or undefined (as optax `_factored_dims`). */
export function factoredDims(shape: readonly number[], factored: boolean, minDim: number): [number, number] | undefined {
  if (!factored || shape.length < 2) return undefined;
  // stable argsort, as numpy's argsort on small arrays
  const sorted = shape.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const d1 = (sorted[sorted.length - 2] as readonly [number, number])[1];
  const d0 = (sorted[sorted.length - 1] as readonly [number, number])[1];
  if ((shape[d1] as number) < minDim) return undefined;
  return [d1, d0];
}

/**
 * Adafactor's factored second-moment scaling (Shazeer & Stern 2018; optax
 * `scale_by_factored_rms`). With `beta_t = 1 - (t+1)^(-decayRate)` (t counted from 0, so
 * the first step uses the fresh statistics), for a leaf factored over dims (d1, d0):
 * `vRow = beta vRow + (1-beta) mean_{d0}(g^2 + eps)`, `vCol = beta vCol + (1-beta) mean_{d1}(g^2 + eps)`,
 * `u = g * (vRow / mean(vRow))^(-1/2) * vCol^(-1/2)`; other leaves use a full
 * `v = beta v + (1-beta)(g^2 + eps)`, `u = g v^(-1/2)`. State is keyed by leaf path.
 */
export function scaleByFactoredRms(options: ScaleByFactoredRmsOptions = {}): GradientTransformation<ScaleByFactoredRmsState> {
  checkKnownOptions('scaleByFactoredRms', options, ['factored', 'decayRate', 'stepOffset', 'minDimSizeToFactor', 'epsilon']);
  const factored = checkBoolean('factored', options.factored, true);
  const decayRate = checkHyper('decayRate', options.decayRate ?? 0.8, { min: 0 }) as number;
  const stepOffset = checkHyper('stepOffset', options.stepOffset ?? 0, { min: 0, integer: true }) as number;
  const minDim = checkHyper('minDimSizeToFactor', options.minDimSizeToFactor ?? 128, { min: 1, integer: true }) as number;
  const eps = checkHyper('epsilon', options.epsilon ?? 1e-30, { min: 0 }) as number;
  const placeholder = () => tf.zeros([1]);
  return {
    init(params) {
      const leaves: { [path: string]: FactoredLeafState } = {};
      treeMapWithPath((path, p) => {
        const dims = factoredDims(p.shape, factored, minDim);
        if (dims) {
          const [d1, d0] = dims;
          leaves[path] = {
            vRow: tf.zeros(p.shape.filter((_, i) => i !== d0)),
            vCol: tf.zeros(p.shape.filter((_, i) => i !== d1)),
            v: placeholder(),
          };
        } else {
          leaves[path] = { vRow: placeholder(), vCol: placeholder(), v: tf.zeros(p.shape) };
        }
        return p;
      }, params);
      return { count: counter(0), leaves };
    },
    update(updates, state) {
      const step = readCount(state.count);
      const t = step - stepOffset + 1;
      const beta = 1 - t ** -decayRate;
      const leaves: { [path: string]: FactoredLeafState } = {};
      const out = treeMapWithPath((path, g) => {
        const s = state.leaves[path];
        if (!s) throw new LoptError('TREE_MISMATCH', `Adafactor state has no entry for '${path}'.`, { path });
        const g2 = tf.add(tf.square(g), eps);
        const dims = factoredDims(g.shape, factored, minDim);
        if (dims) {
          const [d1, d0] = dims;
          const vRow = tf.add(tf.mul(beta, s.vRow), tf.mul(1 - beta, tf.mean(g2, d0)));
          const vCol = tf.add(tf.mul(beta, s.vCol), tf.mul(1 - beta, tf.mean(g2, d1)));
          const reducedD1 = d1 > d0 ? d1 - 1 : d1;
          const rowFactor = tf.rsqrt(tf.div(vRow, tf.mean(vRow, reducedD1, true)));
          const colFactor = tf.rsqrt(vCol);
          leaves[path] = { vRow, vCol, v: s.v };
          return tf.mul(tf.mul(g, tf.expandDims(rowFactor, d0)), tf.expandDims(colFactor, d1));
        }
        const v = tf.add(tf.mul(beta, s.v), tf.mul(1 - beta, g2));
        leaves[path] = { vRow: s.vRow, vCol: s.vCol, v };
        return tf.mul(g, tf.rsqrt(v));
      }, updates);
      return { updates: out, state: { count: counter(step + 1), leaves } };
    },
  };
}

/**
 * Divides each leaf's update by `max(1, rms(u) / threshold)` (optax `clip_by_block_rms`,
 * Adafactor's update clipping).
 */
export function clipByBlockRms(threshold: Hyper): GradientTransformation<EmptyState> {
  const th = checkHyper('clippingThreshold', threshold, { greaterThan: 0 });
  return {
    init: () => ({}),
    update: (updates, state) => ({
      updates: treeMap((u) => tf.div(u, tf.maximum(1, tf.div(tf.sqrt(tf.mean(tf.square(u))), th))), updates),
      state,
    }),
  };
}

/**
 * Multiplies each leaf's update by `max(rms(param), minScale)` (optax
 * `scale_by_param_block_rms`, Adafactor's relative step size).
 */
export function scaleByParamBlockRms(minScale: Hyper = 1e-3): GradientTransformation<EmptyState> {
  const ms = checkHyper('minScale', minScale, { min: 0 });
  return {
    init: () => ({}),
    update: (updates, state, params) => ({
      updates: treeMap((u, p) => tf.mul(u, tf.maximum(tf.sqrt(tf.mean(tf.square(p))), ms)), updates, params),
      state,
    }),
  };
}

/** Options of {@link emaTransform}. */
export interface EmaOptions {
  /** Divide by `1 - decay^t`. Default false (as Adafactor's momentum). */
  readonly debias?: boolean;
}

/** State of {@link emaTransform}: counter and the average. */
export type EmaState = { count: tf.Scalar; ema: TensorTree };

/** Exponential moving average of the updates (optax `ema`): `e = decay e + (1-decay) u`. */
export function emaTransform(decay: Hyper, options: EmaOptions = {}): GradientTransformation<EmaState> {
  const d = checkHyper('momentum', decay, { min: 0, lessThan: 1 });
  const debias = checkBoolean('debias', options.debias, false);
  return {
    init: (params) => ({ count: counter(0), ema: treeMap((p) => tf.zerosLike(p), params) }),
    update(updates, state) {
      const t = readCount(state.count) + 1;
      const e = treeMap((u, m) => tf.add(tf.mul(tf.sub(1, d), u), tf.mul(d, m)), updates, state.ema);
      const out = debias ? treeMap((m) => tf.div(m, tf.sub(1, tf.pow(d, t))), e) : e;
      return { updates: out, state: { count: counter(t), ema: e } };
    },
  };
}
