import * as tf from '@tensorflow/tfjs-core';
import { treeFlatten, treeUnflatten, type TensorTree, type VectorizedOptimizer, type VectorizedOptState } from '@lopt/core';
import { isTapeRecording, paramToDecay, tanhEmbedding, type FactoredSlot } from './common.js';
import { fusedBatchedAdafac } from './adafac-vectorized-fused.js';
import { adafacFeatureCount, adafacFeatureRows, adafacLayers, type AdafacDecayConfig, type AdafacDecays, type AdafacState, type AdafacTheta } from './adafac-features.js';
import {
  batchedFactored,
  batchedFoldConstants,
  batchedMlpColumns,
  batchedMomentum,
  batchedRms,
  batchedRows,
  batchedSecondMomentNormalize,
  checkBatchedInputs,
  stackedCount,
} from './vectorized-common.js';

/** The parts of the adafacMlpLOpt configuration the batched update reads. */
export interface AdafacStepConfig extends AdafacDecayConfig {
  readonly expMult: number;
  readonly stepMult: number;
  readonly hiddenLayers: number;
}

/**
 * Per-copy accumulator updates and raw features `[K, F, N]` of one stacked tensor `p`
 * `[K, ...s]` (the batched `adafacLeafFeatures`; same feature order).
 */
export function batchedAdafacLeafFeatures(
  p: tf.Tensor,
  g: tf.Tensor,
  prev: { m: tf.Tensor; rms: tf.Tensor; fac: FactoredSlot },
  decays: AdafacDecays,
): { m: tf.Tensor; rms: tf.Tensor; fac: FactoredSlot; x: tf.Tensor3D } {
  const [k, km] = decays.mom.shape as number[] as [number, number];
  const kr = (decays.rms.shape as number[])[1] as number;
  const kf = (decays.fac.shape as number[])[1] as number;
  const shape = p.shape.slice(1);
  const n = shape.reduce((a, b) => a * b, 1);
  const m = batchedMomentum(prev.m, g, decays.mom);
  const rms = batchedRms(prev.rms, g, decays.rms);
  const fu = batchedFactored(prev.fac, g, decays.fac);
  const mRows = tf.reshape(m, [k, km, n]);
  const rsqRows = tf.reshape(tf.rsqrt(tf.add(rms, 1e-6)), [k, kr, n]);
  let rowF: tf.Tensor;
  let colF: tf.Tensor;
  let facMom: tf.Tensor;
  if (fu.rowB !== null && fu.colB !== null && fu.rowFactor !== null && fu.colFactor !== null) {
    rowF = batchedRows(fu.rowB, k, kf, shape);
    colF = batchedRows(fu.colB, k, kf, shape);
    facMom = batchedRows(tf.mul(tf.mul(m, fu.rowFactor), fu.colFactor), k, kf, shape);
  } else {
    const v = tf.reshape((fu.slot as { diag: tf.Tensor }).diag, [k, kf, n]);
    rowF = v;
    colF = v;
    facMom = tf.mul(mRows, tf.pow(tf.add(v, 1e-6), -0.5));
  }
  const x = adafacFeatureRows([k], { n, kr, kf }, { g, p, mRows, rms, adamFeats: tf.mul(mRows, rsqRows), rsqRows, facG: fu.facG, rowF, colF, facMom }) as tf.Tensor3D;
  return { m, rms, fac: fu.slot, x };
}

/**
 * adafacMlpLOpt's update for K copies with per-copy theta (stacked `[K, ...]`) as one batched
 * computation (core's {@link VectorizedOptimizer}); copy `i` equals
 * `adafacMlpLOpt(config).optimizer(theta_i).update` to float32 round-off.
 */
export function vectorizedAdafac(thetas: AdafacTheta, config: AdafacStepConfig, useFused = false): VectorizedOptimizer<AdafacState> {
  const k = stackedCount(thetas as unknown as TensorTree, 'adafacMlpLOpt');
  let fused: ReturnType<typeof fusedBatchedAdafac> | undefined;
  const layers = adafacLayers(thetas, config.hiddenLayers + 1);
  const nFeat = adafacFeatureCount(config);
  return {
    name: `adafacMlpLOpt x ${k}`,
    size: k,
    update(state: VectorizedOptState<AdafacState>, grads: TensorTree): VectorizedOptState<AdafacState> {
      checkBatchedInputs(state, grads, k, 'adafacMlpLOpt');
      if (useFused && !isTapeRecording() && treeFlatten(state.params).leaves.every((x) => x.rank <= 3)) {
        fused ??= fusedBatchedAdafac(thetas, config, k);
        const f = fused(state, grads);
        return { params: f.params, state: f.state, iterations: state.iterations.map((t) => t + 1) };
      }
      const prev = state.state;
      const { leaves, structure } = treeFlatten(state.params);
      const gl = treeFlatten(grads).leaves;
      const out = tf.tidy(() => {
        const decays: AdafacDecays = {
          mom: paramToDecay(config.initialMomentumDecays, thetas.momentum_decays),
          rms: paramToDecay(config.initialRmsDecays, thetas.rms_decays),
          fac: paramToDecay(config.initialAdafactorDecays, thetas.adafactor_decays),
        };
        const bias0 = batchedFoldConstants(layers[0]!, nFeat, state.iterations.map((t) => tanhEmbedding(t)));
        const perLeaf = leaves.map((p, i) => {
          const f = batchedAdafacLeafFeatures(p, gl[i] as tf.Tensor, { m: prev.mom[i]!, rms: prev.rms[i]!, fac: prev.fac[i]! }, decays);
          const o = batchedMlpColumns(layers, batchedSecondMomentNormalize(f.x), bias0);
          const [dir, mag] = tf.split(o, 2, 1);
          const step = tf.mul(tf.mul(dir as tf.Tensor, tf.exp(tf.mul(mag as tf.Tensor, config.expMult))), config.stepMult);
          return { p: tf.sub(p, tf.reshape(step, p.shape)), m: f.m, rms: f.rms, fac: f.fac };
        });
        return {
          params: treeUnflatten(structure, perLeaf.map((o) => o.p)),
          state: { mom: perLeaf.map((o) => o.m), rms: perLeaf.map((o) => o.rms), fac: perLeaf.map((o) => o.fac) },
        } as unknown as tf.TensorContainer;
      }) as unknown as { params: TensorTree; state: AdafacState };
      return { params: out.params, state: out.state, iterations: state.iterations.map((t) => t + 1) };
    },
  };
}
