import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, treeFlatten, collectTensors, type Key, type OptState, type Optimizer, type TensorTree, type VectorizedOptimizer, tidy } from '@lopt/core';
import { applyMlpColumns, checkBool, checkFused, checkGrads, checkKnownOptions, foldConstantFeatures, isTapeRecording, secondMomentNormalize, tanhEmbedding, type DenseParams, type FusedMode } from './common.js';
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
  type AdafacSlot,
  type AdafacState,
  type AdafacTheta,
} from './adafac-features.js';
import { fusedAdafacAvailable, fusedAdafacStep, prepareFusedTheta } from './adafac-fused.js';
import { vectorizedAdafac } from './adafac-vectorized.js';
import type { LearnedArchitecture } from './types.js';

/** Configuration of {@link adafacMlpLOpt}; defaults are learned_optimization's `AdafacMLPLOpt`. */
export type AdafacMlpLOptConfig = AdafacDecayConfig & {
  /** Multiplier inside the exponential of the magnitude output. Default 1e-3. */
  readonly expMult: number;
  /** Multiplier of the step. Default 1e-3. */
  readonly stepMult: number;
  /** Hidden width. Default 4. */
  readonly hiddenSize: number;
  /** Hidden layers. Default 2. */
  readonly hiddenLayers: number;
  /**
   * Start the output layer's weights at zero (default false: truncated normal like the
   * other layers, as the reference). The untrained optimizer then takes no steps instead of
   * feature-driven random ones, whose constant drift can kill a ReLU network before
   * meta-training has learned anything; meta-training grows the output layer from zero.
   * Present in the config only when true, so the configs and checkpoints of the reference
   * init are the same as before the option existed.
   */
  readonly zeroInitOutput?: boolean;
  /**
   * Which implementation runs `update`: `false` the composed tfjs ops (differentiable, any
   * backend), `true` the fused WASM SIMD kernel (not differentiable; default sizes only),
   * `'auto'` (default) the fused kernel when it applies (default sizes, CPU or WASM backend,
   * no gradient tape recording) and the composed ops otherwise. Not stored as part of the
   * architecture: checkpoints load under any setting.
   */
  readonly fused: FusedMode;
};

/**
 * The small learned optimizer of "Practical tradeoffs between memory, compute, and
 * performance in learned optimizers" (Metz et al. 2022; learned_optimization's
 * `AdafacMLPLOpt`): a per-parameter MLP 39 -> 4 -> 4 -> 2 over 28 normalized features
 * (gradient, parameter, 3 momenta, 1 rms, 3 Adam-like ratios, rsqrt(rms), 3 factored
 * gradients, 3 row and 3 column accumulators and their rsqrt, 3 factored momenta) and 11
 * `tanh(t / tau - 1)` step features, with learned accumulator decays.
 * `p <- p - d * exp(s * expMult) * stepMult`.
 *
 * Meta-parameters (default 197): MLP `(39*4 + 4) + (4*4 + 4) + (4*2 + 2) = 190`, plus 3 + 1 + 3
 * decay offsets.
 * State per parameter: 4 slots (3 momenta, 1 rms), plus for tensors of rank >= 2 three
 * EMAs per row and per column of the two largest axes, and for rank < 2 three more slots
 * per parameter (the unfactored v). Needs neither `ctx.loss` nor `numSteps` (the
 * reference requires `num_steps` at init but its features never read it).
 */
