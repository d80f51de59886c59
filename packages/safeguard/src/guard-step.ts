import * as tf from '@tensorflow/tfjs-core';
import type { OptState, Optimizer, OptimizerInitOptions, TensorTree, UpdateContext } from '@lopt/core';
import {
  branchContext,
  branchInitOptions,
  checkAdvance,
  checkEvery,
  checkName,
  checkOptimizer,
  checkOptionsObject,
  disposeUnused,
  finiteProbe,
  innerState,
  isFiniteNumber,
  readScalars,
} from './internal.js';
import { LEADER_LEARNED, readCounts, statsTree, updateStats, zeroCounts, type GuardCounts } from './stats.js';
import type { AdvancePolicy, GuardState } from './types.js';

/** The options every guard takes, validated, plus the raw options bag for the guard's own. */
export interface CommonGuardOptions {
  /** The options bag (own keys checked against the guard's known list). */
  readonly raw: Record<string, unknown>;
  /** Check every `every` steps. */
  readonly every: number;
  /** Which inner states advance. */
  readonly policy: AdvancePolicy;
  /** The guard's name. */
  readonly name: string;
}

/**
 * Validates what every guard validates: the options bag against `known`, the two optimizers
 * (the first named `learnedOption`), `every`, `advance` (default `defaultAdvance`) and
 * `name` (default `<fn>(<learned>,<fallback>)`).
 */
export function checkGuardOptions(
  fn: string,
  options: unknown,
  known: readonly string[],
  branches: { readonly learned: Optimizer<unknown>; readonly fallback: Optimizer<unknown>; readonly learnedOption: string },
  defaultAdvance: AdvancePolicy,
): CommonGuardOptions {
  const raw = checkOptionsObject(fn, options, known);
  checkOptimizer(branches.learnedOption, branches.learned);
  checkOptimizer('fallback', branches.fallback);
  return {
    raw,
    every: checkEvery(raw['every']),
    policy: checkAdvance(raw['advance'], defaultAdvance),
    name: checkName(raw['name'], `${fn}(${branches.learned.name},${branches.fallback.name})`),
  };
}

/** The initial guard state: both inner states (each with its own key) and zeroed counters. */
export function initGuard<SL, SF>(
  learned: Optimizer<SL>,
  fallback: Optimizer<SF>,
  params: TensorTree,
  opts: OptimizerInitOptions | undefined,
  counts: Partial<GuardCounts> = {},
): GuardState<SL, SF> {
  const l = learned.init(params, branchInitOptions(opts, 0));
  const f = fallback.init(params, branchInitOptions(opts, 1));
  const stats = statsTree(zeroCounts({ ...counts, learnedIteration: l.iteration, fallbackIteration: f.iteration, leader: LEADER_LEARNED }));
  return { learned: l.state, fallback: f.state, stats };
}

/** What one guarded step starts from: the counters before and after (mutable), and the two branch steps. */
export interface GuardStep<SL, SF> {
  /** The guard state the step starts from. */
  readonly gs: GuardState<SL, SF>;
  /** The counters as read at the start of the step. */
  readonly before: GuardCounts;
  /** The counters the step updates (starts as a copy of `before`). */
  readonly c: GuardCounts;
  /** The guard's iteration of this step. */
  readonly iteration: number;
  /** The update contexts of the two branches (each with its own key). */
  readonly ctxL: UpdateContext | undefined;
  readonly ctxF: UpdateContext | undefined;
  /** The learned branch's update from the current state. */
  readonly runL: () => OptState<SL>;
  /** The fallback branch's update from the current state. */
  readonly runF: () => OptState<SF>;
}

/** Reads the counters and prepares the two branch updates (each with its own key) of one step. */
export function beginStep<SL, SF>(
  learned: Optimizer<SL>,
  fallback: Optimizer<SF>,
  state: OptState<GuardState<SL, SF>>,
  grads: TensorTree,
  ctx: UpdateContext | undefined,
): GuardStep<SL, SF> {
  const gs = state.state;
  const before = readCounts(gs.stats);
  const ctxL = branchContext(ctx, 0);
  const ctxF = branchContext(ctx, 1);
  return {
    gs,
    before,
    c: { ...before },
    iteration: state.iteration,
    ctxL,
    ctxF,
    runL: () => learned.update(innerState(state.params, gs.learned, before.learnedIteration), grads, ctxL),
    runF: () => fallback.update(innerState(state.params, gs.fallback, before.fallbackIteration), grads, ctxF),
  };
}

