import * as tf from '@tensorflow/tfjs-core';
import { stackTrees, treeFlatten, treeUnflatten, unstackTree, type TensorTree, type VectorizedOptState } from '@lopt/core';
import type { FactoredSlot } from './common.js';
import type { AdafacState, AdafacTheta } from './adafac-features.js';
import {
  factoredStepAt,
  factoredTempFloats,
  factoredTemps,
  fusedAdafacStep,
  prepareFusedTheta,
  readCopy,
  sharedKernelSite,
  unfactoredStepAt,
  type FusedLeafResult,
  type FusedTheta,
} from './adafac-fused.js';
import type { AdafacStepConfig } from './adafac-vectorized.js';

type Prev = { m: tf.Tensor; rms: tf.Tensor; fac: FactoredSlot };

/**
 * A stacked `[K, R, C]` leaf on the WASM backend: copy `c` runs the fused kernel at its
 * offset inside the stacked tensors in tfjs-wasm's memory and writes into copy `c` of
 * stacked outputs (no unstack, no stack: one allocation per output for all K copies).
 * Returns null when the WASM backend is not active.
 */
function stackedFactoredStep(prepared: readonly FusedTheta[], iterations: readonly number[], p: tf.Tensor, g: tf.Tensor, prev: Prev): FusedLeafResult | null {
  if (!('row' in prev.fac)) return null;
  const [k, R, C] = p.shape as [number, number, number];
  const site = sharedKernelSite(factoredTempFloats(R, C));
  if (site === null) return null;
  const N = R * C;
  const lenRow = prev.fac.row.shape[2] as number;
  const lenCol = prev.fac.col.shape[2] as number;
  const rowAll = readCopy(prev.fac.row);
  const colAll = readCopy(prev.fac.col);
  const base = { G: site.input(g), P: site.input(p), M: site.input(prev.m), RMS: site.input(prev.rms), OP: site.output([k, R, C]), OM: site.output([k, 3, R, C]), OR: site.output([k, 1, R, C]) };
  const temps = factoredTemps(site, R, C);
  const rowOut = new Float32Array(rowAll.length);
  const colOut = new Float32Array(colAll.length);
  for (let c = 0; c < k; c++) {
    const one = 4 * N * c;
    const three = 3 * one;
    const a = { G: base.G + one, P: base.P + one, M: base.M + three, RMS: base.RMS + one, OP: base.OP + one, OM: base.OM + three, OR: base.OR + one };
    const prevFac = { row: rowAll.subarray(3 * lenRow * c, 3 * lenRow * (c + 1)), col: colAll.subarray(3 * lenCol * c, 3 * lenCol * (c + 1)) };
    const r = factoredStepAt(site, temps, prepared[c] as FusedTheta, iterations[c] as number, a, R, C, prevFac);
    rowOut.set(r.row, 3 * lenRow * c);
    colOut.set(r.col, 3 * lenCol * c);
  }
  const [newP, newM, newR] = site.finish() as [tf.Tensor, tf.Tensor, tf.Tensor];
  return { p: newP, m: newM, rms: newR, fac: { row: tf.tensor(rowOut, prev.fac.row.shape, 'float32'), col: tf.tensor(colOut, prev.fac.col.shape, 'float32') } };
}

/** A stacked leaf of rank <= 2 (per-copy biases and scalars): each copy's unfactored step on views of one download per tensor. */
function stackedUnfactoredStep(prepared: readonly FusedTheta[], iterations: readonly number[], p: tf.Tensor, g: tf.Tensor, prev: Prev): FusedLeafResult {
  const diag = (prev.fac as { diag: tf.Tensor }).diag;
  const k = p.shape[0] as number;
  const n = p.size / k;
  const [gAll, pAll, mAll, rAll, vAll] = [g, p, prev.m, prev.rms, diag].map(readCopy) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const out = new Float32Array(k * n);
  const part = (x: Float32Array, width: number, c: number) => x.subarray(width * n * c, width * n * (c + 1));
  for (let c = 0; c < k; c++) {
    unfactoredStepAt(prepared[c] as FusedTheta, iterations[c] as number, n, { g: part(gAll, 1, c), p: part(pAll, 1, c), m: part(mAll, 3, c), rms: part(rAll, 1, c), v: part(vAll, 3, c), out: part(out, 1, c) });
  }
  return { p: tf.tensor(out, p.shape, 'float32'), m: tf.tensor(mAll, prev.m.shape, 'float32'), rms: tf.tensor(rAll, prev.rms.shape, 'float32'), fac: { diag: tf.tensor(vAll, diag.shape, 'float32') } };
}

/** The per-copy route (CPU backend): split the stacked tensors, one fused step per copy, stack again. */
function splitLeafStep(prepared: readonly FusedTheta[], iterations: readonly number[], p: tf.Tensor, g: tf.Tensor, prev: Prev): FusedLeafResult {
  const k = prepared.length;
  const split = (x: tf.Tensor) => (k === 1 ? [tf.reshape(x, x.shape.slice(1))] : tf.unstack(x, 0));
  const [ps, gs, ms, rs] = [p, g, prev.m, prev.rms].map(split) as tf.Tensor[][];
  const facs = unstackTree(prev.fac as unknown as TensorTree, k) as unknown as FactoredSlot[];
  const outs = prepared.map((ft, c) => fusedAdafacStep(ft, iterations[c] as number, ps![c]!, gs![c]!, { m: ms![c]!, rms: rs![c]!, fac: facs[c]! }));
  return {
    p: tf.stack(outs.map((o) => o.p)),
    m: tf.stack(outs.map((o) => o.m)),
    rms: tf.stack(outs.map((o) => o.rms)),
    fac: stackTrees(outs.map((o) => o.fac as unknown as TensorTree)) as unknown as FactoredSlot,
  };
}

/**
 * The batched adafacMlpLOpt update through the fused WASM kernel (default sizes, params of
 * rank <= 2, no tape), copy by copy with each copy's own theta. On the WASM backend the
 * kernel reads and writes the copies in place inside the stacked tensors; on the CPU backend
 * the stacked tensors are split per copy and stacked again. Same values as the per-copy
 * fused updates. Returns a function of (state, grads), theta read once.
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
        const g = gl[i] as tf.Tensor;
        const prev = { m: state.state.mom[i] as tf.Tensor, rms: state.state.rms[i] as tf.Tensor, fac: state.state.fac[i] as FactoredSlot };
        if (p.rank <= 2) return stackedUnfactoredStep(prepared, state.iterations, p, g, prev);
        return stackedFactoredStep(prepared, state.iterations, p, g, prev) ?? splitLeafStep(prepared, state.iterations, p, g, prev);
      });
      return {
        params: treeUnflatten(structure, perLeaf.map((o) => o.p)),
        state: { mom: perLeaf.map((o) => o.m), rms: perLeaf.map((o) => o.rms), fac: perLeaf.map((o) => o.fac) },
      } as unknown as tf.TensorContainer;
    }) as unknown as { params: TensorTree; state: AdafacState };
}
