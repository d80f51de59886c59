import * as tf from '@tensorflow/tfjs-core';
import { disposeTree, treeFlatten, treeUnflatten, type GradientEstimator, type Key, type TensorTree } from '@lopt/core';
import {
  antitheticThetas,
  checkESOptions,
  estimateKeys,
  hostLosses,
  processLossDiffs,
  type ESOptions,
  type ParsedESOptions,
} from './common.js';
import { disposeExcept } from './state.js';
import { fractionMasked } from './tbptt.js';
import { meanAbs } from './truncated-es.js';
import { batchTheta, initAtTheta, unrollAll, type TruncatedUnrollOut } from './truncated-step.js';

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
  const o = checkESOptions('truncatedPES', options);
  const step = o.truncatedStep;
  const n = step.numTasks;
  const K = o.unrollLength;
  return {
    name: 'truncated-pes',
    init(theta: TensorTree, key: Key): TruncatedPESState {
      const pos = initAtTheta(step, theta, key);
      const { leaves, structure } = treeFlatten(theta);
      const accumulator = treeUnflatten(structure, leaves.map((x) => tf.zeros([n, ...x.shape])));
      // The - state starts as the same inner trainings as the + state.
      return { pos, neg: pos, accumulator };
    },
    estimate(theta: TensorTree, state: TruncatedPESState, key: Key) {
      const { perturbationKey, unrollKey } = estimateKeys(key);
      const { eps, pTheta, nTheta } = antitheticThetas(theta, perturbationKey, o.std, n);
      // the + and - copies share keys and data: one batched computation when the step offers it
      const [p, q] = unrollAll(step, [{ thetas: pTheta, state: state.pos }, { thetas: nTheta, state: state.neg }], unrollKey, K) as [Unrolled, Unrolled];
      const c = pesCoefficients(hostLosses(p.out.losses), hostLosses(q.out.losses), p.out.mask, p.out.isDone, o);
      const { grad, accumulator } = pesTensorStep(state.accumulator, eps, c);
      const next: TruncatedPESState = { pos: p.state, neg: q.state, accumulator };
      disposeTree([p.out.losses, q.out.losses, eps]);
      disposeExcept([pTheta, nTheta], next, theta);
      return {
        grad,
        meanLoss: c.meanLoss,
        state: next,
        metrics: {
          innerSteps: 2 * K * n,
          maskedFraction: fractionMasked(p.out.mask),
          episodesFinished: c.episodesFinished,
          nonFiniteLossDiffs: c.nonFinite,
          meanAbsLossDiff: meanAbs(c.meanDiff),
        },
      };
    },
  };
}

type Unrolled = { state: unknown; out: TruncatedUnrollOut };

/** What {@link pesCoefficients} computes from one truncation's losses (all on the host). */
export interface PESCoefficients {
  /** Per task: the weight of `xi'_i = xi_i + eps_i` in the gradient (`old_i / (2 std^2)`). */
  readonly oldCoef: Float64Array;
  /** Per task: the weight of `eps_i` (`new_i / (2 std^2)`). */
  readonly newCoef: Float64Array;
  /** Per task: the next accumulator (`sum`: xi'_i, `eps`: eps_i, `zero`: 0). */
  readonly nextAcc: readonly ('sum' | 'eps' | 'zero')[];
  /** Per task: the time-mean loss difference. */
  readonly meanDiff: Float64Array;
  /** Mean of the + and - time-mean losses over tasks. */
  readonly meanLoss: number;
  /** Episodes that ended in the truncation (over tasks). */
  readonly episodesFinished: number;
  /** Non-finite loss differences seen. */
  readonly nonFinite: number;
}

/**
 * The pure part of a PES estimate: from the + and - losses `[K * n]` (step-major), the mask
 * and the episode ends of one truncation, each task's gradient coefficients and next
 * accumulator (the formulas of {@link truncatedPES}), with nan-to-num, clipping and sign-ES.
 */
export function pesCoefficients(
  lp: Float64Array,
  lq: Float64Array,
  mask: readonly (readonly boolean[])[],
  isDone: readonly (readonly boolean[])[],
  o: Pick<ParsedESOptions, 'std' | 'nanToNum' | 'clipLossDiff' | 'signDeltaLossScalar'>,
): PESCoefficients {
  const K = mask.length;
  const n = lp.length / Math.max(1, K);
  const delta = Float64Array.from(lp, (v, j) => v - (lq[j] as number));
  const nonFinite = processLossDiffs(delta, o as ParsedESOptions, false);
  const c = { oldCoef: new Float64Array(n), newCoef: new Float64Array(n), meanDiff: new Float64Array(n), nextAcc: new Array<'sum' | 'eps' | 'zero'>(n) };
  let meanLoss = 0;
  let episodesFinished = 0;
  const scale = 1 / (2 * o.std * o.std);
  for (let i = 0; i < n; i++) {
    let count = 0;
    let firstDone = -1;
    let lastDone = -1;
    let [pSum, qSum, dSum] = [0, 0, 0];
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
    c.meanDiff[i] = dSum / M;
    const sign = o.signDeltaLossScalar === undefined ? undefined : Math.sign(dSum / M) * o.signDeltaLossScalar;
    let [oldSum, newSum] = [0, 0];
    for (let t = 0; t < K; t++) {
      if (!(mask[t] as readonly boolean[])[i]) continue;
      const d = sign ?? (delta[t * n + i] as number);
      if (firstDone >= 0 && t > firstDone) newSum += d;
      else oldSum += d;
    }
    c.oldCoef[i] = (oldSum / M) * scale;
    c.newCoef[i] = (newSum / M) * scale;
    c.nextAcc[i] = lastDone < 0 ? 'sum' : lastDone === K - 1 ? 'zero' : 'eps';
  }
  return { ...c, meanLoss, episodesFinished, nonFinite };
}

/**
 * The tensor part of a PES estimate: `g = mean_i (oldCoef_i xi'_i + newCoef_i eps_i)` and the
 * next accumulator per leaf (`xi' = xi + eps`; leaves with a leading task axis).
 */
export function pesTensorStep(accumulator: TensorTree, eps: TensorTree, c: PESCoefficients): { grad: TensorTree; accumulator: TensorTree } {
  const n = c.oldCoef.length;
  const { leaves: accLeaves, structure } = treeFlatten(accumulator);
  const epsLeaves = treeFlatten(eps).leaves;
  const column = (v: ArrayLike<number>, shape: number[]) => tf.reshape(tf.tensor1d(Float32Array.from(v)), shape);
  const pairs = accLeaves.map((acc, j) =>
    tf.tidy(() => {
      const e = epsLeaves[j] as tf.Tensor;
      const shape = [n, ...acc.shape.slice(1).map(() => 1)];
      const summed = tf.add(acc, e);
      const grad = tf.div(tf.sum(tf.add(tf.mul(summed, column(c.oldCoef, shape)), tf.mul(e, column(c.newCoef, shape))), 0), n);
      const keepSum = column(c.nextAcc.map((a) => (a === 'sum' ? 1 : 0)), shape);
      const keepEps = column(c.nextAcc.map((a) => (a === 'eps' ? 1 : 0)), shape);
      return [grad, tf.add(tf.mul(summed, keepSum), tf.mul(e, keepEps))];
    }) as [tf.Tensor, tf.Tensor],
  );
  return { grad: treeUnflatten(structure, pairs.map((p) => p[0])), accumulator: treeUnflatten(structure, pairs.map((p) => p[1])) };
}
