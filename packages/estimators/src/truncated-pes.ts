import * as tf from '@tensorflow/tfjs-core';
import { disposeTree, treeFlatten, treeUnflatten, type GradientEstimator, type Key, type TensorTree } from '@lopt/core';
import {
  ES_OPTION_KEYS,
  checkKnownOptions,
  estimateKeys,
  hostLosses,
  parseESOptions,
  perturb,
  samplePerturbations,
  type ESOptions,
} from './common.js';
import { disposeExcept } from './state.js';
import { fractionMasked } from './tbptt.js';
import { meanAbs } from './truncated-es.js';
import { batchTheta } from './truncated-step.js';

/** Options of {@link truncatedPES}. */
export type TruncatedPESOptions = ESOptions;

/** Worker state of {@link truncatedPES}. */
export interface TruncatedPESState {
  /** State of the inner trainings unrolled at theta + (accumulated) perturbations. */
  readonly pos: unknown;
  /** State of the inner trainings unrolled at theta - (accumulated) perturbations. */
  readonly neg: unknown;
  /**
   * Per-task sum of the perturbations the current episode has seen (leaves with a leading
   * task axis, like theta's): the PES accumulator `xi`.
   */
  readonly accumulator: TensorTree;
}

/**
 * Persistent evolution strategies (Vicol, Metz & Sohl-Dickstein 2021; learned_optimization's
 * `TruncatedPES`): unbiased gradient estimates from truncated unrolls. Separate persistent
 * + and - states are unrolled at `theta +/- eps_i` (same keys and data); the accumulator
 * `xi_i` holds the sum of the perturbations the task's current episode has been unrolled
 * with. With `Delta[t,i] = L+[t,i] - L-[t,i]` (`L` normalized meta-losses, `m` the mask),
 * `xi'_i = xi_i + eps_i` and `M_i = max(1, sum_t m[t,i])`:
 *
 * ```
 * old_i = sum_t Delta[t,i] (1 - after[t,i]) m[t,i] / M_i     // steps of the running episode
 * new_i = sum_t Delta[t,i] after[t,i] m[t,i] / M_i           // steps of episodes begun in this truncation
 * g     = mean_i (old_i xi'_i + new_i eps_i) / (2 std^2)
 * ```
 *
 * **Episode boundary (the off-by-one).** `isDone` is reported on the last *training* step
 * of an episode; the reset happens on the next step. Here `after[t,i]` is true for steps
 * strictly after the first `isDone` of the truncation, so the step that ends an episode is
 * weighted by the episode's accumulated perturbation `xi'_i`, like the rest of that
 * episode. (The reference uses the inclusive `cumsum(isDone) > 0` and weights that last
 * step by `eps_i` alone, which biases its contribution.) The next accumulator is `xi'_i`
 * if no episode ended, `eps_i` if one ended before the truncation's last step (the reset
 * ran at `theta + eps_i`), and 0 if it ended on the last step (the reset happens in the
 * next truncation, under that truncation's perturbation).
 *
 * Options as {@link ESOptions}; sign-ES takes the sign of each task's time-averaged
 * difference (as the reference), clipping and nan-to-num act on each `Delta[t,i]`.
 */
