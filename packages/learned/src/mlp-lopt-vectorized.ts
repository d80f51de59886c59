import * as tf from '@tensorflow/tfjs-core';
import { treeFlatten, treeUnflatten, type TensorTree, type VectorizedOptimizer, type VectorizedOptState, tidy } from '@lopt/core';
import { tanhEmbedding, type DenseParams } from './common.js';
import { batchedFoldConstants, batchedMlpColumns, batchedMomentum, batchedSecondMomentNormalize, checkBatchedInputs, stackedCount } from './vectorized-common.js';

/**
 * mlpLOpt's update for K copies with per-copy theta (stacked `[K, ...]`, layers `layers`)
 * as one batched computation (core's {@link VectorizedOptimizer}); copy `i` equals
 * `mlpLOpt(config).optimizer(theta_i).update` to float32 round-off.
 */
export function vectorizedMlpLOpt(
  thetas: TensorTree,
  layers: readonly DenseParams[],
  config: { readonly decays: readonly number[]; readonly expMult: number; readonly stepMult: number },
): VectorizedOptimizer<{ mom: tf.Tensor[] }> {
  const k = stackedCount(thetas, 'mlpLOpt');
  const kd = config.decays.length;
  return {
    name: `mlpLOpt x ${k}`,
    size: k,
    update(state: VectorizedOptState<{ mom: tf.Tensor[] }>, grads: TensorTree): VectorizedOptState<{ mom: tf.Tensor[] }> {
      checkBatchedInputs(state, grads, k, 'mlpLOpt');
      const out = tidy<{ params: TensorTree; state: { mom: tf.Tensor[] } }>(() => {
        const { leaves, structure } = treeFlatten(state.params);
        const gl = treeFlatten(grads).leaves;
        const decays = tf.tile(tf.tensor2d([config.decays as number[]]), [k, 1]);
        const bias0 = batchedFoldConstants(layers[0] as DenseParams, 2 + kd, state.iterations.map((t) => tanhEmbedding(t)));
        const mom: tf.Tensor[] = [];
        const next = leaves.map((p, i) => {
          const g = gl[i] as tf.Tensor;
          const m = batchedMomentum(state.state.mom[i] as tf.Tensor, g, decays);
          mom.push(m);
          const n = p.size / k;
          const x = tf.concat([tf.reshape(g, [k, 1, n]), tf.reshape(p, [k, 1, n]), tf.reshape(m, [k, kd, n])], 1) as tf.Tensor3D;
          const o = batchedMlpColumns(layers, batchedSecondMomentNormalize(x), bias0);
          const [dir, mag] = tf.split(o, 2, 1) as [tf.Tensor, tf.Tensor];
          const step = tf.mul(tf.mul(dir, tf.exp(tf.mul(mag, config.expMult))), config.stepMult);
          return tf.sub(p, tf.reshape(step, p.shape));
        });
        return { params: treeUnflatten(structure, next), state: { mom } };
      });
      return { params: out.params, state: out.state, iterations: state.iterations.map((t) => t + 1) };
    },
  };
}
