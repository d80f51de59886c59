import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, type OptState, type Optimizer, type UpdateContext } from '@lopt/core';
import { checkGuardOptions, finishStep, guardOptimizer, probeFinite, type GuardStep, type StepDecision } from './guard-step.js';
import { asFloatScalar, checkFunction, evalScalar, finiteProbe, isFiniteNumber, lossAndGrads, readScalars } from './internal.js';
import { LEADER_FALLBACK, LEADER_LEARNED } from './stats.js';
import type { AdvancePolicy, EvalInfo, GuardState, LossFn } from './types.js';

/** Options of {@link lossGuarded}. */
export interface LossGuardedOptions {
  /**
   * The loss the guard compares candidates with, `lossFn(params, info)`. The caller picks
   * the batch (for instance from `info.iteration`); both candidates of a step are evaluated
   * with the same `info.iteration`, so a deterministic callback compares them on one batch.
   */
  readonly lossFn: LossFn;
  /** Check every `every` steps (iterations 0, every, 2*every, ...). Default 1. Unchecked steps follow the last winner. */
  readonly every?: number;
  /**
   * Number of points each candidate's loss is averaged over: the candidate and
   * `lookahead - 1` simulated further steps of the same optimizer (gradients of `lossFn`,
   * discarded afterwards). Default 1 (the candidate's loss only).
   */
  readonly lookahead?: number;
  /** Which inner states advance (see {@link AdvancePolicy}). Default `'both'`. */
  readonly advance?: AdvancePolicy;
  /** The optimizer's name. Default `lossGuarded(<learned>,<fallback>)`. */
  readonly name?: string;
}

type Cand<S> = OptState<S> | undefined;

/**
 * LGL2O, the loss guard of Prémont-Schwarz, Vítků and Feyereisl ("A Simple Guard for
 * Learned Optimizers", ICML 2022): at a checked step both the learned and the fallback
 * optimizer propose new parameters from the same state and gradients; the guard estimates
 * the loss each proposal leads to with `lossFn` (optionally averaged over a short lookahead)
 * and keeps the lower one (ties go to the learned optimizer). Between checks
 * (`every > 1`) steps follow the last winner.
 *
 * With a full-batch `lossFn`, `every = 1` and a gradient-descent fallback with step
 * `<= 1/L`, every step decreases the loss at least as much as gradient descent would, so
 * the guarded optimizer converges on smooth strongly convex problems whatever the learned
 * optimizer does.
 *
 * Non-finite values never reach the parameters: a candidate with a NaN/Inf parameter or
 * loss is never chosen, its optimizer's state does not advance, and if no candidate is
 * finite the step leaves the parameters unchanged (`stats.skippedSteps`).
 *
 * Which states advance is set by `advance` (default `'both'`: both optimizers update their
 * state from the gradients at the trajectory actually followed; both candidates are formed
 * at every check anyway). Cost: one extra optimizer update (the fallback) per step under
 * `'both'`, per check under `'taken'`; per check `2 * lookahead` forward passes of `lossFn`
 * and `2 * (lookahead - 1)` backward passes, counted in `state.stats` (see
 * {@link guardStats}); two small device reads per step.
 *
 * @example
 * ```ts
 * const opt = lossGuarded(learnedOpt, adam({ learningRate: 1e-3 }), {
 *   lossFn: (p, { iteration }) => task.loss(p, guardBatch(iteration)),
 * });
 * let s = opt.init(params);
 * s = advance(opt, s, grads, { loss });
 * guardStats(s).learnedFraction;
 * ```
 */
export function lossGuarded<SL, SF>(
  learned: Optimizer<SL>,
  fallback: Optimizer<SF>,
  options: LossGuardedOptions,
): Optimizer<GuardState<SL, SF>> {
  const known = ['lossFn', 'every', 'lookahead', 'advance', 'name'];
  const { raw: o, every, policy, name } = checkGuardOptions('lossGuarded', options, known, { learned, fallback, learnedOption: 'learned' }, 'both');
  const lossFn = checkFunction<LossFn>('lossFn', o['lossFn']);
  const lookahead = checkNumber('lookahead', o['lookahead'] ?? 1, { min: 1, max: 1000, integer: true });
  const cfg: LossGuardConfig = { lossFn, lookahead };

  return guardOptimizer(name, learned, fallback, (step, state, grads, ctx) => {
    const check = step.iteration % every === 0;
    const leader = step.before.leader;
    const both = policy === 'both';
    const candL: Cand<SL> = check || both || leader === LEADER_LEARNED ? step.runL() : undefined;
    const candF: Cand<SF> = check || both || leader === LEADER_FALLBACK ? step.runF() : undefined;
    // One device read: finiteness probes (and, at a check, the two loss estimates).
    const probes: tf.Scalar[] = [candL ? finiteProbe(candL.params) : tf.scalar(0), candF ? finiteProbe(candF.params) : tf.scalar(0)];
    if (check) {
      probes.push(lookaheadLoss(cfg, learned, candL as OptState<SL>, 'learned', step.iteration, step.ctxL));
      probes.push(lookaheadLoss(cfg, fallback, candF as OptState<SF>, 'fallback', step.iteration, step.ctxF));
      step.c.lossEvals += 2;
      step.c.gradEvals += 2 * (lookahead - 1);
    }
    const decision = decideLossGuard(step, check, { candL, candF }, probes);
    return finishStep(step, state, policy, decision, { grads, ctx, unused: [probes], extra: {} });
  });
}

