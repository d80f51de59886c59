import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, checkOneOf, treeFlatten, collectTensors, type Key, type OptState, type Optimizer, type TensorTree, tidy } from '@lopt/core';
import { applyMlpColumns, checkBool, checkFused, checkGrads, checkKnownOptions, foldConstantFeatures, isTapeRecording, secondMomentNormalize, tanhEmbedding, type DenseParams, type FusedMode } from './common.js';
import { fusedAdafacAvailable, fusedAdafacStep, prepareFusedTheta } from './adafac-fused.js';
import {
  ADAFAC_HYPERPARAMETER_PATHS,
  adafacDecayConfig,
  adafacDecays,
  adafacFeatureCount,
  adafacLayers,
  adafacLeafFeatures,
  adafacSlot,
  adafacStepResult,
  checkMlpShape,
  initAdafacState,
  initAdafacTheta,
  type AdafacDecayConfig,
  type AdafacDecays,
  type AdafacLeafFeatures,
  type AdafacSlot,
  type AdafacState,
  type AdafacTheta,
} from './adafac-features.js';
import type { LearnedArchitecture } from './types.js';

/** The nominal descent directions of {@link mlpNomLOpt}. */
export const NOMINAL_ESTIMATORS = ['SGD', 'SGDM', 'AggMo', 'Adam', 'AdamAggMo'] as const;
/** One of {@link NOMINAL_ESTIMATORS}. */
export type NominalEstimator = (typeof NOMINAL_ESTIMATORS)[number];

/** Configuration of {@link mlpNomLOpt}; defaults are learned_optimization's `MLPNomLOpt`. */
export type MlpNomLOptConfig = AdafacDecayConfig & {
  /** Multipliers inside the exponentials of the blackbox, nominal and weight-decay magnitudes. Default `[1e-3, 1e-3, 1e-3]`. */
  readonly expMult: readonly [number, number, number];
  /** Multiplier of the blackbox step. Default 1e-3. */
  readonly stepMult: number;
  /** Hidden width. Default 4. */
  readonly hiddenSize: number;
  /** Hidden layers. Default 2. */
  readonly hiddenLayers: number;
  /** Step size of the nominal term. Default 0 (off). */
  readonly nominalStepsize: number;
  /** Weight decay. Default 0 (off). */
  readonly weightDecay: number;
  /** Use output 2 as a learned log-scale of the nominal step (else it is 1). Default false. */
  readonly nominalController: boolean;
  /** Use output 3 as a learned log-scale of the weight decay (else it is 0). Default false. */
  readonly regularizationController: boolean;
  /** The nominal direction. Default `'AdamAggMo'` (mean over the momenta of `m * rsqrt(rms + 1e-6)`). */
  readonly nominalGradEstimator: NominalEstimator;
  /** Average the magnitude output over each tensor. Default false. */
  readonly aggregateMagnitude: boolean;
  /** Average the nominal magnitude over each tensor. Default false. */
  readonly aggregateNomMagnitude: boolean;
  /** Average the weight-decay magnitude over each tensor. Default false. */
  readonly aggregateRegMagnitude: boolean;
  /** Multiply the blackbox step by `rsqrt(rms + 1e-6)`. Default false. */
  readonly normalizeBlackbox: boolean;
  /** Multiply the blackbox step by the mean gradient of the tensor. Default false. */
  readonly selfnormalizeBlackbox: boolean;
  /**
   * Fused kernel selection, as for `adafacMlpLOpt`: the blackbox step runs in the fused
   * WebAssembly kernel and the nominal and weight-decay terms as elementwise tfjs ops. It
   * applies with the default sizes and without the controllers, aggregation or blackbox
   * normalization (otherwise the composed ops run). Default `'auto'`. Not architectural.
   */
  readonly fused: FusedMode;
};