/** A finiteness probe of a candidate's params, kept in `probes` for disposal, read at once. */
export function probeFinite(params: TensorTree, probes: tf.Tensor[]): boolean {
  const p = finiteProbe(params);
  probes.push(p);
  return isFiniteNumber(readScalars([p])[0]);
}

/** How a guarded step ended. */
export interface StepDecision<SL, SF> {
  /** Which candidate's params the step takes (`undefined`: neither is finite; params stay). */
  readonly chosen: 'learned' | 'fallback' | undefined;
  /** Whether each candidate is finite (used by the `'both'` policy). */
  readonly healthyL: boolean;
  readonly healthyF: boolean;
  /** The candidate steps (absent where a branch was not evaluated). */
  readonly candL: OptState<SL> | undefined;
  readonly candF: OptState<SF> | undefined;
}

/**
 * Ends a guarded step: takes the params of the chosen candidate (or keeps the current ones
 * when none is finite), advances the branch states that `policy` says advance, writes the
 * counters, adds the guard's own state fields `extra`, and disposes the candidates and
 * `unused` tensors that the new state does not hold.
 */
export function finishStep<SL, SF, X extends object>(
  step: GuardStep<SL, SF>,
  state: OptState<GuardState<SL, SF>>,
  policy: AdvancePolicy,
  decision: StepDecision<SL, SF>,
  io: { readonly grads: TensorTree; readonly ctx: UpdateContext | undefined; readonly unused: readonly unknown[]; readonly extra: X },
): OptState<GuardState<SL, SF> & X> {
  const { chosen, candL, candF } = decision;
  const counts = step.c;
  const advanceL = policy === 'both' ? decision.healthyL : chosen === 'learned';
  const advanceF = policy === 'both' ? decision.healthyF : chosen === 'fallback';
  const nextL = advanceL && candL ? candL : undefined;
  const nextF = advanceF && candF ? candF : undefined;
  if (nextL) counts.learnedIteration = nextL.iteration;
  if (nextF) counts.fallbackIteration = nextF.iteration;
  let params = state.params;
  if (chosen === 'learned' && candL) {
    params = candL.params;
    counts.learnedSteps += 1;
  } else if (chosen === 'fallback' && candF) {
    params = candF.params;
    counts.fallbackSteps += 1;
  } else {
    counts.skippedSteps += 1;
  }
  const next: OptState<GuardState<SL, SF> & X> = {
    params,
    state: {
      learned: nextL ? nextL.state : step.gs.learned,
      fallback: nextF ? nextF.state : step.gs.fallback,
      stats: updateStats(step.gs.stats, step.before, counts),
      ...io.extra,
    },
    iteration: step.iteration + 1,
  };
  disposeUnused([candL, candF, ...io.unused], [next, state, io.grads, io.ctx]);
  return next;
}

/**
 * A guard as an `Optimizer`: `init` builds both inner states ({@link initGuard}); `update`
 * prepares the step ({@link beginStep}) and hands it to the guard's own `step`.
 */
export function guardOptimizer<SL, SF>(
  name: string,
  learned: Optimizer<SL>,
  fallback: Optimizer<SF>,
  step: (s: GuardStep<SL, SF>, state: OptState<GuardState<SL, SF>>, grads: TensorTree, ctx: UpdateContext | undefined) => OptState<GuardState<SL, SF>>,
): Optimizer<GuardState<SL, SF>> {
  return {
    name,
    init: (params: TensorTree, opts?: OptimizerInitOptions): OptState<GuardState<SL, SF>> => ({ params, state: initGuard(learned, fallback, params, opts), iteration: 0 }),
    update: (state: OptState<GuardState<SL, SF>>, grads: TensorTree, ctx?: UpdateContext): OptState<GuardState<SL, SF>> =>
      step(beginStep(learned, fallback, state, grads, ctx), state, grads, ctx),
  };
}
