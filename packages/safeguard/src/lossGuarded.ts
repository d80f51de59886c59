import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, type OptState, type Optimizer, type OptimizerInitOptions, type TensorTree, type UpdateContext } from '@lopt/core';
import {
  asFloatScalar,
  branchContext,
  branchInitOptions,
  checkAdvance,
  checkEvery,
  checkFunction,
  checkName,
  checkOptimizer,
  checkOptionsObject,
  disposeUnused,
  evalScalar,
  finiteProbe,
  innerState,
  isFiniteNumber,
  lossAndGrads,
  readScalars,
  resolveBranches,
} from './internal.js';
import { LEADER_FALLBACK, LEADER_LEARNED, readCounts, statsTree, updateStats, zeroCounts } from './stats.js';
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
  const o = checkOptionsObject('lossGuarded', options, ['lossFn', 'every', 'lookahead', 'advance', 'name']);
  checkOptimizer<SL>('learned', learned);
  checkOptimizer<SF>('fallback', fallback);
  const lossFn = checkFunction<LossFn>('lossFn', o['lossFn']);
  const every = checkEvery(o['every']);
  const lookahead = checkNumber('lookahead', o['lookahead'] ?? 1, { min: 1, max: 1000, integer: true });
  const policy = checkAdvance(o['advance'], 'both');
  const name = checkName(o['name'], `lossGuarded(${learned.name},${fallback.name})`);

  /** Mean loss over the candidate and `lookahead - 1` simulated steps after it. */
  function estimate<S>(opt: Optimizer<S>, cand: OptState<S>, branch: 'learned' | 'fallback', iteration: number, ctx: UpdateContext | undefined): tf.Scalar {
    return tf.tidy(() => {
      const at = (j: number): EvalInfo => ({ iteration, branch, lookaheadStep: j });
      if (lookahead === 1) return asFloatScalar(evalScalar('lossFn', lossFn, cand.params, at(0)));
      let cur = cand;
      const losses: tf.Scalar[] = [];
      for (let j = 0; j < lookahead - 1; j++) {
        const { value, grads } = lossAndGrads(lossFn, cur.params, at(j));
        losses.push(asFloatScalar(value));
        cur = opt.update(cur, grads, { ...(ctx?.key === undefined ? {} : { key: ctx.key }), loss: value });
      }
      losses.push(asFloatScalar(evalScalar('lossFn', lossFn, cur.params, at(lookahead - 1))));
      return tf.div(tf.addN(losses), lookahead) as tf.Scalar;
    });
  }

  return {
    name,
    init(params: TensorTree, opts?: OptimizerInitOptions): OptState<GuardState<SL, SF>> {
      const l = learned.init(params, branchInitOptions(opts, 0));
      const f = fallback.init(params, branchInitOptions(opts, 1));
      const stats = statsTree(zeroCounts({ learnedIteration: l.iteration, fallbackIteration: f.iteration, leader: LEADER_LEARNED }));
      return { params, state: { learned: l.state, fallback: f.state, stats }, iteration: 0 };
    },

    update(state: OptState<GuardState<SL, SF>>, grads: TensorTree, ctx?: UpdateContext): OptState<GuardState<SL, SF>> {
      const gs = state.state;
      const before = readCounts(gs.stats);
      const c = { ...before };
      const iteration = state.iteration;
      const check = iteration % every === 0;
      const ctxL = branchContext(ctx, 0);
      const ctxF = branchContext(ctx, 1);
      const runL = (): OptState<SL> => learned.update(innerState(state.params, gs.learned, before.learnedIteration), grads, ctxL);
      const runF = (): OptState<SF> => fallback.update(innerState(state.params, gs.fallback, before.fallbackIteration), grads, ctxF);
      const leader = before.leader;
      let candL: Cand<SL> = check || policy === 'both' || leader === LEADER_LEARNED ? runL() : undefined;
      let candF: Cand<SF> = check || policy === 'both' || leader === LEADER_FALLBACK ? runF() : undefined;

      // One device read: finiteness probes (and, at a check, the two loss estimates).
      const probes: tf.Scalar[] = [];
      const probeL = candL ? finiteProbe(candL.params) : undefined;
      const probeF = candF ? finiteProbe(candF.params) : undefined;
      let lossL: tf.Scalar | undefined;
      let lossF: tf.Scalar | undefined;
      if (check) {
        lossL = estimate(learned, candL as OptState<SL>, 'learned', iteration, ctxL);
        lossF = estimate(fallback, candF as OptState<SF>, 'fallback', iteration, ctxF);
        c.lossEvals += 2;
        c.gradEvals += 2 * (lookahead - 1);
      }
      for (const p of [probeL, probeF, lossL, lossF]) probes.push(p ?? tf.scalar(0));
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
      } else if (leader === LEADER_LEARNED) {
        if (healthyL) chosen = 'learned';
        else {
          c.rejected += 1;
          if (!candF) {
            candF = runF();
            const extra = finiteProbe(candF.params);
            healthyF = isFiniteNumber(readScalars([extra])[0]);
            probes.push(extra);
            nonFinite = nonFinite || !healthyF;
          }
          if (healthyF) chosen = 'fallback';
        }
      } else if (healthyF) {
        chosen = 'fallback';
      } else {
        if (!candL) {
          candL = runL();
          const extra = finiteProbe(candL.params);
          healthyL = isFiniteNumber(readScalars([extra])[0]);
          probes.push(extra);
          nonFinite = nonFinite || !healthyL;
        }
        if (healthyL) chosen = 'learned';
      }
      if (nonFinite) c.nonFinite += 1;

      // Which states advance.
      const taken = resolveBranches(
        {
          chosen,
          advanceLearned: policy === 'both' ? healthyL : chosen === 'learned',
          advanceFallback: policy === 'both' ? healthyF : chosen === 'fallback',
          candL,
          candF,
        },
        { params: state.params, learned: gs.learned, fallback: gs.fallback },
        c,
      );
      const next: OptState<GuardState<SL, SF>> = {
        params: taken.params,
        state: { learned: taken.learned, fallback: taken.fallback, stats: updateStats(gs.stats, before, c) },
        iteration: iteration + 1,
      };
      disposeUnused([candL, candF, probes, lossL, lossF], [next, state, grads, ctx]);
      return next;
    },
  };
}
