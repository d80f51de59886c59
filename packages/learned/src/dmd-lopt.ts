import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, treeFlatten, treeUnflatten, type Key, type OptState, type Optimizer, type TensorTree, tidy } from '@lopt/core';
import {
  applyMlpColumns,
  checkDecays,
  checkGrads,
  checkKnownOptions,
  foldConstantFeatures,
  initMlpLayers,
  secondMomentNormalize,
  tanhEmbedding,
  updateMomentum,
  type DenseParams,
} from './common.js';
import { DMD_FEATURES, dmdFeaturesNoGrad, pushWindow } from './dmd-features.js';
import type { LearnedArchitecture } from './types.js';

/** Configuration of {@link dmdLOpt}. */
export type DmdLOptConfig = {
  /** Gradient snapshots kept for the DMD (4 to 32). Default 6. */
  readonly window: number;
  /** Momentum decays (one accumulator each). Default `[0.5, 0.9, 0.99]`. */
  readonly decays: readonly number[];
  /** Width of the hidden layers. Default 32. */
  readonly hiddenSize: number;
  /** Number of hidden layers. Default 2. */
  readonly hiddenLayers: number;
  /** Multiplier inside the exponential of the magnitude output. Default 1e-3. */
  readonly expMult: number;
  /** Multiplier of the step. Default 1e-3. */
  readonly stepMult: number;
};

/** Meta-parameters of {@link dmdLOpt}: the MLP's layers `mlp/~/linear_i` (`{w, b}`, haiku layout). */
export type DmdLOptTheta = Record<string, { w: tf.Tensor2D; b: tf.Tensor1D }>;

/**
 * State of the optimizer {@link dmdLOpt} builds, per params leaf (leaf order): momenta
 * `[K, ...shape]` and the gradient window `[W, ...shape]` (oldest first, zeros before step W).
 */
export type DmdLOptState = { mom: tf.Tensor[]; window: tf.Tensor[] };

/** Number of step-embedding features (the 11 timescales). */
const TIME_FEATURES = 11;
const OPTIONS = ['window', 'decays', 'hiddenSize', 'hiddenLayers', 'expMult', 'stepMult'];

function checkConfig(options: Partial<DmdLOptConfig>): DmdLOptConfig {
  checkKnownOptions('dmdLOpt', options, OPTIONS);
  return {
    window: checkNumber('window', options.window ?? 6, { integer: true, min: 4, max: 32 }),
    decays: checkDecays('decays', options.decays ?? [0.5, 0.9, 0.99]),
    hiddenSize: checkNumber('hiddenSize', options.hiddenSize ?? 32, { integer: true, min: 1 }),
    hiddenLayers: checkNumber('hiddenLayers', options.hiddenLayers ?? 2, { integer: true, min: 0 }),
    expMult: checkNumber('expMult', options.expMult ?? 1e-3),
    stepMult: checkNumber('stepMult', options.stepMult ?? 1e-3),
  };
}

/** One leaf's step: the next momenta, window and parameter. */
function leafStep(
  config: DmdLOptConfig,
  layers: readonly DenseParams[],
  bias0: tf.Tensor1D,
  p: tf.Tensor,
  g: tf.Tensor,
  mom: tf.Tensor,
  window: tf.Tensor,
): { p: tf.Tensor; mom: tf.Tensor; window: tf.Tensor } {
  const k = config.decays.length;
  const n = p.size;
  const m = updateMomentum(mom, g, tf.tensor1d(config.decays as number[]));
  const win = pushWindow(window, g);
  const scaled = secondMomentNormalize(tf.concat([tf.reshape(g, [1, n]), tf.reshape(p, [1, n]), tf.reshape(m, [k, n])], 0) as tf.Tensor2D);
  const x = tf.concat([scaled, dmdFeaturesNoGrad(tf.reshape(win, [config.window, n]) as tf.Tensor2D)], 0) as tf.Tensor2D;
  const [dir, mag] = tf.split(applyMlpColumns(layers, x, bias0), 2, 0) as [tf.Tensor2D, tf.Tensor2D];
  const step = tf.mul(tf.mul(dir, tf.exp(tf.mul(mag, config.expMult))), config.stepMult);
  return { p: tf.sub(p, tf.reshape(step, p.shape)), mom: m, window: win };
}

