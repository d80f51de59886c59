// Claim (h): random search is a competitive tuning baseline (001 seed), here with successive halving.
import { key as makeKey, type Optimizer, type Task } from '@lopt/core';
import { ADAM_BASELINE, halvingRungs, mean, pairedLogRatios, randomSearch, type Hyperparams, type SearchSpace } from '@lopt/eval';
import { adam } from '@lopt/optimizers';
import { logisticRegressionTask } from '@lopt/tasks';
import { check, experiment, fmt, meanSe, seedRange, trainSeeds, tuneGrid, type Experiment } from './common.js';

const SIZES = { quick: { seeds: 6, steps: 180, trials: 18 }, full: { seeds: 16, steps: 900, trials: 54 } } as const;
const TUNING_SEEDS = [100, 101];

/** A 20-dimensional logistic regression (batch 32) whose data depends on the seed. */
export function searchTask(seed: number): Task {
  return logisticRegressionTask({ dim: 20, batchSize: 32, dataSeed: 300 + seed });
}

/** Adam's four continuous hyperparameters, searched jointly (ranges log-uniform except the betas' complements). */
export const ADAM_SPACE: SearchSpace = {
  learningRate: { low: 1e-4, high: 1 },
  beta1: { low: 0.5, high: 0.99, scale: 'linear' },
  beta2: { low: 0.9, high: 0.9999, scale: 'linear' },
  epsilon: { low: 1e-10, high: 1e-2 },
};

const adamOf = (hp: Hyperparams): Optimizer => adam(hp) as Optimizer;

/** Random search with successive halving (eta 3, first rung steps/9) over {@link ADAM_SPACE} on the tuning seeds; returns the chosen hyperparameters and the steps spent. `keepWorst` plants a broken search that promotes the worst trials. */
export async function searchAdam(trials: number, steps: number, seed: number, keepWorst = false): Promise<{ hp: Hyperparams; cost: number }> {
  const r = await randomSearch(ADAM_SPACE, (hps, budget) => hps.map((hp) => {
    const finals = trainSeeds(TUNING_SEEDS, searchTask, () => adamOf(hp), budget).map((x) => x.finalTrainLoss);
    const score = finals.some((f) => !Number.isFinite(f)) ? 1e9 : mean(finals);
    return keepWorst ? -score : score;
  }), { trials, key: makeKey(seed), maxBudget: steps, minBudget: Math.max(1, Math.round(steps / 9)) });
  return { hp: r.best.hyperparams, cost: r.cost * TUNING_SEEDS.length };
}

/** The stated margin: the searched Adam's final loss within 5% of grid-tuned Adam's (geometric mean over seeds). */
export const RANDOM_SEARCH_MARGIN = Math.log(1.05);

/** Random search with early stopping over 4 Adam hyperparameters vs the learning-rate grid. */
export const randomSearchBaseline: Experiment = experiment('random-search-baseline', "Random search is a competitive baseline: with early stopping, a random search over Adam's hyperparameters matches a tuned learning-rate grid at no more compute.", SIZES, async ({ seeds: n, steps, trials }) => {
  const seeds = seedRange(n);
  const grid = tuneGrid(ADAM_BASELINE.space, (hp) => ADAM_BASELINE.build(hp, steps), searchTask, steps, TUNING_SEEDS);
  const gridCost = 7 * steps * TUNING_SEEDS.length;
  const rs = await searchAdam(trials, steps, 1);
  const single = await searchAdam(trials, steps, 1, true);
  const finals = (hp: Hyperparams) => trainSeeds(seeds, searchTask, () => adamOf(hp), steps).map((r) => r.finalTrainLoss);
  const [g, r, s] = [finals(grid), finals(rs.hp), finals(single.hp)];
  const hpText = (hp: Hyperparams) => Object.entries(hp).map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
  return {
    paper: '001 seed: "random search is a competitive baseline" (the finding of hyperparameter-optimization studies, e.g. Bergstra & Bengio 2012; successive halving / Hyperband, Li et al. 2017).',
    setting: `${n} seeds of a logistic regression (dim 20, batch 32, data from the seed), ${steps} steps; grid: Adam learning rate {1e-4, ..., 1e-1}; random search: ${trials} draws over {learningRate, beta1, beta2, epsilon}, successive halving (eta 3, rungs ${halvingRungs({ maxBudget: steps, minBudget: Math.max(1, Math.round(steps / 9)) }).join('/')} steps); both tuned on 2 tuning seeds.`,
    columns: ['tuning', 'chosen', 'tuning cost (steps)', 'final train loss (mean ± se)'],
    rows: [
      ['grid over the learning rate', hpText(grid), String(gridCost), meanSe(g)],
      ['random search + successive halving', hpText(rs.hp), String(rs.cost), meanSe(r)],
      ['search that keeps the worst trials (planted negation)', hpText(single.hp), String(single.cost), meanSe(s)],
    ],
    checks: [
      check('log(random search / grid) < log(1.05)', pairedLogRatios(r, g), RANDOM_SEARCH_MARGIN),
      check('planted negation: log(worst-keeping search / grid) < log(1.05)', pairedLogRatios(s, g), RANDOM_SEARCH_MARGIN),
    ],
  };
});
