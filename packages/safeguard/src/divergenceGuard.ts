import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, checkOneOf, type OptState, type Optimizer, type TensorTree, type UpdateContext } from '@lopt/core';
import { checkGuardOptions, finishStep, guardOptimizer, probeFinite, type GuardStep, type StepDecision } from './guard-step.js';
import { asFloatScalar, checkFunction, disposeUnused, evalScalar, finiteProbe, isFiniteNumber, readScalars } from './internal.js';
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
  const known = ['lossFn', 'every', 'maxLossIncrease', 'onNonFinite', 'advance', 'name'];
  const { raw: o, every, policy, name } = checkGuardOptions('divergenceGuard', options, known, { learned: opt, fallback, learnedOption: 'opt' }, 'taken');
  const lossFn = o['lossFn'] === undefined ? undefined : checkFunction<LossFn>('lossFn', o['lossFn']);
  const maxInc = checkNumber('maxLossIncrease', o['maxLossIncrease'] ?? 0, { min: 0, allowInfinity: true });
  const onNonFinite = checkOneOf<OnNonFinite>('onNonFinite', o['onNonFinite'] ?? 'fallback', ['fallback', 'throw']);

  return guardOptimizer(name, opt, fallback, (step, state, grads, ctx) => {
    const lossTest = lossFn !== undefined && maxInc !== Infinity && step.iteration % every === 0 ? lossFn : undefined;
    const candL = step.runL();
    const candF = policy === 'both' ? step.runF() : undefined;
    const probes: tf.Tensor[] = [];
    const test = testCandidate(step, state.params, { candL, candF, ctx, lossFn: lossTest, maxInc }, probes);
    if (test.nonFiniteL && onNonFinite === 'throw') {
      disposeUnused([candL, candF, probes], [state, grads, ctx]);
      throw new LoptError('NON_FINITE', `divergenceGuard(${opt.name}): ${test.what} became non-finite at iteration ${step.iteration}.`);
    }
    const decision = rollBackIfNeeded(step, test, { candL, candF }, probes);
    return finishStep(step, state, policy, decision, { grads, ctx, unused: [probes], extra: {} });
  });
}

/** The outcome of {@link testCandidate}. */
interface CandidateTest {
  /** The learned candidate (or `ctx.loss`, or a tested loss) is non-finite. */
  readonly nonFiniteL: boolean;
  /** What was non-finite, for the error message. */
  readonly what: string;
  /** The tested loss rose by more than allowed. */
  readonly jump: boolean;
  /** Whether the fallback candidate (when computed) is finite. */
  readonly healthyF: boolean;
}

/**
 * Probes the learned candidate (and the fallback candidate when present) for non-finite
 * values and, when `lossFn` is given, compares the loss at the candidate with the current
 * loss (`ctx.loss`, or `lossFn(params)`), with one device read. Updates the step's counters.
 */
function testCandidate<SL, SF>(
  step: GuardStep<SL, SF>,
  params: TensorTree,
  io: {
    readonly candL: OptState<SL>;
    readonly candF: OptState<SF> | undefined;
    readonly ctx: UpdateContext | undefined;
    readonly lossFn: LossFn | undefined;
    readonly maxInc: number;
  },
  probes: tf.Tensor[],
): CandidateTest {
  const { ctx, lossFn, c } = { ...io, c: step.c };
  const iteration = step.iteration;
  probes.push(finiteProbe(io.candL.params), ctx?.loss ? asFloatScalar(ctx.loss) : tf.scalar(0));
  if (lossFn) {
    const now = ctx?.loss ?? evalScalar('lossFn', lossFn, params, { iteration, branch: 'current', lookaheadStep: 0 });
    if (ctx?.loss === undefined) c.lossEvals += 1;
    probes.push(ctx?.loss === undefined ? now : asFloatScalar(now));
    probes.push(evalScalar('lossFn', lossFn, io.candL.params, { iteration, branch: 'learned', lookaheadStep: 0 }));
    c.lossEvals += 1;
    c.checks += 1;
  }
  if (io.candF) probes.push(finiteProbe(io.candF.params));
  const v = readScalars(probes as tf.Scalar[]);
  const [vL, vCtx] = v as [number, number];
  const lossNow = lossFn ? v[2] : undefined;
  const lossCand = lossFn ? v[3] : undefined;
  const nonFiniteL = !isFiniteNumber(vL) || !isFiniteNumber(vCtx) || (lossFn !== undefined && (!isFiniteNumber(lossNow) || !isFiniteNumber(lossCand)));
  const jump = lossFn !== undefined && !nonFiniteL && (lossCand as number) - (lossNow as number) > io.maxInc * Math.abs(lossNow as number);
  const what = !isFiniteNumber(vL) ? 'the updated parameters' : !isFiniteNumber(vCtx) ? 'ctx.loss' : 'the loss';
  return { nonFiniteL, what, jump, healthyF: io.candF ? isFiniteNumber(v[v.length - 1]) : false };
}

/** Takes the learned candidate when it passed, else rolls back to the fallback step (computed if needed). */
function rollBackIfNeeded<SL, SF>(
  step: GuardStep<SL, SF>,
  test: CandidateTest,
  cands: { readonly candL: OptState<SL>; readonly candF: OptState<SF> | undefined },
  probes: tf.Tensor[],
): StepDecision<SL, SF> {
  const c = step.c;
  let { candF } = cands;
  let healthyF = test.healthyF;
  let nonFinite = test.nonFiniteL || (candF !== undefined && !healthyF);
  let chosen: 'learned' | 'fallback' | undefined;
  if (!test.nonFiniteL && !test.jump) {
    chosen = 'learned';
    c.accepted += 1;
  } else {
    c.rejected += 1;
    if (!candF) {
      candF = step.runF();
      healthyF = probeFinite(candF.params, probes);
      if (!healthyF) nonFinite = true;
    }
    if (healthyF) chosen = 'fallback';
  }
  if (nonFinite) c.nonFinite += 1;
  return { chosen, healthyL: !test.nonFiniteL, healthyF, candL: cands.candL, candF };
}
