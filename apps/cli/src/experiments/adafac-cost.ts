// Claim (f): adafac is far cheaper per step than MLPLOpt at similar quality (000 seed; Metz et al. 2022, "Practical tradeoffs").
import { key as makeKey, treeLeaves, type LearnedOptimizer, type Task } from '@lopt/core';
import { pairedLogRatios, trainOnTask } from '@lopt/eval';
import { adafacMlpLOpt, mlpLOpt, nnAdam } from '@lopt/learned';
import { mlpClassificationTask } from '@lopt/tasks';
import { check, curveMean, experiment, fmt, meanSe, type Experiment } from './common.js';
import { HORIZON, heldOutTask, loptOptimizer, metaTrainQuadratic, type MetaTrained } from './quadratic-lopt.js';

const SIZES = { quick: { outer: 100, tasks: 8, timing: 4, timingSteps: 20 }, full: { outer: 500, tasks: 24, timing: 8, timingSteps: 50 } } as const;

/** The task the cost per step is timed on: an MLP classifier with two hidden layers of 128 (about 17k parameters). */
export function timingTask(): Task {
  return mlpClassificationTask({ hidden: [128, 128], batchSize: 64 });
}

/** Per seed, interleaved across the optimizers (so load drifts hit all alike): ms per step on {@link timingTask}. */
export function msPerStep(subjects: readonly MetaTrained[], seeds: number, steps: number): number[][] {
  const out = subjects.map(() => [] as number[]);
  for (let s = 0; s < seeds; s++) {
    subjects.forEach((m, i) => {
      const r = trainOnTask(timingTask(), loptOptimizer(m, m.theta, steps), { steps, key: makeKey(s) });
      out[i]?.push(r.msPerStep);
    });
  }
  return out;
}

/**
 * Deterministic cost per step: the multiply-adds each parameter costs in the learned
 * optimizer's per-parameter MLP, i.e. the element count of theta's weight matrices (rank-2
 * leaves). Unlike milliseconds it does not drift with machine load, so tests can assert it.
 */
export function multiplyAddsPerParameter(m: MetaTrained): number {
  return treeLeaves(m.theta).filter((t) => t.rank === 2).reduce((sum, t) => sum + t.size, 0);
}

/** Per held-out quadratic task: the mean loss over the horizon (the meta-objective). */
export function qualityOf(m: MetaTrained, tasks: number): number[] {
  return Array.from({ length: tasks }, (_, i) => curveMean(trainOnTask(heldOutTask(i), loptOptimizer(m, m.theta, HORIZON), { steps: HORIZON, key: makeKey(i), evalEvery: 1 })));
}

/** The stated margins: at most 2/3 of MLPLOpt's time per step, and at most 25% higher meta-objective. */
export const ADAFAC_MARGINS = { cost: Math.log(2 / 3), quality: Math.log(1.25) } as const;

/** adafacMlpLOpt vs mlpLOpt vs nnAdam at equal meta-training budget. */
export const adafacCost: Experiment = experiment('adafac-cost', 'AdafacMLPLOpt is far cheaper per step than MLPLOpt at similar quality, at equal meta-training budget (000 seed; Metz et al. 2022).', SIZES, async ({ outer, tasks, timing, timingSteps }) => {
  const archs: [string, LearnedOptimizer][] = [['adafacMlpLOpt', adafacMlpLOpt()], ['mlpLOpt', mlpLOpt()], ['nnAdam', nnAdam()]];
  const trained: MetaTrained[] = [];
  try {
    for (const [, a] of archs) trained.push(await metaTrainQuadratic(a, outer, 3));
    const ms = msPerStep(trained, timing, timingSteps);
    const q = trained.map((m) => qualityOf(m, tasks));
    const pick = (i: number) => ({ ms: ms[i] as number[], q: q[i] as number[], m: trained[i] as MetaTrained });
    const [adaf, mlp, nna] = [pick(0), pick(1), pick(2)];
    const logRatio = (a: number[], b: number[]) => a.map((x, i) => Math.log(x / (b[i] as number)));
    const row = (name: string, x: typeof adaf) => [name, fmt(x.m.seconds), meanSe(x.ms), meanSe(x.q)];
    return {
      paper: 'Metz et al. (CoLLAs 2022), "Practical tradeoffs between memory, compute, and performance in learned optimizers": AdafacMLPLOpt (197 meta-parameters, factored accumulators) vs MLPLOpt (1,762) and NNAdam, time and memory per step vs performance.',
      setting: `each meta-trained with PES for ${outer} outer steps on 8-dim quadratics (the same budget); cost: ms per step on an MLP classifier (hidden [128, 128], ~17k parameters), ${timing} interleaved runs of ${timingSteps} steps; quality: mean loss over horizon ${HORIZON} on ${tasks} held-out quadratics.`,
      columns: ['learned optimizer', 'meta-training s', 'ms per step (17k params)', 'held-out meta-objective'],
      rows: [row('adafacMlpLOpt', adaf), row('mlpLOpt', mlp), row('nnAdam', nna)],
      checks: [
        check('log(ms per step adafac / mlpLOpt) < log(2/3)', logRatio(adaf.ms, mlp.ms), ADAFAC_MARGINS.cost),
        check('log(MLP multiply-adds per parameter adafac / mlpLOpt) < log(2/3)', [Math.log(multiplyAddsPerParameter(adaf.m) / multiplyAddsPerParameter(mlp.m))], ADAFAC_MARGINS.cost),
        check('log(meta-objective adafac / mlpLOpt) < log(1.25)', pairedLogRatios(adaf.q, mlp.q), ADAFAC_MARGINS.quality),
        check('log(ms per step adafac / nnAdam) < log(2/3)', logRatio(adaf.ms, nna.ms), ADAFAC_MARGINS.cost),
        check('planted negation: log(MLP multiply-adds per parameter mlpLOpt / mlpLOpt) < log(2/3)', [Math.log(multiplyAddsPerParameter(mlp.m) / multiplyAddsPerParameter(mlp.m))], ADAFAC_MARGINS.cost),
        check('planted negation: log(ms per step mlpLOpt / mlpLOpt, a second interleaved run) < log(2/3)', logRatio(msPerStep([mlp.m], timing, timingSteps)[0] as number[], mlp.ms), ADAFAC_MARGINS.cost),
      ],
    };
  } finally {
    trained.forEach((m) => m.dispose());
  }
});
