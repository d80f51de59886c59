import * as tf from '@tensorflow/tfjs-core';
import { LoptError, type OptState } from '@lopt/core';

/**
 * The counters every guard keeps in `state.stats`, one int32 scalar tensor each (so they
 * are part of the state tree and survive a checkpoint round-trip):
 *
 * | name | meaning |
 * |---|---|
 * | `learnedIteration` | the wrapped (learned) optimizer's own `iteration` |
 * | `fallbackIteration` | the fallback optimizer's own `iteration` |
 * | `learnedSteps` | steps whose new parameters came from the learned optimizer |
 * | `fallbackSteps` | steps whose new parameters came from the fallback |
 * | `skippedSteps` | steps where no candidate was finite: parameters left unchanged |
 * | `checks` | checked steps (a loss or residual comparison was made) |
 * | `accepted` | learned candidates that passed a check |
 * | `rejected` | learned candidates refused (by a check, or for being non-finite) |
 * | `nonFinite` | steps on which some candidate, loss or residual was NaN or infinite |
 * | `lossEvals` | forward evaluations of the loss callback made by the guard |
 * | `gradEvals` | forward+backward evaluations of the loss callback (lookahead) made by the guard |
 * | `residualEvals` | evaluations of the residual callback made by the guard |
 * | `leader` | the branch unchecked steps follow: 0 learned, 1 fallback |
 */
export const GUARD_STAT_NAMES = [
  'learnedIteration',
  'fallbackIteration',
  'learnedSteps',
  'fallbackSteps',
  'skippedSteps',
  'checks',
  'accepted',
  'rejected',
  'nonFinite',
  'lossEvals',
  'gradEvals',
  'residualEvals',
  'leader',
] as const;

/** One of {@link GUARD_STAT_NAMES}. */
export type GuardStatName = (typeof GUARD_STAT_NAMES)[number];

/** The counters as they live in the state: name-keyed int32 scalars. */
export type GuardStatsTree = { [K in GuardStatName]: tf.Scalar };

/** The counters read back as numbers. */
export type GuardCounts = { [K in GuardStatName]: number };

/** The value of `leader` when unchecked steps follow the learned optimizer. */
export const LEADER_LEARNED = 0;
/** The value of `leader` when unchecked steps follow the fallback optimizer. */
export const LEADER_FALLBACK = 1;

/** Counters with every value 0, except the ones given. */
export function zeroCounts(overrides: Partial<GuardCounts> = {}): GuardCounts {
  const out = {} as GuardCounts;
  for (const name of GUARD_STAT_NAMES) out[name] = overrides[name] ?? 0;
  return out;
}

/** Builds the state's counter tensors. */
export function statsTree(counts: GuardCounts): GuardStatsTree {
  const out = {} as GuardStatsTree;
  for (const name of GUARD_STAT_NAMES) out[name] = tf.scalar(counts[name], 'int32');
  return out;
}

/** Reads the counters with a single device read. */
export function readCounts(stats: GuardStatsTree): GuardCounts {
  const missing = GUARD_STAT_NAMES.filter((n) => !(stats[n] instanceof tf.Tensor));
  if (missing.length > 0) {
    throw new LoptError('TREE_MISMATCH', `Guard state is missing counters: ${missing.join(', ')} (at 'state.stats').`, {
      path: `state.stats.${missing[0]}`,
    });
  }
  // One Pack kernel and one read (casts only for counters not stored as int32).
  const values = tf.tidy(() => tf.stack(GUARD_STAT_NAMES.map((n) => (stats[n].dtype === 'int32' ? stats[n] : tf.cast(stats[n], 'int32')))).dataSync());
  return zeroCounts(Object.fromEntries(GUARD_STAT_NAMES.map((n, i) => [n, values[i] as number])) as GuardCounts);
}

/** New counter tensors: unchanged counters reuse the old tensor, changed ones are new. */
export function updateStats(old: GuardStatsTree, before: GuardCounts, after: GuardCounts): GuardStatsTree {
  const out = {} as GuardStatsTree;
  for (const name of GUARD_STAT_NAMES) out[name] = before[name] === after[name] ? old[name] : tf.scalar(after[name], 'int32');
  return out;
}

/** A guard's counters and the rates derived from them (see {@link guardStats}). */
export interface GuardReport extends GuardCounts {
  /** The guard's own iteration (number of `update` calls). */
  readonly iteration: number;
  /** `accepted / (accepted + rejected)`: the share of judged learned candidates that were kept (NaN before any). */
  readonly acceptanceRate: number;
  /** `learnedSteps / iteration`: the share of steps that moved the parameters with the learned optimizer. */
  readonly learnedFraction: number;
  /** Extra loss evaluations per step (forward passes, lookahead included): `(lossEvals + gradEvals) / iteration`. */
  readonly lossEvalsPerStep: number;
  /** Extra gradient evaluations per step (backward passes): `gradEvals / iteration`. */
  readonly gradEvalsPerStep: number;
  /** Extra residual evaluations per step: `residualEvals / iteration`. */
  readonly residualEvalsPerStep: number;
}

/**
 * The switching statistics of a guarded optimizer's state, as numbers (one device read).
 * Works for the state of {@link lossGuarded}, {@link safeguarded} and {@link divergenceGuard}.
 *
 * @example
 * ```ts
 * const r = guardStats(state);
 * console.log(`${(100 * r.learnedFraction).toFixed(1)}% learned steps, ${r.lossEvalsPerStep} extra forward passes/step`);
 * ```
 */
export function guardStats(state: OptState<{ readonly stats: GuardStatsTree }>): GuardReport {
  const s = state.state as { stats?: GuardStatsTree } | undefined;
  if (s === undefined || typeof s !== 'object' || s.stats === undefined) {
    throw new LoptError('TREE_MISMATCH', "guardStats: the state has no 'stats' (is it a guard's state?).", { path: 'state.stats' });
  }
  const c = readCounts(s.stats);
  const it = state.iteration;
  const judged = c.accepted + c.rejected;
  return {
    ...c,
    iteration: it,
    acceptanceRate: judged === 0 ? Number.NaN : c.accepted / judged,
    learnedFraction: it === 0 ? Number.NaN : c.learnedSteps / it,
    lossEvalsPerStep: it === 0 ? 0 : (c.lossEvals + c.gradEvals) / it,
    gradEvalsPerStep: it === 0 ? 0 : c.gradEvals / it,
    residualEvalsPerStep: it === 0 ? 0 : c.residualEvals / it,
  };
}