/**
 * The learned optimizer with a nominal descent term of Harrison, Metz and Sohl-Dickstein
 * 2022, "A closer look at learned optimization: stability, robustness, and inductive
 * biases" (learned_optimization's `MLPNomLOpt`). The AdafacMLPLOpt features and MLP
 * (39 -> 4 -> 4 -> 4) feed
 * `p <- (1 - wd * exp(r * e2)) p - d * exp(s * e0) * stepMult - nominalStepsize * exp(n * e1) * g_hat`
 * where `g_hat` is the nominal direction built from the optimizer's own accumulators (SGD:
 * g; SGDM: the slowest momentum; AggMo: the mean momentum; Adam: `m * rsqrt(rms + 1e-6)` of
 * the slowest momentum; AdamAggMo: its mean over the momenta), and n, r are MLP outputs 2
 * and 3 when their controllers are on (else n = 1, r = 0). As in the reference the
 * nominal direction comes from these shared accumulators (no bias correction), not from a
 * separate Adam state.
 *
 * Meta-parameters (default 207): `(39*4 + 4) + (4*4 + 4) + (4*4 + 4) = 200` plus 7 decay offsets.
 * State: as {@link adafacMlpLOpt} (4 slots per parameter plus the factored rows/columns).
 * Needs neither `ctx.loss` nor `numSteps`. Without controllers, aggregation or blackbox
 * normalization, the blackbox step runs in `adafacMlpLOpt`'s fused kernel (see `fused`).
 */
export function mlpNomLOpt(options: Partial<MlpNomLOptConfig> = {}): LearnedArchitecture<AdafacTheta, MlpNomLOptConfig> {
  const config = checkMlpNomConfig(options);
  const fusable = isFusable(config);
  if (config.fused === true && !fusable) {
    throw new LoptError('INVALID_OPTION', 'mlpNomLOpt: { fused: true } needs the default sizes and no controllers, aggregation or blackbox normalization.', { option: 'fused' });
  }
  const nLayers = config.hiddenLayers + 1;
  const nFeat = adafacFeatureCount(config);
  return {
    name: 'mlpNomLOpt',
    config,
    stateSlotsPerParameter: config.initialMomentumDecays.length + config.initialRmsDecays.length,
    hyperparameterPaths: () => ADAFAC_HYPERPARAMETER_PATHS,
    init: (key: Key) => initAdafacTheta(key, config, config.hiddenSize, config.hiddenLayers, 4),
    optimizer(theta: AdafacTheta): Optimizer {
      const layers = adafacLayers(theta, nLayers);
      let fusedTheta: ReturnType<typeof prepareFusedTheta> | undefined;
      const thetaIsMutable = collectTensors(theta).some((t) => t instanceof tf.Variable);
      return {
        name: 'mlpNomLOpt',
        init: (params: TensorTree): OptState => ({ params, state: initAdafacState(treeFlatten(params).leaves, config), iteration: 0 }),
        update(state: OptState, grads: TensorTree): OptState {
          checkGrads(state.params, grads, 'mlpNomLOpt');
          const prev = state.state as AdafacState;
          const { leaves, structure } = treeFlatten(state.params);
          const gl = treeFlatten(grads).leaves;
          const useFused = fusable && (config.fused === true || (config.fused === 'auto' && fusedAdafacAvailable()));
          if (useFused && isTapeRecording()) {
            throw new LoptError('INVALID_OPTION', "mlpNomLOpt with { fused: true } is not differentiable; use { fused: false } or 'auto' inside tf.grad.", { option: 'fused' });
          }
          if (useFused && leaves.every((p) => p.rank <= 2)) {
            if (fusedTheta === undefined || thetaIsMutable) fusedTheta = prepareFusedTheta(theta, { ...config, expMult: config.expMult[0] });
            const ft = fusedTheta;
            return tidy(() => adafacStepResult(structure, leaves.map((p, i) => fusedNomLeaf(config, ft, state.iteration, p, gl[i] as tf.Tensor, adafacSlot(prev, i))), state.iteration));
          }
          return tidy(() => {
            const shared = { layers, decays: adafacDecays(theta, config), bias0: foldConstantFeatures(layers[0] as DenseParams, nFeat, tanhEmbedding(state.iteration)) };
            return adafacStepResult(structure, leaves.map((p, i) => composedNomLeaf(config, shared, p, gl[i] as tf.Tensor, adafacSlot(prev, i))), state.iteration);
          });
        },
      };
    },
  };
}

