import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, split, treeUnflatten, type Key, type OptState, type TreeDef } from '@lopt/core';
import {
  asRows,
  checkDecays,
  initDense,
  initFactored,
  paramToDecay,
  updateFactored,
  updateMomentum,
  updateRms,
  type DenseParams,
  type FactoredSlot,
} from './common.js';

/** Accumulator decays shared by AdafacMLPLOpt and MLPNomLOpt. */
export type AdafacDecayConfig = {
  /** Initial momentum decays. Default `[0.9, 0.99, 0.999]`. */
  readonly initialMomentumDecays: readonly number[];
  /** Initial second-moment decays. Default `[0.999]`. */
  readonly initialRmsDecays: readonly number[];
  /** Initial Adafactor-style (factored) decays. Default `[0.9, 0.99, 0.999]`. */
  readonly initialAdafactorDecays: readonly number[];
};

/** The meta-parameters of the Adafac family: learned decay offsets and the MLP (haiku names). */
export type AdafacTheta = {
  /** Offsets of the momentum decays in `log(1 - d) / 10` space (zeros at init). */
  momentum_decays: tf.Tensor1D;
  /** Offsets of the rms decays. */
  rms_decays: tf.Tensor1D;
  /** Offsets of the factored decays. */
  adafactor_decays: tf.Tensor1D;
  /** The MLP weights `w0, b0, w1, b1, ...` under haiku's top-level module name `~`. */
  nn: { '~': Record<string, tf.Tensor> };
};

/** Per-leaf accumulator state of the Adafac family (params leaf order). */
export type AdafacState = {
  /** Momenta `[Km, ...shape]`. */
  mom: tf.Tensor[];
  /** Second moments `[Kr, ...shape]`. */
  rms: tf.Tensor[];
  /** Factored accumulators: `{row, col}` (rank >= 2) or `{diag}` `[Kf, ...shape]`. */
  fac: FactoredSlot[];
};

/** The hyperparameter leaves of the Adafac family's theta: the accumulator-decay offsets. */
export const ADAFAC_HYPERPARAMETER_PATHS: readonly string[] = Object.freeze(['adafactor_decays', 'momentum_decays', 'rms_decays']);

/** Number of step-embedding features. */
export const TIME_FEATURES = 11;

/** One tensor's accumulators in an {@link AdafacState}. */
export type AdafacSlot = { m: tf.Tensor; rms: tf.Tensor; fac: FactoredSlot };

/** Tensor `i`'s accumulators. */
export function adafacSlot(state: AdafacState, i: number): AdafacSlot {
  return { m: state.mom[i] as tf.Tensor, rms: state.rms[i] as tf.Tensor, fac: state.fac[i] as FactoredSlot };
}

/** The next optimizer state from per-tensor results (new tensor and accumulators), in params leaf order. */
export function adafacStepResult(structure: TreeDef, out: readonly (AdafacSlot & { p: tf.Tensor })[], iteration: number): OptState {
  return {
    params: treeUnflatten(structure, out.map((o) => o.p)),
    state: { mom: out.map((o) => o.m), rms: out.map((o) => o.rms), fac: out.map((o) => o.fac) },
    iteration: iteration + 1,
  };
}

/** Validates the decay options and returns them with defaults. */
export function adafacDecayConfig(options: Partial<AdafacDecayConfig>): AdafacDecayConfig {
  const cfg: AdafacDecayConfig = {
    initialMomentumDecays: checkDecays('initialMomentumDecays', options.initialMomentumDecays ?? [0.9, 0.99, 0.999]),
    initialRmsDecays: checkDecays('initialRmsDecays', options.initialRmsDecays ?? [0.999]),
    initialAdafactorDecays: checkDecays('initialAdafactorDecays', options.initialAdafactorDecays ?? [0.9, 0.99, 0.999]),
  };
  const km = cfg.initialMomentumDecays.length;
  if (cfg.initialAdafactorDecays.length !== km) {
    throw new LoptError('INVALID_OPTION', `Option 'initialAdafactorDecays' must have as many entries as 'initialMomentumDecays' (${km}): the factored momentum features pair them up.`, {
      option: 'initialAdafactorDecays',
    });
  }
  const kr = cfg.initialRmsDecays.length;
  if (kr !== 1 && kr !== km) {
    throw new LoptError('INVALID_OPTION', `Option 'initialRmsDecays' must have 1 or ${km} entries (it broadcasts against the momenta).`, { option: 'initialRmsDecays' });
  }
  return cfg;
}

