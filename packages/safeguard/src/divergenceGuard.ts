import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  checkNumber,
  checkOneOf,
  type OptState,
  type Optimizer,
  type OptimizerInitOptions,
  type TensorTree,
  type UpdateContext,
} from '@lopt/core';
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
  readScalars,
  resolveBranches,
} from './internal.js';
import { LEADER_LEARNED, readCounts, statsTree, updateStats, zeroCounts } from './stats.js';
import type { AdvancePolicy, GuardState, LossFn } from './types.js';

/** What {@link divergenceGuard} does on a non-finite step. */
export type OnNonFinite = 'fallback' | 'throw';

/** Options of {@link divergenceGuard}. */
export interface DivergenceGuardOptions {
  /**
   * Enables the loss-jump test: the loss at the candidate, `lossFn(candidate)`, is compared
   * with the loss at the current parameters, which is `ctx.loss` when the caller passes one
   * (no extra cost; `lossFn` should then measure the same batch) and `lossFn(params)` otherwise.
   * Without `lossFn` the guard only tests for non-finite values.
   */
  readonly lossFn?: LossFn;
  /**
   * The largest allowed relative loss increase of one step: a candidate is rolled back when
   * `loss(candidate) - loss(current) > maxLossIncrease * |loss(current)|`. Default 0 (any
   * increase is rolled back); `Infinity` disables the loss test (non-finite tests stay).
   */
  readonly maxLossIncrease?: number;
  /** `'fallback'` (default): a non-finite step is rolled back and the fallback step taken; `'throw'`: throw `LoptError('NON_FINITE')`. */
  readonly onNonFinite?: OnNonFinite;
  /** Run the loss test every `every` steps (the non-finite test runs on every step). Default 1. */
  readonly every?: number;
  /** Which inner states advance (see {@link AdvancePolicy}). Default `'taken'`: the fallback is computed only when a step is rolled back. */
  readonly advance?: AdvancePolicy;
  /** The optimizer's name. Default `divergenceGuard(<opt>,<fallback>)`. */
  readonly name?: string;
}

/**
 * The cheap guard for production: steps with `opt` as long as its steps are sane, and rolls
 * a step back, taking the `fallback` step from the same state instead, when the candidate
 * parameters (or `ctx.loss`, or the tested losses) are NaN/Inf, or when the loss jumps by
 * more than `maxLossIncrease` (relative). If the fallback step is not finite either, the
 * parameters stay unchanged (`stats.skippedSteps`). A rolled-back optimizer's state does not
 * advance, so NaN gradients never poison its moments.
 *
 * Cost per step: one reduction over the candidate and one small device read; per loss test
 * one forward pass of `lossFn` (two without `ctx.loss`); per rollback one fallback update.
 * Counted in `state.stats` (the counter `checks` counts loss tests).
 *
 * @example
 * ```ts
 * const opt = divergenceGuard(learnedOpt, sgd({ learningRate: 0.01 }), { lossFn, maxLossIncrease: 0.5 });
 * ```
 */