/** Validates the options of {@link mlpNomLOpt} (defaults of learned_optimization). */
function checkMlpNomConfig(options: Partial<MlpNomLOptConfig>): MlpNomLOptConfig {
  checkKnownOptions('mlpNomLOpt', options, [
    'expMult', 'stepMult', 'hiddenSize', 'hiddenLayers', 'initialMomentumDecays', 'initialRmsDecays', 'initialAdafactorDecays',
    'nominalStepsize', 'weightDecay', 'nominalController', 'regularizationController', 'nominalGradEstimator',
    'aggregateMagnitude', 'aggregateNomMagnitude', 'aggregateRegMagnitude', 'normalizeBlackbox', 'selfnormalizeBlackbox', 'fused',
  ]);
  const em = options.expMult ?? [1e-3, 1e-3, 1e-3];
  if (!Array.isArray(em) || em.length !== 3) throw new LoptError('INVALID_OPTION', "Option 'expMult' must be an array of 3 numbers.", { option: 'expMult' });
  const flag = (name: keyof MlpNomLOptConfig): boolean => checkBool(name, options[name], false);
  return {
    ...adafacDecayConfig(options),
    expMult: [checkNumber('expMult[0]', em[0]), checkNumber('expMult[1]', em[1]), checkNumber('expMult[2]', em[2])],
    stepMult: checkNumber('stepMult', options.stepMult ?? 1e-3),
    ...checkMlpShape(options, { hiddenSize: 4, hiddenLayers: 2 }),
    nominalStepsize: checkNumber('nominalStepsize', options.nominalStepsize ?? 0),
    weightDecay: checkNumber('weightDecay', options.weightDecay ?? 0),
    nominalController: flag('nominalController'),
    regularizationController: flag('regularizationController'),
    nominalGradEstimator: checkOneOf('nominalGradEstimator', options.nominalGradEstimator ?? 'AdamAggMo', NOMINAL_ESTIMATORS),
    aggregateMagnitude: flag('aggregateMagnitude'),
    aggregateNomMagnitude: flag('aggregateNomMagnitude'),
    aggregateRegMagnitude: flag('aggregateRegMagnitude'),
    normalizeBlackbox: flag('normalizeBlackbox'),
    selfnormalizeBlackbox: flag('selfnormalizeBlackbox'),
    fused: checkFused(options.fused),
  };
}

/** Whether the blackbox step can run in the fused kernel: default sizes, no controllers, aggregation or normalization. */
function isFusable(config: MlpNomLOptConfig): boolean {
  return (
    config.hiddenSize === 4 &&
    config.hiddenLayers === 2 &&
    config.initialMomentumDecays.length === 3 &&
    config.initialRmsDecays.length === 1 &&
    config.initialAdafactorDecays.length === 3 &&
    !config.nominalController &&
    !config.regularizationController &&
    !config.aggregateMagnitude &&
    !config.normalizeBlackbox &&
    !config.selfnormalizeBlackbox
  );
}

/** The nominal direction from the updated accumulators (`[Km, ...shape]`, `[Kr, ...shape]`), shaped like `g`. */
function nominalDirection(config: MlpNomLOptConfig, g: tf.Tensor, m: tf.Tensor, rms: tf.Tensor): tf.Tensor {
  const km = config.initialMomentumDecays.length;
  const slowest = (t: tf.Tensor): tf.Tensor => tf.squeeze(tf.slice(t, [km - 1], [1]), [0]);
  const q = tf.rsqrt(tf.add(rms, 1e-6));
  switch (config.nominalGradEstimator) {
    case 'SGD': return g;
    case 'SGDM': return slowest(m);
    case 'AggMo': return tf.mean(m, 0);
    case 'Adam': return tf.mul(slowest(m), tf.squeeze(q, [0])); // the fused path has one rms slot
    default: return tf.mean(tf.mul(m, q), 0);
  }
}