/** The validated options {@link lossGuarded}'s steps use. */
interface LossGuardConfig {
  readonly lossFn: LossFn;
  readonly lookahead: number;
}

/** Mean loss over the candidate and `lookahead - 1` simulated steps after it (the branch's own key). */
function lookaheadLoss<S>(
  cfg: LossGuardConfig,
  opt: Optimizer<S>,
  cand: OptState<S>,
  branch: 'learned' | 'fallback',
  iteration: number,
  ctx: UpdateContext | undefined,
): tf.Scalar {
  const { lossFn, lookahead } = cfg;
  const key = ctx?.key;
  return tf.tidy(() => {
    const at = (j: number): EvalInfo => ({ iteration, branch, lookaheadStep: j });
    if (lookahead === 1) return asFloatScalar(evalScalar('lossFn', lossFn, cand.params, at(0)));
    let cur = cand;
    const losses: tf.Scalar[] = [];
    for (let j = 0; j < lookahead - 1; j++) {
      const { value, grads } = lossAndGrads(lossFn, cur.params, at(j));
      losses.push(asFloatScalar(value));
      cur = opt.update(cur, grads, { ...(key === undefined ? {} : { key }), loss: value });
    }
    losses.push(asFloatScalar(evalScalar('lossFn', lossFn, cur.params, at(lookahead - 1))));
    return tf.div(tf.addN(losses), lookahead) as tf.Scalar;
  });
}

/**
 * The decision of one {@link lossGuarded} step from the read-back probes `[finite(candL),
 * finite(candF), loss(candL), loss(candF)]` (losses at a check only): at a check the lower
 * finite loss wins (ties to the learned optimizer); between checks the leader's step is taken
 * unless it is non-finite, in which case the other branch is computed (if it was not) and
 * taken when finite. Updates the step's counters.
 */
function decideLossGuard<SL, SF>(
  step: GuardStep<SL, SF>,
  check: boolean,
  cands: { candL: Cand<SL>; candF: Cand<SF> },
  probes: tf.Scalar[],
): StepDecision<SL, SF> {
  const c = step.c;
  let { candL, candF } = cands;
  const [vL, vF, lL, lF] = readScalars(probes);
  let healthyL = candL !== undefined && isFiniteNumber(vL) && (!check || isFiniteNumber(lL));
  let healthyF = candF !== undefined && isFiniteNumber(vF) && (!check || isFiniteNumber(lF));
  let nonFinite = (candL !== undefined && !healthyL) || (candF !== undefined && !healthyF);
  let chosen: 'learned' | 'fallback' | undefined;
  if (check) {
    c.checks += 1;
    if (healthyL && (!healthyF || (lL as number) <= (lF as number))) chosen = 'learned';
    else if (healthyF) chosen = 'fallback';
    if (chosen === 'learned') c.accepted += 1;
    else c.rejected += 1;
    if (chosen !== undefined) c.leader = chosen === 'learned' ? LEADER_LEARNED : LEADER_FALLBACK;
  } else if (step.before.leader === LEADER_LEARNED) {
    if (healthyL) chosen = 'learned';
    else {
      c.rejected += 1;
      if (!candF) {
        candF = step.runF();
        healthyF = probeFinite(candF.params, probes);
        nonFinite = nonFinite || !healthyF;
      }
      if (healthyF) chosen = 'fallback';
    }
  } else if (healthyF) {
    chosen = 'fallback';
  } else {
    if (!candL) {
      candL = step.runL();
      healthyL = probeFinite(candL.params, probes);
      nonFinite = nonFinite || !healthyL;
    }
    if (healthyL) chosen = 'learned';
  }
  if (nonFinite) c.nonFinite += 1;
  return { chosen, healthyL, healthyF, candL, candF };
}
