import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, checkOneOf, type OptState, type Optimizer, type OptimizerInitOptions, type TensorTree, type UpdateContext } from '@lopt/core';
import { beginStep, checkGuardOptions, finishStep, initGuard, probeFinite, type GuardStep, type StepDecision } from './guard-step.js';
import { asFloatScalar, checkFunction, evalScalar, finiteProbe, isFiniteNumber, readScalars } from './internal.js';
import { LEADER_FALLBACK, LEADER_LEARNED } from './stats.js';
import type { AdvancePolicy, GuardState, ResidualFn } from './types.js';

/**
 * How GL2O's threshold `mu` changes on an accepted learned step with residual `r`
 * (Heaton et al.; the updaters of their reference code). `mu` never changes on a rejected step.
 * - `'geometric'`: `mu <- (1 - theta) mu`
 * - `'ema'`: `mu <- theta r + (1 - theta) mu`
 * - `'recent'`: `mu <- r`
 * - `'recentMax'`: `mu <- max` of the `window` most recent accepted residuals (the window
 *   starts filled with the initial `mu`)
 *
 * Since an accepted `r <= (1 - delta) mu`, every rule gives a non-increasing `mu`.
 */
export type MuUpdate = 'geometric' | 'ema' | 'recent' | 'recentMax';

/** The rules of {@link MuUpdate}. */
export const MU_UPDATES: readonly MuUpdate[] = ['geometric', 'ema', 'recent', 'recentMax'];

/** Options of {@link safeguarded}. */
export interface SafeguardedOptions {
  /** The residual `||S(x)||` (for example {@link gradientNormResidual}). */
  readonly residualFn: ResidualFn;
  /** Required decrease: a learned candidate `y` is accepted when `residual(y) <= (1 - delta) mu`. In (0, 1); default 0.1. */
  readonly delta?: number;
  /** How `mu` changes on accepted steps. Default `'recent'` (the strictest against a bad learned optimizer; see the README for measurements). */
  readonly muUpdate?: MuUpdate;
  /** The rate of the `'geometric'` and `'ema'` rules, in (0, 1]. Default 0.1. */
  readonly theta?: number;
  /** The number of recent accepted residuals `'recentMax'` takes the max over. Default 5. */
  readonly window?: number;
  /** Initial `mu`. Default: the residual at the initial parameters (evaluated in `init`). */
  readonly mu0?: number;
  /** Check every `every` steps; unchecked steps follow the last decision. Default 1 (the algorithm of the paper). */
  readonly every?: number;
  /** Which inner states advance (see {@link AdvancePolicy}). Default `'taken'`: the fallback is computed only on rejection, as in the paper. */
  readonly advance?: AdvancePolicy;
  /** The optimizer's name. Default `safeguarded(<learned>,<fallback>)`. */
  readonly name?: string;
}

/** The state of {@link safeguarded}: the guard state plus the threshold. */
export interface SafeguardedState<SL = TensorTree, SF = TensorTree> extends GuardState<SL, SF> {
  /** The acceptance threshold `mu` (float32 scalar). */
  readonly mu: tf.Scalar;
  /** The recent accepted residuals, oldest first (`'recentMax'` only; length `window`). */
  readonly recent?: tf.Tensor1D;
}

/**
 * GL2O / Safe-L2O (Heaton, Chen, Wang, Yin, "Safeguarded Learned Convex Optimization",
 * AAAI 2023): the fallback is a trusted fixed-point step `T` (gradient descent, a proximal
 * step) with residual `S = I - T`. At each step the learned optimizer proposes `y`; if
 * `||S(y)|| <= (1 - delta) mu` the guard accepts `y` and updates `mu` by `muUpdate`;
 * otherwise it takes the fallback step `T(x)` from the current point and keeps `mu`.
 * With an averaged `T` (gradient descent with step `< 2/L` on a convex L-smooth loss) the
 * iterates converge to a minimizer whatever the learned optimizer proposes.
 *
 * Cost per checked step: one residual evaluation (one forward+backward pass for
 * {@link gradientNormResidual}) and, on rejection, one fallback update; plus one residual
 * evaluation in `init` when `mu0` is not given. Counted in `state.stats`.
 *
 * Non-finite candidates or residuals are rejected; if the fallback step is not finite
 * either the step leaves the parameters unchanged. `mu` only ever takes finite values.
 *
 * @example
 * ```ts
 * const opt = safeguarded(learnedOpt, sgd({ learningRate: 1 / L }), {
 *   residualFn: gradientNormResidual(lossFn), delta: 0.1, muUpdate: 'ema', theta: 0.1,
 * });
 * ```
 */