export function truncatedPES(options: TruncatedPESOptions): GradientEstimator<TruncatedPESState> {
  checkKnownOptions('truncatedPES', options, ES_OPTION_KEYS);
  const o = parseESOptions(options);
  const step = o.truncatedStep;
  const n = step.numTasks;
  const K = o.unrollLength;
  return {
    name: 'truncated-pes',
    init(theta: TensorTree, key: Key): TruncatedPESState {
      const batched = batchTheta(theta, n);
      const pos = step.init(batched, key);
      disposeExcept(batched, pos, theta);
      const { leaves, structure } = treeFlatten(theta);
      const accumulator = treeUnflatten(structure, leaves.map((x) => tf.zeros([n, ...x.shape])));
      // The - state starts as the same inner trainings as the + state.
      return { pos, neg: pos, accumulator };
    },
    estimate(theta: TensorTree, state: TruncatedPESState, key: Key) {
      const { perturbationKey, unrollKey } = estimateKeys(key);
      const eps = samplePerturbations(theta, perturbationKey, o.std, n);
      const pTheta = perturb(theta, eps, 1);
      const nTheta = perturb(theta, eps, -1);
      const p = step.unroll(pTheta, state.pos, unrollKey, K);
      const q = step.unroll(nTheta, state.neg, unrollKey, K);
      const lp = hostLosses(p.out.losses);
      const lq = hostLosses(q.out.losses);
      const mask = p.out.mask;
      const isDone = p.out.isDone;

      // Per-step differences, with nan-to-num and clipping.
      const delta = new Float64Array(K * n);
      let nonFinite = 0;
      for (let j = 0; j < K * n; j++) {
        let d = (lp[j] as number) - (lq[j] as number);
        if (!Number.isFinite(d)) {
          nonFinite++;
          if (o.nanToNum) d = 0;
        }
        if (o.clipLossDiff !== undefined) d = Math.min(o.clipLossDiff, Math.max(-o.clipLossDiff, d));
        delta[j] = d;
      }
      const meanDiff = new Float64Array(n);
      const oldCoef = new Float64Array(n);
      const newCoef = new Float64Array(n);
      const nextAcc = new Array<'sum' | 'eps' | 'zero'>(n);
      let meanLoss = 0;
      let episodesFinished = 0;
      const scale = 1 / (2 * o.std * o.std);
      for (let i = 0; i < n; i++) {
        let count = 0;
        let firstDone = -1;
        let lastDone = -1;
        let pSum = 0;
        let qSum = 0;
        let dSum = 0;
        for (let t = 0; t < K; t++) {
          if ((mask[t] as readonly boolean[])[i]) {
            count++;
            pSum += lp[t * n + i] as number;
            qSum += lq[t * n + i] as number;
            dSum += delta[t * n + i] as number;
          }
          if ((isDone[t] as readonly boolean[])[i]) {
            if (firstDone < 0) firstDone = t;
            lastDone = t;
            episodesFinished++;
          }
        }
        const M = Math.max(1, count);
        meanLoss += (pSum / M + qSum / M) / 2 / n;
        meanDiff[i] = dSum / M;
        const sign = o.signDeltaLossScalar === undefined ? undefined : Math.sign(dSum / M) * o.signDeltaLossScalar;
        let oldSum = 0;
        let newSum = 0;
        for (let t = 0; t < K; t++) {
          if (!(mask[t] as readonly boolean[])[i]) continue;
          const d = sign ?? (delta[t * n + i] as number);
          if (firstDone >= 0 && t > firstDone) newSum += d;
          else oldSum += d;
        }
        oldCoef[i] = (oldSum / M) * scale;
        newCoef[i] = (newSum / M) * scale;
        nextAcc[i] = lastDone < 0 ? 'sum' : lastDone === K - 1 ? 'zero' : 'eps';
      }

      const { leaves: accLeaves, structure } = treeFlatten(state.accumulator);
      const epsLeaves = treeFlatten(eps).leaves;
      const gradLeaves: tf.Tensor[] = [];
      const newAccLeaves: tf.Tensor[] = [];
      for (let j = 0; j < accLeaves.length; j++) {
        const acc = accLeaves[j] as tf.Tensor;
        const e = epsLeaves[j] as tf.Tensor;
        const shape = [n, ...acc.shape.slice(1).map(() => 1)];
        const [g, next] = tf.tidy(() => {
          const summed = tf.add(acc, e);
          const co = tf.reshape(tf.tensor1d(Float32Array.from(oldCoef)), shape);
          const cn = tf.reshape(tf.tensor1d(Float32Array.from(newCoef)), shape);
          const grad = tf.div(tf.sum(tf.add(tf.mul(summed, co), tf.mul(e, cn)), 0), n);
          const keepSum = tf.reshape(tf.tensor1d(Float32Array.from(nextAcc.map((a) => (a === 'sum' ? 1 : 0)))), shape);
          const keepEps = tf.reshape(tf.tensor1d(Float32Array.from(nextAcc.map((a) => (a === 'eps' ? 1 : 0)))), shape);
          return [grad, tf.add(tf.mul(summed, keepSum), tf.mul(e, keepEps))];
        }) as [tf.Tensor, tf.Tensor];
        gradLeaves.push(g);
        newAccLeaves.push(next);
      }
      const next: TruncatedPESState = { pos: p.state, neg: q.state, accumulator: treeUnflatten(structure, newAccLeaves) };
      disposeTree(p.out.losses);
      disposeTree(q.out.losses);
      disposeTree(eps);
      disposeExcept([pTheta, nTheta], next, theta);
      return {
        grad: treeUnflatten(structure, gradLeaves),
        meanLoss,
        state: next,
        metrics: {
          innerSteps: 2 * K * n,
          maskedFraction: fractionMasked(mask),
          episodesFinished,
          nonFiniteLossDiffs: nonFinite,
          meanAbsLossDiff: meanAbs(meanDiff),
        },
      };
    },
  };
}
