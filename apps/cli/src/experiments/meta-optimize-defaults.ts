// Claim (d): MetaOptimize with its default settings matches the best fixed step size and a tuned schedule.
import type { Optimizer, Task } from '@lopt/core';
import { ADAMW_COSINE_BASELINE, ADAM_BASELINE, pairedLogRatios, type Baseline } from '@lopt/eval';
import { adamw, metaOptimize } from '@lopt/optimizers';
import { logisticRegressionTask } from '@lopt/tasks';
import { check, experiment, meanSe, seedRange, trainSeeds, tuneGrid, type Experiment } from './common.js';

const SIZES = { quick: { seeds: 6, steps: 300 }, full: { seeds: 16, steps: 2000 } } as const;
const TUNING_SEEDS = [100, 101];

/** A 20-dimensional logistic regression (batch 32) whose data depends on the seed. */
export function metaOptimizeTask(seed: number): Task {
  return logisticRegressionTask({ dim: 20, batchSize: 32, dataSeed: 700 + seed });
}

/** MetaOptimize with every setting at its default (the paper package's: Lion meta-optimizer, meta step 1e-3, gamma 0.9999, alpha0 = the base's 1e-3) around AdamW. */
export const metaOptimizeDefault = (): Optimizer => metaOptimize(adamw({ learningRate: 1e-3 })) as unknown as Optimizer;
/** The planted negation: the same with the meta update switched off (`fixed`): AdamW at 1e-3. */
export const metaOptimizeFrozen = (): Optimizer => metaOptimize(adamw({ learningRate: 1e-3 }), { metaOptimizer: 'fixed' }) as unknown as Optimizer;

/** Final losses of a baseline tuned on the tuning seeds over its grid, on `seeds`. */
export function tunedFinals(b: Baseline, seeds: readonly number[], steps: number): { finals: number[]; hp: Record<string, number> } {
  const hp = tuneGrid(b.space, (h) => b.build(h, steps), metaOptimizeTask, steps, TUNING_SEEDS);
  return { finals: trainSeeds(seeds, metaOptimizeTask, () => b.build(hp, steps), steps).map((r) => r.finalTrainLoss), hp };
}

/** The stated margin: MetaOptimize's final loss within 10% of the tuned baseline's (geometric mean). */
export const META_OPTIMIZE_MARGIN = Math.log(1.1);

/** MetaOptimize (defaults) vs tuned Adam (best fixed step) and tuned AdamW with warm-up + cosine. */
export const metaOptimizeDefaults: Experiment = experiment('meta-optimize-defaults', 'MetaOptimize with its default settings reaches the loss of the best fixed step size and of a tuned learning-rate schedule (Sharifnassab et al. 2025).', SIZES, ({ seeds: n, steps }) => {
  const seeds = seedRange(n);
  const mo = trainSeeds(seeds, metaOptimizeTask, metaOptimizeDefault, steps).map((r) => r.finalTrainLoss);
  const frozen = trainSeeds(seeds, metaOptimizeTask, metaOptimizeFrozen, steps).map((r) => r.finalTrainLoss);
  const fixed = tunedFinals(ADAM_BASELINE, seeds, steps);
  const sched = tunedFinals(ADAMW_COSINE_BASELINE, seeds, steps);
  return {
    paper: 'Sharifnassab, Salehkaleybar, Sutton (ICML 2025): MetaOptimize (AdamW base, Lion meta) comparable to the best hand-crafted schedules on CIFAR-10, ImageNet, TinyStories; package defaults meta_stepsize 1e-3, alpha0 1e-3, gamma 0.9999.',
    setting: `${n} logistic regressions (dim 20, batch 32), ${steps} steps; MetaOptimize(AdamW 1e-3) with every option at its default; Adam tuned over {1e-4, ..., 1e-1} and AdamW + 5% warm-up + cosine tuned over its peak {1e-4, ..., 1e-1}, each on 2 tuning seeds.`,
    columns: ['optimizer', 'final train loss (mean ± se)'],
    rows: [
      [`Adam, best fixed learning rate (${fixed.hp.learningRate})`, meanSe(fixed.finals)],
      [`AdamW, warm-up + cosine, tuned peak (${sched.hp.peakValue})`, meanSe(sched.finals)],
      ['MetaOptimize(AdamW 1e-3), defaults', meanSe(mo)],
      ['MetaOptimize with the meta update off (planted negation)', meanSe(frozen)],
    ],
    checks: [
      check('log(MetaOptimize / best fixed step) < log(1.1)', pairedLogRatios(mo, fixed.finals), META_OPTIMIZE_MARGIN),
      check('log(MetaOptimize / tuned schedule) < log(1.1)', pairedLogRatios(mo, sched.finals), META_OPTIMIZE_MARGIN),
      check('planted negation: log(meta update off / best fixed step) < log(1.1)', pairedLogRatios(frozen, fixed.finals), META_OPTIMIZE_MARGIN),
    ],
  };
});
