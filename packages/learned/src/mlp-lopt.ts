import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, treeFlatten, treeUnflatten, type Key, type OptState, type Optimizer, type TensorTree, type VectorizedOptimizer, tidy } from '@lopt/core';
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
import { vectorizedMlpLOpt } from './mlp-lopt-vectorized.js';
import type { LearnedArchitecture } from './types.js';

/** Configuration of {@link mlpLOpt}; defaults are learned_optimization's `MLPLOpt`. */
export type MlpLOptConfig = {
  /** Multiplier inside the exponential of the magnitude output. Default 1e-3. */
  readonly expMult: number;
  /** Multiplier of the step. Default 1e-3. */
  readonly stepMult: number;
  /** Width of the hidden layers. Default 32. */
  readonly hiddenSize: number;
  /** Number of hidden layers. Default 2. */
  readonly hiddenLayers: number;
  /** Momentum decays (one accumulator each). Default `[0.1, 0.5, 0.9, 0.99, 0.999, 0.9999]`. */
  readonly decays: readonly number[];
};

/** Meta-parameters of {@link mlpLOpt}: haiku's `hk.nets.MLP` layout (`mlp/~/linear_i`: `{w, b}`). */
export type MlpLOptTheta = Record<string, { w: tf.Tensor2D; b: tf.Tensor1D }>;

/** State of the optimizer {@link mlpLOpt} builds: momenta per leaf (params leaf order), `[K, ...shape]`. */
export type MlpLOptState = { mom: tf.Tensor[] };

/** Number of step-embedding features (the 11 timescales). */
const TIME_FEATURES = 11;

function layersOf(theta: MlpLOptTheta, n: number): DenseParams[] {
  return Array.from({ length: n }, (_, i) => theta[`mlp/~/linear_${i}`] as DenseParams);
}

/**
 * The per-parameter MLP learned optimizer of "Understanding and correcting pathologies in
 * the training of learned optimizers" (learned_optimization's `MLPLOpt`, "LOLv2").
 *
 * Features per parameter (19 by default): the gradient, the parameter and K = 6 momenta,
 * each normalized by its root mean square over the tensor, then 11 `tanh(t / tau - 1)` step
 * features. MLP 19 -> 32 -> 32 -> 2 (ReLU) gives direction d and magnitude s, and
 * `p <- p - d * exp(s * expMult) * stepMult`.
 *
 * Meta-parameters (default 1,762): `(19*32 + 32) + (32*32 + 32) + (32*2 + 2)`.
 * State: K = 6 accumulator slots per parameter. Needs neither `ctx.loss` nor `numSteps`.
 */
export function mlpLOpt(options: Partial<MlpLOptConfig> = {}): LearnedArchitecture<MlpLOptTheta, MlpLOptConfig> {
  checkKnownOptions('mlpLOpt', options, ['expMult', 'stepMult', 'hiddenSize', 'hiddenLayers', 'decays']);
  const config: MlpLOptConfig = {
    expMult: checkNumber('expMult', options.expMult ?? 1e-3),
    stepMult: checkNumber('stepMult', options.stepMult ?? 1e-3),
    hiddenSize: checkNumber('hiddenSize', options.hiddenSize ?? 32, { integer: true, min: 1 }),
    hiddenLayers: checkNumber('hiddenLayers', options.hiddenLayers ?? 2, { integer: true, min: 0 }),
    decays: checkDecays('decays', options.decays ?? [0.1, 0.5, 0.9, 0.99, 0.999, 0.9999]),
  };
  const k = config.decays.length;
  const inputs = 2 + k + TIME_FEATURES;
  const sizes = [...new Array<number>(config.hiddenLayers).fill(config.hiddenSize), 2];
  return {
    name: 'mlpLOpt',
    config,
    stateSlotsPerParameter: k,
    hyperparameterPaths: () => [],
    init(key: Key): MlpLOptTheta {
      return initMlpLayers(key, inputs, sizes) as MlpLOptTheta;
    },
    vectorized: (thetas: TensorTree) =>
      vectorizedMlpLOpt(thetas, layersOf(thetas as MlpLOptTheta, sizes.length), config) as unknown as VectorizedOptimizer,
    optimizer(theta: MlpLOptTheta): Optimizer {
      const layers = layersOf(theta, sizes.length);
      return {
        name: 'mlpLOpt',
        init(params: TensorTree): OptState {
          const { leaves } = treeFlatten(params);
          return { params, state: { mom: leaves.map((p) => tf.zeros([k, ...p.shape])) }, iteration: 0 };
        },
        update(state: OptState, grads: TensorTree): OptState {
          checkGrads(state.params, grads, 'mlpLOpt');
          return tidy<OptState>(() => {
            const { leaves, structure } = treeFlatten(state.params);
            const gl = treeFlatten(grads).leaves;
            const prev = (state.state as MlpLOptState).mom;
            const decays = tf.tensor1d(config.decays as number[]);
            const bias0 = foldConstantFeatures(layers[0] as DenseParams, 2 + k, tanhEmbedding(state.iteration));
            const mom: tf.Tensor[] = [];
            const next = leaves.map((p, i) => {
              const g = gl[i] as tf.Tensor;
              const m = updateMomentum(prev[i] as tf.Tensor, g, decays);
              mom.push(m);
              const n = p.size;
              const x = tf.concat([tf.reshape(g, [1, n]), tf.reshape(p, [1, n]), tf.reshape(m, [k, n])], 0) as tf.Tensor2D;
              const out = applyMlpColumns(layers, secondMomentNormalize(x), bias0);
              const [dir, mag] = tf.split(out, 2, 0) as [tf.Tensor2D, tf.Tensor2D];
              const step = tf.mul(tf.mul(dir, tf.exp(tf.mul(mag, config.expMult))), config.stepMult);
              return tf.sub(p, tf.reshape(step, p.shape));
            });
            return { params: treeUnflatten(structure, next), state: { mom }, iteration: state.iteration + 1 };
          });
        },
      };
    },
  };
}