export function adafacMlpLOpt(options: Partial<AdafacMlpLOptConfig> = {}): LearnedArchitecture<AdafacTheta, AdafacMlpLOptConfig> {
  checkKnownOptions('adafacMlpLOpt', options, ['expMult', 'stepMult', 'hiddenSize', 'hiddenLayers', 'initialMomentumDecays', 'initialRmsDecays', 'initialAdafactorDecays', 'zeroInitOutput', 'fused']);
  const config: AdafacMlpLOptConfig = {
    ...adafacDecayConfig(options),
    expMult: checkNumber('expMult', options.expMult ?? 1e-3),
    stepMult: checkNumber('stepMult', options.stepMult ?? 1e-3),
    ...checkMlpShape(options, { hiddenSize: 4, hiddenLayers: 2 }),
    ...(checkBool('zeroInitOutput', options.zeroInitOutput, false) ? { zeroInitOutput: true } : {}),
    fused: checkFused(options.fused),
  };
  const nLayers = config.hiddenLayers + 1;
  const nFeat = adafacFeatureCount(config);
  const isDefaultShape =
    config.hiddenSize === 4 &&
    config.hiddenLayers === 2 &&
    config.initialMomentumDecays.length === 3 &&
    config.initialRmsDecays.length === 1 &&
    config.initialAdafactorDecays.length === 3;
  if (config.fused === true && !isDefaultShape) {
    throw new LoptError('INVALID_OPTION', "adafacMlpLOpt: { fused: true } supports the default sizes only (hidden 4 x 2 layers, 3 momentum, 1 rms and 3 factored decays).", { option: 'fused' });
  }
  return {
    name: 'adafacMlpLOpt',
    config,
    stateSlotsPerParameter: config.initialMomentumDecays.length + config.initialRmsDecays.length,
    hyperparameterPaths: () => ADAFAC_HYPERPARAMETER_PATHS,
    init: (key: Key) => initAdafacTheta(key, config, config.hiddenSize, config.hiddenLayers, 2, config.zeroInitOutput === true),
    vectorized: (thetas: TensorTree) =>
      vectorizedAdafac(thetas as unknown as AdafacTheta, config, config.fused === true || (config.fused === 'auto' && isDefaultShape && fusedAdafacAvailable())) as unknown as VectorizedOptimizer,
    optimizer(theta: AdafacTheta): Optimizer {
      const layers = adafacLayers(theta, nLayers);
      let fusedTheta: ReturnType<typeof prepareFusedTheta> | undefined;
      // theta's values are read once for the kernel, unless a leaf is a tf.Variable (which can change in place).
      const thetaIsMutable = collectTensors(theta).some((t) => t instanceof tf.Variable);
      const composedLeaf = (p: tf.Tensor, g: tf.Tensor, prev: AdafacSlot, decays: ReturnType<typeof adafacDecays>, bias0: tf.Tensor) => {
        const f = adafacLeafFeatures(p, g, prev, decays);
        const out = applyMlpColumns(layers, secondMomentNormalize(f.x), bias0);
        const [dir, mag] = tf.split(out, 2, 0) as [tf.Tensor2D, tf.Tensor2D];
        const step = tf.mul(tf.mul(dir, tf.exp(tf.mul(mag, config.expMult))), config.stepMult);
        return { p: tf.sub(p, tf.reshape(step, p.shape)), m: f.m, rms: f.rms, fac: f.fac };
      };
      return {
        name: 'adafacMlpLOpt',
        init(params: TensorTree): OptState {
          return { params, state: initAdafacState(treeFlatten(params).leaves, config), iteration: 0 };
        },
        update(state: OptState, grads: TensorTree): OptState {
          checkGrads(state.params, grads, 'adafacMlpLOpt');
          const useFused = config.fused === true || (config.fused === 'auto' && isDefaultShape && fusedAdafacAvailable());
          if (useFused && isTapeRecording()) {
            throw new LoptError('INVALID_OPTION', "adafacMlpLOpt with { fused: true } is not differentiable; use { fused: false } or 'auto' inside tf.grad.", { option: 'fused' });
          }
          if (useFused && (fusedTheta === undefined || thetaIsMutable)) fusedTheta = prepareFusedTheta(theta, config);
          const prev = state.state as AdafacState;
          const { leaves, structure } = treeFlatten(state.params);
          const gl = treeFlatten(grads).leaves;
          return tidy(() => {
            let shared: { decays: ReturnType<typeof adafacDecays>; bias0: tf.Tensor } | undefined;
            const out = leaves.map((p, i) => {
              const slot = adafacSlot(prev, i);
              const g = gl[i] as tf.Tensor;
              if (useFused && fusedTheta !== undefined && p.rank <= 2) return fusedAdafacStep(fusedTheta, state.iteration, p, g, slot);
              shared ??= {
                decays: adafacDecays(theta, config),
                bias0: foldConstantFeatures(layers[0] as DenseParams, nFeat, tanhEmbedding(state.iteration)),
              };
              return composedLeaf(p, g, slot, shared.decays, shared.bias0);
            });
            return adafacStepResult(structure, out, state.iteration);
          });
        },
      };
    },
  };
}
