// Claim (a): a meta-trained learned optimizer beats a tuned Adam on its training family.
import type { Optimizer } from '@lopt/core';
import { ADAM_BASELINE, pairedLogRatios, type TrainResult } from '@lopt/eval';
import { adafacMlpLOpt } from '@lopt/learned';
import { check, curveMean, experiment, fmt, meanSe, trainSeeds, tuneGrid, type ClaimCheck, type Experiment } from './common.js';
import { HORIZON, heldOutTask, loptOptimizer, metaTrainQuadratic } from './quadratic-lopt.js';

const SIZES = { quick: { outer: 200, tasks: 8 }, full: { outer: 1000, tasks: 32 } } as const;
/** The stated margin: at least 5% lower mean loss over the horizon than tuned Adam, per held-out task (geometric mean). */
export const BEATS_ADAM_MARGIN = Math.log(0.95);

/** Mean loss over the horizon (logged every step) of `make()` on held-out tasks 0..n-1. */
export function heldOutCurveMeans(make: () => Optimizer, n: number): number[] {
  const seeds = Array.from({ length: n }, (_, i) => i);
  return trainSeeds(seeds, (s) => heldOutTask(s), make, HORIZON, 1).map((r: TrainResult) => curveMean(r));
}

/** Adam tuned on held-out tuning tasks (a stream apart from the evaluation tasks) over its 7-point grid, by mean loss over the horizon. */
export function tunedAdamOnFamily(tuningTasks = 4): { make: () => Optimizer; learningRate: number } {
  const hp = tuneGrid(ADAM_BASELINE.space, (h) => ADAM_BASELINE.build(h, HORIZON), (s) => heldOutTask(s, 'tuning'), HORIZON, Array.from({ length: tuningTasks }, (_, i) => i), curveMean, 1);
  return { make: () => ADAM_BASELINE.build(hp, HORIZON), learningRate: hp.learningRate as number };
}

/** The claim check of a candidate against tuned Adam on `n` held-out tasks. */
export function beatsTunedAdam(label: string, candidate: () => Optimizer, n: number, adam: () => Optimizer): { check: ClaimCheck; cand: number[]; base: number[] } {
  const cand = heldOutCurveMeans(candidate, n);
  const base = heldOutCurveMeans(adam, n);
  return { check: check(`log(${label} / tuned Adam) < log(0.95)`, pairedLogRatios(cand, base), BEATS_ADAM_MARGIN), cand, base };
}

/** adafacMlpLOpt meta-trained with PES vs Adam tuned per family. */
export const loptVsTunedAdam: Experiment = experiment('lopt-vs-tuned-adam', 'A learned optimizer meta-trained on a task family beats a tuned Adam on held-out tasks of that family.', SIZES, async ({ outer, tasks }) => {
  const m = await metaTrainQuadratic(adafacMlpLOpt(), outer);
  try {
    const tuned = tunedAdamOnFamily();
    const trained = beatsTunedAdam('meta-trained adafacMlpLOpt', () => loptOptimizer(m, m.theta, HORIZON), tasks, tuned.make);
    const initial = beatsTunedAdam('planted negation: adafacMlpLOpt at its initial theta', () => loptOptimizer(m, m.theta0, HORIZON), tasks, tuned.make);
    return {
      paper: 'learned_optimization quickstart / Metz et al. 2022 ("Practical tradeoffs"): AdafacMLPLOpt meta-trained with PES on a task family, compared with Adam tuned over a learning-rate grid.',
      setting: `adafacMlpLOpt, PES (4 tasks, unroll 5, std 0.01, Adam 1e-2 outer), ${outer} outer steps (${fmt(m.seconds)} s) on 8-dim quadratics (condition <= 10), horizon ${HORIZON}; Adam tuned over {1e-4, ..., 1e-1} on 4 tuning tasks; ${tasks} held-out tasks; metric: mean train loss over the ${HORIZON} steps (the meta-objective).`,
      columns: ['optimizer', 'mean loss over the horizon (mean ± se over held-out tasks)'],
      rows: [
        [`Adam, tuned (learning rate ${tuned.learningRate})`, meanSe(trained.base)],
        ['adafacMlpLOpt, meta-trained', meanSe(trained.cand)],
        ['adafacMlpLOpt, initial theta (planted negation)', meanSe(initial.cand)],
      ],
      checks: [
        trained.check,
        initial.check,
        check('log(meta-trained / initial theta) < log(0.9)', pairedLogRatios(trained.cand, initial.cand), Math.log(0.9)),
      ],
    };
  } finally {
    m.dispose();
  }
});
