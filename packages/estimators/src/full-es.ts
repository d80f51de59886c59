import { LoptError, checkNumber, checkOneOf, disposeTree, split, type GradientEstimator, type Key, type TensorTree } from '@lopt/core';
import {
  ES_OPTION_KEYS,
  antitheticGradient,
  antitheticThetas,
  checkESOptions,
  hostLosses,
  type ESOptions,
} from './common.js';
import { disposeExcept } from './state.js';
import { meanAbs } from './truncated-es.js';
import { checkTruncationSchedule, type TruncationSchedule } from './truncation.js';

/**
 * How `fullES` turns an episode's losses into one number per task:
 * `avg` the mean over all steps, `min` the smallest, `last` the final step's,
 * `lastRecompute` the meta-loss at the final parameters averaged over `recomputeSamples`
 * fresh batches (needs {@link TruncatedStep.evaluate}).
 */
export type FullESLossType = 'avg' | 'min' | 'last' | 'lastRecompute';

/** Options of {@link fullES}. */
export interface FullESOptions extends ESOptions {
  /** Loss of an episode; default `avg`. */
  readonly lossType?: FullESLossType;
  /** Batches averaged by `lastRecompute`. Default 50 (the reference). */
  readonly recomputeSamples?: number;
  /**
   * Draws each estimate's episode length (`init(key).length`); default: always
   * `unrollLength`. For example `logUniformTruncation(100, 1000)`.
   */
  readonly lengthSchedule?: TruncationSchedule;
}

/** Worker state of {@link fullES}: none (every estimate starts fresh episodes). */
export type FullESState = Record<string, never>;

/**
 * Antithetic evolution strategies over whole episodes (learned_optimization's `FullES`):
 * each estimate starts fresh inner trainings at `theta +/- eps_i` (same key, so the same
 * tasks, initializations and data), unrolls a full episode of a sampled length, reduces
 * each task's losses by `lossType`, and returns
 * `g = mean_i (L+_i - L-_i) eps_i / (2 std^2)` after nan-to-num, clipping and sign-ES.
 * Unbiased for the Gaussian-smoothed episode loss, and costly: no state persists.
 */
export function fullES(options: FullESOptions): GradientEstimator<FullESState> {
  const o = checkESOptions('fullES', options, [...ES_OPTION_KEYS, 'lossType', 'recomputeSamples', 'lengthSchedule']);
  const lossType = checkOneOf('lossType', options.lossType ?? 'avg', ['avg', 'min', 'last', 'lastRecompute'] as const);
  const recomputeSamples = checkNumber('recomputeSamples', options.recomputeSamples ?? 50, { integer: true, min: 1 });
  const schedule = options.lengthSchedule === undefined ? undefined : checkTruncationSchedule('lengthSchedule', options.lengthSchedule);
  const step = o.truncatedStep;
  if (lossType === 'lastRecompute' && typeof step.evaluate !== 'function') {
    throw new LoptError('INVALID_OPTION', "Option 'lossType' 'lastRecompute' needs a truncatedStep with evaluate().", { option: 'lossType' });
  }
  const n = step.numTasks;
  return {
    name: 'full-es',
    init: () => ({}),
    estimate(theta: TensorTree, state: FullESState, key: Key) {
      const [kLen, kPert, kInit, kUnroll, kEval] = split(key, 5) as [Key, Key, Key, Key, Key];
      let length = o.unrollLength;
      if (schedule !== undefined) {
        const l = schedule.init(kLen).length;
        if (l === null) throw new LoptError('INVALID_OPTION', "Option 'lengthSchedule' must give finite lengths.", { option: 'lengthSchedule' });
        length = l;
      }
      const { eps, pTheta, nTheta } = antitheticThetas(theta, kPert, o.std, n);
      const reduce = (th: TensorTree): Float64Array => {
        const s0 = step.init(th, kInit, { episodeLength: length });
        const r = step.unroll(th, s0, kUnroll, length);
        disposeExcept(s0, r.state);
        const out = new Float64Array(n);
        if (lossType === 'lastRecompute') {
          const ev = (step.evaluate as NonNullable<typeof step.evaluate>)(th, r.state, kEval, recomputeSamples);
          out.set(Float64Array.from(ev.dataSync() as Float32Array));
          ev.dispose();
        } else {
          const l = hostLosses(r.out.losses);
          for (let i = 0; i < n; i++) {
            const vals: number[] = [];
            for (let t = 0; t < length; t++) if ((r.out.mask[t] as readonly boolean[])[i]) vals.push(l[t * n + i] as number);
            out[i] =
              vals.length === 0 ? 0
              : lossType === 'avg' ? vals.reduce((a, b) => a + b, 0) / vals.length
              : lossType === 'min' ? vals.reduce((a, b) => (b < a || Number.isNaN(b) ? b : a))
              : (vals[vals.length - 1] as number);
          }
        }
        r.out.losses.dispose();
        disposeExcept(r.state);
        return out;
      };
      const lp = reduce(pTheta);
      const ln = reduce(nTheta);
      const { grad, meanLoss, diffs, nonFinite } = antitheticGradient(lp, ln, eps, o);
      disposeTree(eps);
      disposeExcept([pTheta, nTheta], theta);
      return {
        grad,
        meanLoss,
        state,
        metrics: { innerSteps: 2 * length * n, episodeLength: length, nonFiniteLossDiffs: nonFinite, meanAbsLossDiff: meanAbs(diffs) },
      };
    },
  };
}