/** Number of normalized per-parameter features: `2 + 2*Km + 2*Kr + 6*Kf` (28 by default). */
export function adafacFeatureCount(cfg: AdafacDecayConfig): number {
  return 2 + 2 * cfg.initialMomentumDecays.length + 2 * cfg.initialRmsDecays.length + 6 * cfg.initialAdafactorDecays.length;
}

/**
 * Initial theta: zero decay offsets and a truncated-normal (1/sqrt(fan-in)) MLP with zero
 * biases; with `zeroOutput` the output layer's weights are zero too (the untrained
 * optimizer then takes no steps).
 */
export function initAdafacTheta(key: Key, cfg: AdafacDecayConfig, hiddenSize: number, hiddenLayers: number, outputs: number, zeroOutput = false): AdafacTheta {
  const sizes = [...new Array<number>(hiddenLayers).fill(hiddenSize), outputs];
  const keys = split(key, sizes.length);
  const nn: Record<string, tf.Tensor> = {};
  let fanIn = adafacFeatureCount(cfg) + TIME_FEATURES;
  sizes.forEach((out, i) => {
    const d = initDense(keys[i] as Key, fanIn, out, { zeroWeights: zeroOutput && i === sizes.length - 1 });
    nn[`w${i}`] = d.w;
    nn[`b${i}`] = d.b;
    fanIn = out;
  });
  return {
    momentum_decays: tf.zeros([cfg.initialMomentumDecays.length]),
    rms_decays: tf.zeros([cfg.initialRmsDecays.length]),
    adafactor_decays: tf.zeros([cfg.initialAdafactorDecays.length]),
    nn: { '~': nn },
  };
}

/** The MLP layers of an Adafac theta. */
export function adafacLayers(theta: AdafacTheta, count: number): DenseParams[] {
  const nn = theta.nn['~'];
  return Array.from({ length: count }, (_, i) => ({ w: nn[`w${i}`] as tf.Tensor2D, b: nn[`b${i}`] as tf.Tensor1D }));
}

/** Initial Adafac state for the leaves of params. */
export function initAdafacState(leaves: readonly tf.Tensor[], cfg: AdafacDecayConfig): AdafacState {
  return {
    mom: leaves.map((p) => tf.zeros([cfg.initialMomentumDecays.length, ...p.shape])),
    rms: leaves.map((p) => tf.zeros([cfg.initialRmsDecays.length, ...p.shape])),
    fac: leaves.map((p) => initFactored(p.shape, cfg.initialAdafactorDecays.length)),
  };
}

/** The current decays (tensors, differentiable in theta). */
export interface AdafacDecays {
  /** Momentum decays `[Km]`. */
  readonly mom: tf.Tensor1D;
  /** Rms decays `[Kr]`. */
  readonly rms: tf.Tensor1D;
  /** Factored decays `[Kf]`. */
  readonly fac: tf.Tensor1D;
}

/** Decays from theta's learned offsets. */
export function adafacDecays(theta: AdafacTheta, cfg: AdafacDecayConfig): AdafacDecays {
  return {
    mom: paramToDecay(cfg.initialMomentumDecays, theta.momentum_decays),
    rms: paramToDecay(cfg.initialRmsDecays, theta.rms_decays),
    fac: paramToDecay(cfg.initialAdafactorDecays, theta.adafactor_decays),
  };
}

/** What {@link adafacLeafFeatures} computes for one tensor. */
export interface AdafacLeafFeatures {
  /** Next momenta. */
  readonly m: tf.Tensor;
  /** Next second moments. */
  readonly rms: tf.Tensor;
  /** Next factored state. */
  readonly fac: FactoredSlot;
  /** The raw (unnormalized) features `[F, N]` in the reference's order. */
  readonly x: tf.Tensor2D;
  /** `m * rsqrt(rms + 1e-6)`, `[Km, N]` (the Adam-like directions). */
  readonly adamFeats: tf.Tensor2D;
  /** `rsqrt(rms + 1e-6)` of the first rms slot, `[1, N]`. */
  readonly rsqrt0: tf.Tensor2D;
}