export function safeguarded<SL, SF>(
  learned: Optimizer<SL>,
  fallback: Optimizer<SF>,
  options: SafeguardedOptions,
): Optimizer<SafeguardedState<SL, SF>> {
  const known = ['residualFn', 'every', 'delta', 'muUpdate', 'theta', 'window', 'mu0', 'advance', 'name'];
  const { raw: o, every, policy, name } = checkGuardOptions('safeguarded', options, known, { learned, fallback, learnedOption: 'learned' }, 'taken');
  const cfg: MuConfig = {
    residualFn: checkFunction<ResidualFn>('residualFn', o['residualFn']),
    delta: checkNumber('delta', o['delta'] ?? 0.1, { greaterThan: 0, lessThan: 1 }),
    rule: checkOneOf<MuUpdate>('muUpdate', o['muUpdate'] ?? 'recent', MU_UPDATES),
    theta: checkNumber('theta', o['theta'] ?? 0.1, { greaterThan: 0, max: 1 }),
  };
  const window = checkNumber('window', o['window'] ?? 5, { min: 1, max: 10_000, integer: true });
  const mu0 = o['mu0'] === undefined ? undefined : checkNumber('mu0', o['mu0'], { min: 0 });

  return {
    name,
    init(params: TensorTree, opts?: OptimizerInitOptions): OptState<SafeguardedState<SL, SF>> {
      const m = mu0 ?? initialResidual(cfg.residualFn, params);
      const gs = initGuard(learned, fallback, params, opts, { residualEvals: mu0 === undefined ? 1 : 0 });
      const mu = tf.scalar(m, 'float32');
      const state: SafeguardedState<SL, SF> =
        cfg.rule === 'recentMax' ? { ...gs, mu, recent: tf.fill([window], m, 'float32') as tf.Tensor1D } : { ...gs, mu };
      return { params, state, iteration: 0 };
    },

    update(state: OptState<SafeguardedState<SL, SF>>, grads: TensorTree, ctx?: UpdateContext): OptState<SafeguardedState<SL, SF>> {
      const gs = state.state;
      if (cfg.rule === 'recentMax' && !(gs.recent instanceof tf.Tensor)) {
        throw new LoptError('TREE_MISMATCH', "safeguarded: muUpdate 'recentMax' needs 'state.recent'.", { path: 'state.recent' });
      }
      const step = beginStep(learned, fallback, state, grads, ctx);
      const check = step.iteration % every === 0;
      const followLearned = check || step.before.leader === LEADER_LEARNED;
      const candL = followLearned || policy === 'both' ? step.runL() : undefined;
      const candF = !followLearned || policy === 'both' ? step.runF() : undefined;
      const probes: tf.Tensor[] = [];
      const mus = { mu: gs.mu, recent: gs.recent };
      const decision = followLearned
        ? followLearnedStep(step, cfg, { check, both: policy === 'both', candL: candL as OptState<SL>, candF }, probes, mus)
        : followFallbackStep(step, { both: policy === 'both', candL, candF }, probes);
      const extra = mus.recent === undefined ? { mu: mus.mu } : { mu: mus.mu, recent: mus.recent };
      return finishStep(step, state, policy, decision, { grads, ctx, unused: [probes], extra });
    },
  };
}

/** The validated options of {@link safeguarded} that its residual test uses. */
interface MuConfig {
  readonly residualFn: ResidualFn;
  readonly delta: number;
  readonly rule: MuUpdate;
  readonly theta: number;
}

/** The residual at the initial parameters (the default `mu0`); throws unless finite and >= 0. */
function initialResidual(residualFn: ResidualFn, params: TensorTree): number {
  const r = tf.tidy(() => evalScalar('residualFn', residualFn, params, { iteration: 0, branch: 'current', lookaheadStep: 0 }));
  const m = readScalars([r])[0] as number;
  r.dispose();
  if (!Number.isFinite(m) || m < 0) {
    throw new LoptError('NON_FINITE', `safeguarded: the residual at the initial parameters is ${m}; it must be finite and >= 0 (or pass 'mu0').`);
  }
  return m;
}

