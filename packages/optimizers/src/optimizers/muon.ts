import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, treeMap, treeZerosLike, type GradientTransformation, type TensorTree } from '@lopt/core';
import { chain, optimizerFrom, type TransformationOptimizer } from '../transformation.js';
import { checkBoolean, checkKnownOptions, checkLearningRate, counter, readCount, type LearningRate } from '../hyper.js';
import { scaleByAdam } from '../transforms/adam.js';
import { masked, checkMask, type Mask } from '../transforms/masked.js';
import { addDecayedWeights } from '../transforms/momentum.js';
import { newtonSchulzChecked, newtonSchulzConfig, NEWTON_SCHULZ_COEFFS } from '../transforms/newton_schulz.js';
import { scaleByLearningRate } from '../transforms/scale.js';

/** Options of {@link scaleByMuon}. */
export interface ScaleByMuonOptions {
  /** Newton–Schulz coefficients `(a, b, c)`. Default `(3.4445, -4.7750, 2.0315)`. */
  readonly nsCoeffs?: readonly [number, number, number];
  /** Newton–Schulz iterations. Default 5. */
  readonly nsSteps?: number;
  /** Momentum decay. Default 0.95. */
  readonly beta?: number;
  /** Added to the Frobenius norm before Newton–Schulz. Default 1e-8. */
  readonly eps?: number;
  /** Nesterov momentum (optax's bias-corrected form). Default true. */
  readonly nesterov?: boolean;
  /** Scale each update by `<m^, O>` (Bernstein & Newhouse 2024). Default false. */
  readonly adaptive?: boolean;
}

/** State of {@link scaleByMuon}: the step counter and the momentum. */
export type ScaleByMuonState = { count: tf.Scalar; mu: TensorTree };

/**
 * Muon's momentum and orthogonalization for matrices (optax contrib `scale_by_muon` with
 * Frobenius preconditioning): `m = beta m + (1 - beta) g`; with Nesterov
 * `m^ = beta m / (1 - beta^(t+1)) + (1 - beta) g / (1 - beta^t)`, else `m / (1 - beta^t)`;
 * the update is the Newton–Schulz orthogonalization of `m^` (optionally times `<m^, O>`).
 */
export function scaleByMuon(options: ScaleByMuonOptions = {}): GradientTransformation<ScaleByMuonState> {
  checkKnownOptions('scaleByMuon', options, ['nsCoeffs', 'nsSteps', 'beta', 'eps', 'nesterov', 'adaptive']);
  const beta = checkNumber('beta', options.beta ?? 0.95, { min: 0, lessThan: 1 });
  const ns = newtonSchulzConfig({ coeffs: options.nsCoeffs ?? NEWTON_SCHULZ_COEFFS, iterations: options.nsSteps ?? 5, eps: options.eps ?? 1e-8 });
  const nesterov = checkBoolean('nesterov', options.nesterov, true);
  const adaptive = checkBoolean('adaptive', options.adaptive, false);
  return {
    init: (params) => ({ count: counter(0), mu: treeZerosLike(params) }),
    update(updates, state) {
      const t = readCount(state.count) + 1;
      const mu = treeMap((g, m) => tf.add(tf.mul(beta, m), tf.mul(1 - beta, g)), updates, state.mu);
      const out = treeMap(
        (g, m) => {
          if (g.rank !== 2) throw new LoptError('SHAPE_MISMATCH', `scaleByMuon orthogonalizes matrices only; got a leaf of rank ${g.rank}.`, { option: 'updates' });
          const mHat = nesterov ? tf.add(tf.mul(beta / (1 - beta ** (t + 1)), m), tf.mul((1 - beta) / (1 - beta ** t), g)) : tf.div(m, 1 - beta ** t);
          const o = newtonSchulzChecked(mHat, ns);
          return adaptive ? tf.mul(tf.sum(tf.mul(mHat, o)), o) : o;
        },
        updates,
        mu,
      );
      return { updates: out, state: { count: counter(t), mu } };
    },
  };
}

/**
 * Scales each matrix update by its shape (optax contrib `scale_by_shape`): `sqrt(max(1, out/in))`
 * for a `[in, out]` matrix (Jordan's width transfer), or with `consistentRms` set,
 * `sqrt(max(in, out)) * consistentRms` (Liu et al. 2025). Stateless.
 */
export function scaleByShape(consistentRms?: number): GradientTransformation<{ [name: string]: never }> {
  const rms = consistentRms === undefined ? undefined : checkNumber('consistentRms', consistentRms, { greaterThan: 0 });
  return {
    init: () => ({}),
    update: (updates, state) => ({
      updates: treeMap((u) => {
        const [fanIn, fanOut] = [u.shape[0] as number, u.shape[1] as number];
        return tf.mul(u, rms === undefined ? Math.sqrt(Math.max(1, fanOut / fanIn)) : Math.sqrt(Math.max(fanIn, fanOut)) * rms);
      }, updates),
      state,
    }),
  };
}