/**
 * Accumulator updates and the 28 (default) raw features of one tensor, composed of tfjs
 * ops (the reference implementation the fused kernel is tested against). Feature order
 * (the reference's): g, p, m (Km), rms (Kr), m*rsqrt(rms+1e-6) (Km), rsqrt(rms+1e-6) (Kr),
 * factored g (Kf), row v (Kf), column v (Kf), rsqrt(row+1e-8) (Kf), rsqrt(col+1e-8) (Kf),
 * factored momentum (Kf). Below rank 2, row and column features are both the full v.
 */
export function adafacLeafFeatures(
  p: tf.Tensor,
  g: tf.Tensor,
  prev: { m: tf.Tensor; rms: tf.Tensor; fac: FactoredSlot },
  decays: AdafacDecays,
): AdafacLeafFeatures {
  const km = decays.mom.size;
  const kr = decays.rms.size;
  const kf = decays.fac.size;
  const shape = p.shape;
  const n = p.size;
  const m = updateMomentum(prev.m, g, decays.mom);
  const rms = updateRms(prev.rms, g, decays.rms);
  const fu = updateFactored(prev.fac, g, decays.fac);
  const rsq = tf.rsqrt(tf.add(rms, 1e-6));
  const mRows = tf.reshape(m, [km, n]);
  const rsqRows = tf.reshape(rsq, [kr, n]);
  const adamFeats = tf.mul(mRows, rsqRows) as tf.Tensor2D;
  let rowF: tf.Tensor2D;
  let colF: tf.Tensor2D;
  let facMom: tf.Tensor2D;
  if (fu.rowB !== null && fu.colB !== null && fu.rowFactor !== null && fu.colFactor !== null) {
    rowF = asRows(fu.rowB, kf, shape);
    colF = asRows(fu.colB, kf, shape);
    facMom = asRows(tf.mul(tf.mul(m, fu.rowFactor), fu.colFactor), kf, shape);
  } else {
    const v = tf.reshape((fu.slot as { diag: tf.Tensor }).diag, [kf, n]) as tf.Tensor2D;
    rowF = v;
    colF = v;
    facMom = tf.mul(mRows, tf.pow(tf.add(v, 1e-6), -0.5)) as tf.Tensor2D;
  }
  const x = adafacFeatureRows([], { n, kr, kf }, { g, p, mRows, rms, adamFeats, rsqRows, facG: fu.facG, rowF, colF, facMom }) as tf.Tensor2D;
  return { m, rms, fac: fu.slot, x, adamFeats, rsqrt0: tf.slice(rsqRows, [0, 0], [1, n]) as tf.Tensor2D };
}

/**
 * The feature rows of AdaFac leaves `[...lead, features, n]` (`kr` rms and `kf` factored decays) (`lead` is `[]` for one leaf, `[K]`
 * for K stacked copies): the gradient, the params, the momenta, the rms, `m / sqrt(rms)`, their
 * rsqrt, the factored gradient, the row and column factors and their rsqrts, the factored
 * momentum. `mRows`, `adamFeats`, `rsqRows`, `rowF`, `colF` and `facMom` are already rows.
 */
export function adafacFeatureRows(
  lead: readonly number[],
  dims: { readonly n: number; readonly kr: number; readonly kf: number },
  f: { g: tf.Tensor; p: tf.Tensor; mRows: tf.Tensor; rms: tf.Tensor; adamFeats: tf.Tensor; rsqRows: tf.Tensor; facG: tf.Tensor; rowF: tf.Tensor; colF: tf.Tensor; facMom: tf.Tensor },
): tf.Tensor {
  const rows = (t: tf.Tensor, count: number) => tf.reshape(t, [...lead, count, dims.n]);
  return tf.concat(
    [rows(f.g, 1), rows(f.p, 1), f.mRows, rows(f.rms, dims.kr), f.adamFeats, f.rsqRows, rows(f.facG, dims.kf), f.rowF, f.colF, tf.rsqrt(tf.add(f.rowF, 1e-8)), tf.rsqrt(tf.add(f.colF, 1e-8)), f.facMom],
    lead.length,
  );
}

/** Validates the MLP shape options shared by the family. */
export function checkMlpShape(options: { hiddenSize?: unknown; hiddenLayers?: unknown }, defaults: { hiddenSize: number; hiddenLayers: number }): { hiddenSize: number; hiddenLayers: number } {
  return {
    hiddenSize: checkNumber('hiddenSize', options.hiddenSize ?? defaults.hiddenSize, { integer: true, min: 1 }),
    hiddenLayers: checkNumber('hiddenLayers', options.hiddenLayers ?? defaults.hiddenLayers, { integer: true, min: 0 }),
  };
}