export function divergenceGuard<SL, SF>(
  opt: Optimizer<SL>,
  fallback: Optimizer<SF>,
  options: DivergenceGuardOptions = {},
): Optimizer<GuardState<SL, SF>> {
  const o = checkOptionsObject('divergenceGuard', options, ['lossFn', 'every', 'maxLossIncrease', 'onNonFinite', 'advance', 'name']);
  checkOptimizer<SL>('opt', opt);
  checkOptimizer<SF>('fallback', fallback);
  const lossFn = o['lossFn'] === undefined ? undefined : checkFunction<LossFn>('lossFn', o['lossFn']);
  const maxInc = checkNumber('maxLossIncrease', o['maxLossIncrease'] ?? 0, { min: 0, allowInfinity: true });
  const onNonFinite = checkOneOf<OnNonFinite>('onNonFinite', o['onNonFinite'] ?? 'fallback', ['fallback', 'throw']);
  const every = checkEvery(o['every']);
  const policy = checkAdvance(o['advance'], 'taken');
  const name = checkName(o['name'], `divergenceGuard(${opt.name},${fallback.name})`);

  return {
    name,
    init(params: TensorTree, opts?: OptimizerInitOptions): OptState<GuardState<SL, SF>> {
      const l = opt.init(params, branchInitOptions(opts, 0));
      const f = fallback.init(params, branchInitOptions(opts, 1));
      const stats = statsTree(zeroCounts({ learnedIteration: l.iteration, fallbackIteration: f.iteration, leader: LEADER_LEARNED }));
      return { params, state: { learned: l.state, fallback: f.state, stats }, iteration: 0 };
    },

    update(state: OptState<GuardState<SL, SF>>, grads: TensorTree, ctx?: UpdateContext): OptState<GuardState<SL, SF>> {
      const gs = state.state;
      const before = readCounts(gs.stats);
      const c = { ...before };
      const iteration = state.iteration;
      const lossTest = lossFn !== undefined && maxInc !== Infinity && iteration % every === 0;
      const ctxL = branchContext(ctx, 0);
      const ctxF = branchContext(ctx, 1);
      const candL = opt.update(innerState(state.params, gs.learned, before.learnedIteration), grads, ctxL);
      let candF: OptState<SF> | undefined =
        policy === 'both' ? fallback.update(innerState(state.params, gs.fallback, before.fallbackIteration), grads, ctxF) : undefined;

      const probes: tf.Tensor[] = [finiteProbe(candL.params), ctx?.loss ? asFloatScalar(ctx.loss) : tf.scalar(0)];
      if (lossTest && lossFn) {
        const now = ctx?.loss ?? evalScalar('lossFn', lossFn, state.params, { iteration, branch: 'current', lookaheadStep: 0 });
        if (ctx?.loss === undefined) {
          c.lossEvals += 1;
          probes.push(now);
        } else probes.push(asFloatScalar(now));
        probes.push(evalScalar('lossFn', lossFn, candL.params, { iteration, branch: 'learned', lookaheadStep: 0 }));
        c.lossEvals += 1;
        c.checks += 1;
      }
      if (candF) probes.push(finiteProbe(candF.params));
      const v = readScalars(probes as tf.Scalar[]);
      const [vL, vCtx] = v as [number, number];
      const lossNow = lossTest ? v[2] : undefined;
      const lossCand = lossTest ? v[3] : undefined;
      let healthyF = candF ? isFiniteNumber(v[v.length - 1]) : false;
      const nonFiniteL = !isFiniteNumber(vL) || !isFiniteNumber(vCtx) || (lossTest && (!isFiniteNumber(lossNow) || !isFiniteNumber(lossCand)));
      const jump = lossTest && !nonFiniteL && (lossCand as number) - (lossNow as number) > maxInc * Math.abs(lossNow as number);

      let chosen: 'learned' | 'fallback' | undefined;
      let nonFinite = nonFiniteL || (candF !== undefined && !healthyF);
      if (nonFiniteL && onNonFinite === 'throw') {
        disposeUnused([candL, candF, probes], [state, grads, ctx]);
        const what = !isFiniteNumber(vL) ? 'the updated parameters' : !isFiniteNumber(vCtx) ? 'ctx.loss' : 'the loss';
        throw new LoptError('NON_FINITE', `divergenceGuard(${opt.name}): ${what} became non-finite at iteration ${iteration}.`);
      }
      if (!nonFiniteL && !jump) {
        chosen = 'learned';
        c.accepted += 1;
      } else {
        c.rejected += 1;
        if (!candF) {
          candF = fallback.update(innerState(state.params, gs.fallback, before.fallbackIteration), grads, ctxF);
          const p = finiteProbe(candF.params);
          probes.push(p);
          healthyF = isFiniteNumber(readScalars([p as tf.Scalar])[0]);
          if (!healthyF) nonFinite = true;
        }
        if (healthyF) chosen = 'fallback';
      }
      if (nonFinite) c.nonFinite += 1;

      const taken = resolveBranches(
        {
          chosen,
          advanceLearned: policy === 'both' ? !nonFiniteL : chosen === 'learned',
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
      disposeUnused([candL, candF, probes], [next, state, grads, ctx]);
      return next;
    },
  };
}