/**
 * A per-parameter MLP learned optimizer whose features include a dynamic mode decomposition
 * (DMD) of a short window of gradient history, after Šimánek et al., "Learning to Optimize
 * with Dynamic Mode Decomposition" (2022). The state keeps the last W gradients of every
 * parameter; each step computes, per parameter, the rank-1 DMD eigenvalue of its series, the
 * spectral radius and angle of an order-2 DMD (a 2x2 companion fit) and, per tensor, the
 * rank-1 DMD eigenvalue of the tensor's snapshots (`dmdFeatures`): cheap closed-form tfjs
 * expressions. They enter the MLP as stop-gradient inputs (`dmdFeaturesNoGrad` says why);
 * meta-gradients flow through the other features and the MLP.
 *
 * Features per parameter (20 by default): the gradient, the parameter and K = 3 momenta, each
 * normalized by its root mean square over the tensor; the 4 DMD features (scale-free, not
 * normalized); 11 `tanh(t / tau - 1)` step features. MLP 20 -> 32 -> 32 -> 2 (ReLU) gives
 * direction d and magnitude s, and `p <- p - d * exp(s * expMult) * stepMult`.
 *
 * Meta-parameters (default 1,794): `(20*32 + 32) + (32*32 + 32) + (32*2 + 2)`.
 * State: K + W = 9 slots per parameter (3 momenta, 6 gradients). Needs neither `ctx.loss`
 * nor `numSteps`.
 */
export function dmdLOpt(options: Partial<DmdLOptConfig> = {}): LearnedArchitecture<DmdLOptTheta, DmdLOptConfig> {
  const config = checkConfig(options);
  const k = config.decays.length;
  const inputs = 2 + k + DMD_FEATURES + TIME_FEATURES;
  const sizes = [...new Array<number>(config.hiddenLayers).fill(config.hiddenSize), 2];
  return {
    name: 'dmdLOpt',
    config,
    stateSlotsPerParameter: k + config.window,
    hyperparameterPaths: () => [],
    init(key: Key): DmdLOptTheta {
      return initMlpLayers(key, inputs, sizes) as DmdLOptTheta;
    },
    optimizer(theta: DmdLOptTheta): Optimizer {
      const layers = sizes.map((_, i) => theta[`mlp/~/linear_${i}`] as DenseParams);
      return {
        name: 'dmdLOpt',
        init(params: TensorTree): OptState {
          const { leaves } = treeFlatten(params);
          return { params, state: { mom: leaves.map((p) => tf.zeros([k, ...p.shape])), window: leaves.map((p) => tf.zeros([config.window, ...p.shape])) }, iteration: 0 };
        },
        update(state: OptState, grads: TensorTree): OptState {
          checkGrads(state.params, grads, 'dmdLOpt');
          return tidy<OptState>(() => {
            const { leaves, structure } = treeFlatten(state.params);
            const gl = treeFlatten(grads).leaves;
            const prev = state.state as DmdLOptState;
            const bias0 = foldConstantFeatures(layers[0] as DenseParams, 2 + k + DMD_FEATURES, tanhEmbedding(state.iteration));
            const steps = leaves.map((p, i) => leafStep(config, layers, bias0, p, gl[i] as tf.Tensor, prev.mom[i] as tf.Tensor, prev.window[i] as tf.Tensor));
            const next: DmdLOptState = { mom: steps.map((s) => s.mom), window: steps.map((s) => s.window) };
            return { params: treeUnflatten(structure, steps.map((s) => s.p)), state: next, iteration: state.iteration + 1 };
          });
        },
      };
    },
  };
}