/**
 * The new threshold after accepting a learned step with residual `r` at threshold `mu`
 * (see {@link MuUpdate}); `recent` is the window of `'recentMax'`, oldest first. Pure;
 * rounding never lifts `mu` above its previous value.
 */
export function nextMu(rule: MuUpdate, theta: number, mu: number, r: number, recent?: readonly number[]): { mu: number; recent?: number[] } {
  if (rule === 'geometric') return { mu: Math.min((1 - theta) * mu, mu) };
  if (rule === 'ema') return { mu: Math.min(theta * r + (1 - theta) * mu, mu) };
  if (rule === 'recent') return { mu: Math.min(r, mu) };
  const win = [...(recent ?? []).slice(1), r];
  return { mu: Math.min(Math.max(...win), mu), recent: win };
}

/** The candidates of a step and the flags the branch functions need. */
interface Candidates<SL, SF> {
  readonly both: boolean;
  readonly candL: OptState<SL> | undefined;
  readonly candF: OptState<SF> | undefined;
}

/**
 * A step that follows the learned optimizer: at a check the learned candidate is accepted
 * when finite with `residual <= (1 - delta) mu` (then `mu` moves, in `mus`), else the
 * fallback is taken; between checks the learned candidate is taken unless non-finite.
 */
function followLearnedStep<SL, SF>(
  step: GuardStep<SL, SF>,
  cfg: MuConfig,
  cands: Candidates<SL, SF> & { readonly check: boolean; readonly candL: OptState<SL> },
  probes: tf.Tensor[],
  mus: { mu: tf.Scalar; recent: tf.Tensor1D | undefined },
): StepDecision<SL, SF> {
  const c = step.c;
  const l = cands.candL;
  let candF = cands.candF;
  let healthyF = false;
  let nonFinite = false;
  let chosen: 'learned' | 'fallback' | undefined;
  const takeFallback = (): void => {
    candF = candF ?? step.runF();
    healthyF = probeFinite(candF.params, probes);
    if (!healthyF) nonFinite = true;
  };
  const pL = finiteProbe(l.params);
  probes.push(pL);
  let healthyL: boolean;
  if (cands.check) {
    const r = tf.tidy(() => asFloatScalar(evalScalar('residualFn', cfg.residualFn, l.params, { iteration: step.iteration, branch: 'learned', lookaheadStep: 0 })));
    probes.push(r);
    c.residualEvals += 1;
    c.checks += 1;
    const [vL, rv, muv] = readScalars([pL, r, mus.mu]) as [number, number, number];
    healthyL = isFiniteNumber(vL) && isFiniteNumber(rv);
    if (healthyL && rv <= (1 - cfg.delta) * muv) {
      chosen = 'learned';
      c.accepted += 1;
      c.leader = LEADER_LEARNED;
      const next = nextMu(cfg.rule, cfg.theta, muv, rv, cfg.rule === 'recentMax' ? Array.from((mus.recent as tf.Tensor1D).dataSync()) : undefined);
      if (next.recent) mus.recent = tf.tensor1d(next.recent, 'float32');
      mus.mu = tf.scalar(next.mu, 'float32');
    } else {
      c.rejected += 1;
      c.leader = LEADER_FALLBACK;
    }
  } else {
    healthyL = isFiniteNumber(readScalars([pL])[0]);
    if (healthyL) chosen = 'learned';
    else c.rejected += 1;
  }
  if (!healthyL) nonFinite = true;
  if (chosen === undefined) {
    takeFallback();
    if (healthyF) chosen = 'fallback';
  } else if (cands.both && candF) takeFallback();
  if (nonFinite) c.nonFinite += 1;
  return { chosen, healthyL, healthyF, candL: l, candF };
}

/** A step that follows the fallback (between checks, after a rejection). */
function followFallbackStep<SL, SF>(step: GuardStep<SL, SF>, cands: Candidates<SL, SF>, probes: tf.Tensor[]): StepDecision<SL, SF> {
  const candF = cands.candF ?? step.runF();
  const healthyF = probeFinite(candF.params, probes);
  const healthyL = cands.both && cands.candL ? probeFinite(cands.candL.params, probes) : false;
  if (!healthyF) step.c.nonFinite += 1;
  return { chosen: healthyF ? 'fallback' : undefined, healthyL, healthyF, candL: cands.candL, candF };
}
