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
import { LEADER_FALLBACK, LEADER_LEARNED, readCounts, statsTree, updateStats, zeroCounts } from './stats.js';
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
  const o = checkOptionsObject('safeguarded', options, ['residualFn', 'every', 'delta', 'muUpdate', 'theta', 'window', 'mu0', 'advance', 'name']);
  checkOptimizer<SL>('learned', learned);
  checkOptimizer<SF>('fallback', fallback);
  const residualFn = checkFunction<ResidualFn>('residualFn', o['residualFn']);
  const delta = checkNumber('delta', o['delta'] ?? 0.1, { greaterThan: 0, lessThan: 1 });
  const rule = checkOneOf<MuUpdate>('muUpdate', o['muUpdate'] ?? 'recent', MU_UPDATES);
  const theta = checkNumber('theta', o['theta'] ?? 0.1, { greaterThan: 0, max: 1 });
  const window = checkNumber('window', o['window'] ?? 5, { min: 1, max: 10_000, integer: true });
  const mu0 = o['mu0'] === undefined ? undefined : checkNumber('mu0', o['mu0'], { min: 0 });
  const every = checkEvery(o['every']);
  const policy = checkAdvance(o['advance'], 'taken');
  const name = checkName(o['name'], `safeguarded(${learned.name},${fallback.name})`);

  return {
    name,
    init(params: TensorTree, opts?: OptimizerInitOptions): OptState<SafeguardedState<SL, SF>> {
      let m = mu0;
      let residualEvals = 0;
      if (m === undefined) {
        const r = tf.tidy(() => evalScalar('residualFn', residualFn, params, { iteration: 0, branch: 'current', lookaheadStep: 0 }));
        m = readScalars([r])[0] as number;
        r.dispose();
        residualEvals = 1;
        if (!Number.isFinite(m) || m < 0) {
          throw new LoptError('NON_FINITE', `safeguarded: the residual at the initial parameters is ${m}; it must be finite and >= 0 (or pass 'mu0').`);
        }
      }
      const l = learned.init(params, branchInitOptions(opts, 0));
      const f = fallback.init(params, branchInitOptions(opts, 1));
      const stats = statsTree(zeroCounts({ learnedIteration: l.iteration, fallbackIteration: f.iteration, residualEvals, leader: LEADER_LEARNED }));
      const mu = tf.scalar(m, 'float32');
      const state: SafeguardedState<SL, SF> =
        rule === 'recentMax'
          ? { learned: l.state, fallback: f.state, stats, mu, recent: tf.fill([window], m, 'float32') as tf.Tensor1D }
          : { learned: l.state, fallback: f.state, stats, mu };
      return { params, state, iteration: 0 };
    },

    update(state: OptState<SafeguardedState<SL, SF>>, grads: TensorTree, ctx?: UpdateContext): OptState<SafeguardedState<SL, SF>> {
      const gs = state.state;
      if (rule === 'recentMax' && !(gs.recent instanceof tf.Tensor)) {
        throw new LoptError('TREE_MISMATCH', "safeguarded: muUpdate 'recentMax' needs 'state.recent'.", { path: 'state.recent' });
      }
      const before = readCounts(gs.stats);
      const c = { ...before };
      const iteration = state.iteration;
      const check = iteration % every === 0;
      const ctxL = branchContext(ctx, 0);
      const ctxF = branchContext(ctx, 1);
      const runL = (): OptState<SL> => learned.update(innerState(state.params, gs.learned, before.learnedIteration), grads, ctxL);
      const runF = (): OptState<SF> => fallback.update(innerState(state.params, gs.fallback, before.fallbackIteration), grads, ctxF);
      const followLearned = check || before.leader === LEADER_LEARNED;
      const candL: OptState<SL> | undefined = followLearned || policy === 'both' ? runL() : undefined;
      let candF: OptState<SF> | undefined = !followLearned || policy === 'both' ? runF() : undefined;
      const probes: tf.Tensor[] = [];

      let mu = gs.mu;
      let recent = gs.recent;
      let chosen: 'learned' | 'fallback' | undefined;
      let healthyL = false;
      let healthyF = false;
      let nonFinite = false;
      const probeF = (): void => {
        if (!candF) candF = runF();
        const p = finiteProbe(candF.params);
        probes.push(p);
        healthyF = isFiniteNumber(readScalars([p])[0]);
        if (!healthyF) nonFinite = true;
      };

      if (followLearned) {
        const l = candL as OptState<SL>;
        const pL = finiteProbe(l.params);
        probes.push(pL);
        if (check) {
          const r = tf.tidy(() => asFloatScalar(evalScalar('residualFn', residualFn, l.params, { iteration, branch: 'learned', lookaheadStep: 0 })));
          probes.push(r);
          c.residualEvals += 1;
          c.checks += 1;
          const [vL, rv, muv] = readScalars([pL, r as tf.Scalar, mu]) as [number, number, number];
          healthyL = isFiniteNumber(vL) && isFiniteNumber(rv);
          if (!healthyL) nonFinite = true;
          if (healthyL && rv <= (1 - delta) * muv) {
            chosen = 'learned';
            c.accepted += 1;
            c.leader = LEADER_LEARNED;
            let next: number;
            if (rule === 'geometric') next = (1 - theta) * muv;
            else if (rule === 'ema') next = theta * rv + (1 - theta) * muv;
            else if (rule === 'recent') next = rv;
            else {
              const old = Array.from((recent as tf.Tensor1D).dataSync());
              const win = [...old.slice(1), rv];
              next = Math.max(...win);
              recent = tf.tensor1d(win, 'float32');
            }
            // Rounding can never lift mu above its previous value.
            mu = tf.scalar(Math.min(next, muv), 'float32');
          } else {
            c.rejected += 1;
            c.leader = LEADER_FALLBACK;
            probeF();
            if (healthyF) chosen = 'fallback';
          }
        } else {
          healthyL = isFiniteNumber(readScalars([pL])[0]);
          if (healthyL) chosen = 'learned';
          else {
            nonFinite = true;
            c.rejected += 1;
            probeF();
            if (healthyF) chosen = 'fallback';
          }
        }
        if (policy === 'both' && candF && chosen === 'learned') probeF();
      } else {
        probeF();
        if (healthyF) chosen = 'fallback';
        if (policy === 'both' && candL) {
          const pL = finiteProbe(candL.params);
          probes.push(pL);
          healthyL = isFiniteNumber(readScalars([pL])[0]);
        }
      }
      if (nonFinite) c.nonFinite += 1;

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
      const base = { learned: taken.learned, fallback: taken.fallback, stats: updateStats(gs.stats, before, c), mu };
      const next: OptState<SafeguardedState<SL, SF>> = {
        params: taken.params,
        state: recent === undefined ? base : { ...base, recent },
        iteration: iteration + 1,
      };
      disposeUnused([candL, candF, probes], [next, state, grads, ctx]);
      return next;
    },
  };
}
