// Claim (c): taller hypergradient towers are less sensitive to the initial hyperparameters (Chandra et al. 2022).
import type { Optimizer, Task } from '@lopt/core';
import { adam, hypergradient, sgd } from '@lopt/optimizers';
import { logisticRegressionTask } from '@lopt/tasks';
import { check, experiment, fmt, meanSe, seedRange, trainSeeds, type Experiment } from './common.js';

const SIZES = { quick: { seeds: 4, steps: 150 }, full: { seeds: 10, steps: 600 } } as const;
/** Initial learning rates the sensitivity is measured over (four decades). */
export const TOWER_ALPHAS = [1e-3, 1e-2, 1e-1, 1] as const;
/** The hyper-step size of every level above the base optimizer (log space: relative steps). */
export const TOWER_KAPPA = 1e-2;

/** A 20-dimensional logistic regression (batch 32) whose data depends on the seed. */
export function towerTask(seed: number): Task {
  return logisticRegressionTask({ dim: 20, batchSize: 32, dataSeed: 100 + seed });
}

/** The initial hyper-step sizes of level 1 the sensitivity is also measured over. */
export const TOWER_KAPPAS = [1e-3, 3e-2] as const;

/**
 * A tower of `levels` hypergradient levels over SGD(alpha0): 0 is plain SGD; level 1 tunes
 * SGD's log learning rate with Adam at `kappa1`; each further level tunes the learning rate of
 * the Adam below it with Adam at TOWER_KAPPA. `frozenTop` sets the top level's step to 0 (the
 * planted negation: a tower whose top level never moves).
 */
export function tower(alpha0: number, levels: number, kappa1: number, frozenTop = false): Optimizer {
  if (levels === 0) return sgd({ learningRate: alpha0 }) as Optimizer;
  const kappaOf = (level: number) => (frozenTop && level === levels ? 0 : level === 1 ? kappa1 : TOWER_KAPPA);
  let top: Optimizer<unknown> = adam({ learningRate: kappaOf(levels) }) as Optimizer<unknown>;
  for (let level = levels - 1; level >= 1; level--) top = hypergradient(adam({ learningRate: kappaOf(level) }), { hyperOptimizer: top, tune: ['learningRate'] }) as Optimizer<unknown>;
  return hypergradient(sgd({ learningRate: alpha0 }), { hyperOptimizer: top }) as Optimizer;
}

const CONFIGS = TOWER_ALPHAS.flatMap((alpha0) => TOWER_KAPPAS.map((kappa1) => ({ alpha0, kappa1 })));

/**
 * Per seed: the mean over the initial hyperparameters (alpha0, kappa1) of the log final loss
 * (a diverged run counts as loss 1e3). Paired across towers on the same seed, its difference is
 * the difference of the mean regret from a badly chosen start: the sensitivity to the initial values.
 */
export function towerSensitivity(make: (alpha0: number, kappa1: number) => Optimizer, seeds: readonly number[], steps: number): { spread: number[]; finals: number[][] } {
  const finals = CONFIGS.map((c) => trainSeeds(seeds, towerTask, () => make(c.alpha0, c.kappa1), steps).map((r) => (r.diverged ? Infinity : r.finalTrainLoss)));
  const spread = seeds.map((_, s) => finals.reduce((a, f) => a + Math.min(Math.log(f[s] as number), Math.log(1e3)), 0) / finals.length);
  return { spread, finals };
}

/** The stated margin: each added level lowers the geometric-mean final loss over the initial settings by at least 2%. */
export const TOWER_MARGIN = Math.log(0.98);

/** 0 vs 1 vs 2 vs 3 hypergradient levels over SGD. */
export const hypergradientTowers: Experiment = experiment('hypergradient-towers', 'Taller hypergradient towers are less sensitive to the initial hyperparameters (Chandra, Xie, Ragan-Kelley, Meijer 2022): averaged over badly and well chosen initial step sizes, each added level ends lower.', SIZES, ({ seeds: n, steps }) => {
  const seeds = seedRange(n);
  const byLevel = [0, 1, 2, 3].map((levels) => towerSensitivity((a, k) => tower(a, levels, k), seeds, steps));
  const frozen = towerSensitivity((a, k) => tower(a, 2, k, true), seeds, steps);
  const rows = byLevel.map((b, levels) => [`${levels} level${levels === 1 ? '' : 's'}${levels === 0 ? ' (plain SGD)' : ''}`, meanSe(b.finals.flat()), meanSe(b.spread)]);
  rows.push(['2 levels, top frozen (planted negation)', meanSe(frozen.finals.flat()), meanSe(frozen.spread)]);
  const ratio = (a: number[], b: number[]) => a.map((x, i) => x - (b[i] as number));
  const checks = [1, 2, 3].map((h) => check(`mean log loss, ${h} levels - ${h - 1} levels < log(0.98)`, ratio(byLevel[h]?.spread as number[], byLevel[h - 1]?.spread as number[]), TOWER_MARGIN));
  checks.push(check('planted negation: mean log loss, 2 levels top frozen - 1 level < log(0.98)', ratio(frozen.spread, byLevel[1]?.spread as number[]), TOWER_MARGIN));
  return {
    paper: 'Chandra et al. (NeurIPS 2022), "Gradient Descent: The Ultimate Optimizer": towers of hyper-SGD/Adam on MNIST MLPs, CNNs, char-RNNs; the sensitivity to the initial step sizes falls as towers grow.',
    setting: `${n} logistic regressions (dim 20, batch 32), ${steps} steps; initial learning rate alpha0 in {${TOWER_ALPHAS.join(', ')}} x level-1 step kappa1 in {${TOWER_KAPPAS.join(', ')}}; level 1 is Adam(kappa1) on SGD's log learning rate, each higher level Adam(${fmt(TOWER_KAPPA)}) on the log learning rate of the Adam below; sensitivity = per seed, the mean over the 8 initial settings of the log final train loss (paired between towers).`,
    columns: ['tower', 'final loss over all initial settings and seeds', 'mean log final loss over initial settings (per seed)'],
    rows,
    checks,
  };
});