/** One tensor's fused step: the kernel's blackbox step, plus weight decay (reg = 1 - wd) and the nominal term (n = 1). */
function fusedNomLeaf(
  config: MlpNomLOptConfig,
  ft: ReturnType<typeof prepareFusedTheta>,
  iteration: number,
  p: tf.Tensor,
  g: tf.Tensor,
  slot: AdafacSlot,
): AdafacSlot & { p: tf.Tensor } {
  const f = fusedAdafacStep(ft, iteration, p, g, slot);
  let next = f.p;
  if (config.weightDecay !== 0) next = tf.sub(next, tf.mul(config.weightDecay, p));
  if (config.nominalStepsize !== 0) next = tf.sub(next, tf.mul(config.nominalStepsize * Math.exp(config.expMult[1]), nominalDirection(config, g, f.m, f.rms)));
  return { p: next, m: f.m, rms: f.rms, fac: f.fac };
}

/** The nominal direction as a row `[1, N]`, from the features of the composed path. */
function nominalRow(config: MlpNomLOptConfig, f: AdafacLeafFeatures, g: tf.Tensor, n: number): tf.Tensor {
  const km = config.initialMomentumDecays.length;
  const mRows = tf.reshape(f.m, [km, n]);
  switch (config.nominalGradEstimator) {
    case 'SGD': return tf.reshape(g, [1, n]);
    case 'SGDM': return tf.slice(mRows, [km - 1, 0], [1, n]);
    case 'AggMo': return tf.mean(mRows, 0, true);
    case 'Adam': return tf.slice(f.adamFeats, [km - 1, 0], [1, n]);
    default: return tf.mean(f.adamFeats, 0, true);
  }
}

/** One tensor's composed step: `p <- (1 - wd exp(r e2)) p - d exp(s e0) stepMult - nominalStepsize exp(n e1) g_hat`. */
function composedNomLeaf(
  config: MlpNomLOptConfig,
  shared: { readonly layers: DenseParams[]; readonly decays: AdafacDecays; readonly bias0: tf.Tensor },
  p: tf.Tensor,
  g: tf.Tensor,
  slot: AdafacSlot,
): AdafacSlot & { p: tf.Tensor } {
  const [e0, e1, e2] = config.expMult;
  const n = p.size;
  const f = adafacLeafFeatures(p, g, slot, shared.decays);
  const o = applyMlpColumns(shared.layers, secondMomentNormalize(f.x), shared.bias0);
  const [dir, mag0, nom0, reg0] = tf.split(o, 4, 0) as tf.Tensor2D[];
  const agg = (x: tf.Tensor, on: boolean): tf.Tensor => (on ? tf.mean(x) : x);
  const mag = agg(mag0 as tf.Tensor, config.aggregateMagnitude);
  const nomMag = config.nominalController ? agg(nom0 as tf.Tensor, config.aggregateNomMagnitude) : tf.scalar(1);
  const regMag = config.regularizationController ? agg(reg0 as tf.Tensor, config.aggregateRegMagnitude) : tf.scalar(0);
  let step = tf.mul(tf.mul(dir as tf.Tensor, tf.exp(tf.mul(mag, e0))), config.stepMult);
  if (config.normalizeBlackbox) step = tf.mul(step, f.rsqrt0);
  if (config.selfnormalizeBlackbox) step = tf.mul(step, tf.mean(g));
  const reg = tf.sub(1, tf.mul(config.weightDecay, tf.exp(tf.mul(regMag, e2))));
  const nom = tf.mul(tf.mul(config.nominalStepsize, tf.exp(tf.mul(nomMag, e1))), nominalRow(config, f, g, n));
  const next = tf.sub(tf.sub(tf.mul(reg, tf.reshape(p, [1, n])), step), nom);
  return { p: tf.reshape(next, p.shape), m: f.m, rms: f.rms, fac: f.fac };
}
