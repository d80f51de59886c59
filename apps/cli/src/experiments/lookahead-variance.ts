// Claim (e): Lookahead reduces the variance of its inner optimizer (Zhang et al. 2019).
import { key as makeKey, type Optimizer, type Task } from '@lopt/core';
import { lookahead, sgd } from '@lopt/optimizers';
import { noisyQuadraticFamily } from '@lopt/tasks';
import { check, experiment, fmt, meanSe, seedRange, tailMean, trainSeeds, type Experiment } from './common.js';

const SIZES = { quick: { seeds: 6, steps: 400 }, full: { seeds: 20, steps: 2000 } } as const;
const LR = 0.3;

/** The task of a seed: a 10-dimensional noisy quadratic (scales U[0, 1), gradient noise std 1) sampled from the seed. */
export function lookaheadTask(seed: number): Task {
  const family = noisyQuadraticFamily({ dim: 10, noiseStd: 1, maxScale: 1 });
  return family.task(family.sample(makeKey(10_000 + seed)));
}

/**
 * Per-seed log-ratios of the steady-state loss (mean logged loss over the second half) of
 * `candidate` to that of SGD at the same learning rate, on the same tasks, initial points and noise.
 */
export function steadyStateLogRatios(candidate: () => Optimizer, seeds: readonly number[], steps: number): { ratios: number[]; cand: number[]; base: number[] } {
  const cand = trainSeeds(seeds, lookaheadTask, candidate, steps, 10).map((r) => tailMean(r, steps / 2));
  const base = trainSeeds(seeds, lookaheadTask, () => sgd({ learningRate: LR }), steps, 10).map((r) => tailMean(r, steps / 2));
  return { ratios: cand.map((c, i) => Math.log(c / (base[i] as number))), cand, base };
}

/** Lookahead's defaults (k = 5, alpha = 0.5) around SGD at the baseline's learning rate. */
export const lookaheadSgd = (slowStepSize = 0.5): Optimizer => lookahead(sgd({ learningRate: LR }), { syncPeriod: 5, slowStepSize }) as Optimizer;

/** The stated margin: Lookahead's steady-state loss at most 80% of SGD's. */
export const LOOKAHEAD_MARGIN = Math.log(0.8);

/** Lookahead vs SGD on noisy quadratics. */
export const lookaheadVariance: Experiment = experiment('lookahead-variance', "Lookahead reduces the variance of its inner optimizer: on a noisy quadratic its steady-state loss (a measure of the iterates' variance) is below the inner optimizer's at the same learning rate.", SIZES, ({ seeds: n, steps }) => {
  const seeds = seedRange(n);
  const rows: string[][] = [];
  const m = steadyStateLogRatios(() => lookaheadSgd(0.5), seeds, steps);
  const one = steadyStateLogRatios(() => lookaheadSgd(1), seeds, steps);
  rows.push(['SGD (lr 0.3)', meanSe(m.base), '1']);
  rows.push(['Lookahead(SGD), k=5, alpha=0.5', meanSe(m.cand), fmt(Math.exp(m.ratios.reduce((a, b) => a + b, 0) / n))]);
  rows.push(['Lookahead(SGD), k=5, alpha=1 (planted negation: no slow step)', meanSe(one.cand), fmt(Math.exp(one.ratios.reduce((a, b) => a + b, 0) / n))]);
  return {
    paper: 'Zhang, Lucas, Hinton, Ba (NeurIPS 2019): noisy quadratic model analysis (Prop. 2: smaller steady-state variance than SGD at the same learning rate), then CIFAR/ImageNet/LM with k=5, alpha=0.5.',
    setting: `${n} noisy quadratics (dim 10, scales U[0,1), gradient noise std 1), SGD lr ${LR}, ${steps} steps; steady-state loss = mean loss logged every 10 steps over the second half (Lookahead at its slow weights).`,
    columns: ['optimizer', 'steady-state loss (mean ± se)', 'geometric-mean ratio to SGD'],
    rows,
    checks: [
      check('log(Lookahead alpha=0.5 / SGD) < log(0.8)', m.ratios, LOOKAHEAD_MARGIN),
      check('planted negation: log(Lookahead alpha=1 / SGD) < log(0.8)', one.ratios, LOOKAHEAD_MARGIN),
    ],
  };
});
