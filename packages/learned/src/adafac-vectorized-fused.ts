import * as tf from '@tensorflow/tfjs-core';
import { stackTrees, treeFlatten, treeUnflatten, unstackTree, type TensorTree, type VectorizedOptState } from '@lopt/core';
import type { FactoredSlot } from './common.js';
import type { AdafacState, AdafacTheta } from './adafac-features.js';
import { fusedAdafacStep, prepareFusedTheta } from './adafac-fused.js';
import type { AdafacStepConfig } from './adafac-vectorized.js';

/**
 * The batched adafacMlpLOpt update through the fused per-copy WASM kernel (default sizes,
 * params of rank <= 2, no tape): the stacked tensors are split per copy (one op per leaf), each
 * copy runs the kernel with its own theta, and the results are stacked again. Same values as
 * the per-copy fused updates. Returns a function of (state, grads), theta read once.
 */
export function fusedBatchedAdafac(thetas: AdafacTheta, config: AdafacStepConfig, k: number) {
  const prepared = tf.tidy(() => unstackTree(thetas as unknown as TensorTree, k)).map((t) => {
    const ft = prepareFusedTheta(t as unknown as AdafacTheta, config as Parameters<typeof prepareFusedTheta>[1]);
    tf.dispose(treeFlatten(t).leaves);
    return ft;
  });
  return (state: VectorizedOptState<AdafacState>, grads: TensorTree): { params: TensorTree; state: AdafacState } =>
    tf.tidy(() => {
      const { leaves, structure } = treeFlatten(state.params);
      const gl = treeFlatten(grads).leaves;
      const perLeaf = leaves.map((p, i) => {
        const split = (x: tf.Tensor) => (k === 1 ? [tf.reshape(x, x.shape.slice(1))] : tf.unstack(x, 0));
        const [ps, gs, ms, rs] = [p, gl[i] as tf.Tensor, state.state.mom[i] as tf.Tensor, state.state.rms[i] as tf.Tensor].map(split) as tf.Tensor[][];
        const facs = unstackTree(state.state.fac[i] as unknown as TensorTree, k) as unknown as FactoredSlot[];
        const outs = prepared.map((ft, c) =>
          fusedAdafacStep(ft, state.iterations[c] as number, ps![c]!, gs![c]!, { m: ms![c]!, rms: rs![c]!, fac: facs[c]! }),
        );
        return {
          p: tf.stack(outs.map((o) => o.p)),
          m: tf.stack(outs.map((o) => o.m)),
          rms: tf.stack(outs.map((o) => o.rms)),
          fac: stackTrees(outs.map((o) => o.fac as unknown as TensorTree)) as unknown as FactoredSlot,
        };
      });
      return {
        params: treeUnflatten(structure, perLeaf.map((o) => o.p)),
        state: { mom: perLeaf.map((o) => o.m), rms: perLeaf.map((o) => o.rms), fac: perLeaf.map((o) => o.fac) },
      } as unknown as tf.TensorContainer;
    }) as unknown as { params: TensorTree; state: AdafacState };
}