/** Options of {@link muon} (optax contrib `muon`'s, camelCased). */
export interface MuonOptions extends ScaleByMuonOptions {
  /** Step size or schedule for the matrices. Default 0.02 (optax has no default; Jordan's Muon uses 0.02). */
  readonly learningRate?: LearningRate;
  /** Decoupled weight decay of the matrices, times the learning rate. Default 0. */
  readonly weightDecay?: number;
  /** Which matrices to decay. Default all. */
  readonly weightDecayMask?: Mask;
  /** Adam's first-moment decay for the other leaves. Default 0.9. */
  readonly adamB1?: number;
  /** Adam's second-moment decay. Default 0.999. */
  readonly adamB2?: number;
  /** Adam's epsilon inside the root. Default 0. */
  readonly adamEpsRoot?: number;
  /** Adam's decoupled weight decay. Default 0. */
  readonly adamWeightDecay?: number;
  /** Adam's learning rate; default the matrices'. */
  readonly adamLearningRate?: LearningRate;
  /** `sqrt(max(in, out)) * consistentRms` shape scaling instead of width scaling. */
  readonly consistentRms?: number;
}

const MUON_KEYS = ['learningRate', 'nsCoeffs', 'nsSteps', 'beta', 'eps', 'nesterov', 'adaptive', 'weightDecay', 'weightDecayMask',
  'adamB1', 'adamB2', 'adamEpsRoot', 'adamWeightDecay', 'adamLearningRate', 'consistentRms'];

/**
 * Muon, "MomentUm Orthogonalized by Newton–Schulz" (Jordan 2024; optax contrib `muon`): every
 * rank-2 leaf gets {@link scaleByMuon}, {@link scaleByShape}, decoupled weight decay and the
 * learning rate; every other leaf gets AdamW (with Nesterov, epsilon `eps`, as optax). As in
 * optax, a matrix is `[in, out]` (`x W`). Not ported: the 'spectral', 'aol' and 'schatten'
 * preconditionings, per-iteration coefficient presets ('dion'), dimension numbers for
 * higher-rank weights, and `mu_dtype`.
 *
 * @example
 * ```ts
 * const opt = muon({ learningRate: 0.02, adamLearningRate: 3e-3 });
 * ```
 */
export function muon(options: MuonOptions = {}): TransformationOptimizer<TensorTree[]> {
  checkKnownOptions('muon', options, MUON_KEYS);
  const lr = checkLearningRate('learningRate', options.learningRate ?? 0.02);
  const adamLr = options.adamLearningRate === undefined ? lr : checkLearningRate('adamLearningRate', options.adamLearningRate);
  const wd = checkNumber('weightDecay', options.weightDecay ?? 0, { min: 0 });
  const eps = checkNumber('eps', options.eps ?? 1e-8, { min: 0 });
  const nesterov = checkBoolean('nesterov', options.nesterov, true);
  const decayMask = options.weightDecayMask === undefined ? undefined : checkMask('weightDecayMask', options.weightDecayMask);
  const isMatrix = (_path: string, p: tf.Tensor) => p.rank === 2;
  const matrices = chain(
    scaleByMuon({ ...pick(options, ['nsCoeffs', 'nsSteps', 'beta', 'adaptive']), eps, nesterov }),
    scaleByShape(options.consistentRms),
    addDecayedWeights(wd, decayMask === undefined ? {} : { mask: decayMask }),
    scaleByLearningRate(lr),
  );
  const others = chain(
    scaleByAdam({ beta1: checkNumber('adamB1', options.adamB1 ?? 0.9, { min: 0, lessThan: 1 }), beta2: checkNumber('adamB2', options.adamB2 ?? 0.999, { min: 0, lessThan: 1 }), epsilon: eps, epsilonRoot: checkNumber('adamEpsRoot', options.adamEpsRoot ?? 0, { min: 0 }), nesterov }),
    addDecayedWeights(checkNumber('adamWeightDecay', options.adamWeightDecay ?? 0, { min: 0 })),
    scaleByLearningRate(adamLr),
  );
  const tx = chain(masked(matrices, isMatrix), masked(others, (path, p) => !isMatrix(path, p)));
  return optimizerFrom(tx, 'muon', {
    config: { learningRate: lr, weightDecay: wd, eps, nesterov, beta: options.beta ?? 0.95, nsSteps: options.nsSteps ?? 5, consistentRms: options.consistentRms, adaptive: options.adaptive ?? false },
  });
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
