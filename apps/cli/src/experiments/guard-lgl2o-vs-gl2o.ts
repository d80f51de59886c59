// Claim (b): LGL2O (the loss guard) beats GL2O with a learned optimizer as the "hare", and is as safe as its fallback.
import * as tf from '@tensorflow/tfjs-core';
import { key as makeKey, type Optimizer, type TensorTree } from '@lopt/core';
import { pairedLogRatios, trainOnTask, type BatchHolder } from '@lopt/eval';
import { adafacMlpLOpt } from '@lopt/learned';
import { gradientNormResidual, lossGuarded, safeguarded, type LossFn } from '@lopt/safeguard';
import { check, experiment, meanSe, type Experiment } from './common.js';
import { tunedAdamOnFamily } from './lopt-vs-tuned-adam.js';
import { heldOutTask, loptOptimizer, metaTrainQuadratic, type MetaTrained } from './quadratic-lopt.js';

const SIZES = { quick: { outer: 150, tasks: 8, steps: 100 }, full: { outer: 600, tasks: 24, steps: 300 } } as const;

/** Which optimizer a guard run trains: built per task with the holder its loss function reads the current batch from. */
export type GuardedBuilder = (lossFn: LossFn, numSteps: number) => Optimizer;

/** Final train losses of `build` on held-out quadratic tasks 0..n-1 (longer than the hare's meta-training horizon). */
export function guardFinals(build: GuardedBuilder, n: number, steps: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const task = heldOutTask(i);
    const holder: BatchHolder = { current: undefined, task: undefined };
    const lossFn: LossFn = (params: TensorTree) => task.loss(params, holder.current as never);
    return trainOnTask(task, build(lossFn, steps), { steps, key: makeKey(i), holder }).finalTrainLoss;
  });
}

/** The guards and baselines of the experiment around a hare and a fallback. */
export function guardVariants(m: MetaTrained, fallback: () => Optimizer): Record<string, GuardedBuilder> {
  const hare = (n: number) => loptOptimizer(m, m.theta, n);
  const never: LossFn = () => tf.scalar(0); // both candidates tie, and ties go to the learned optimizer: it never switches
  return {
    hare: (_l, n) => hare(n),
    fallback: () => fallback(),
    lgl2o: (lossFn, n) => lossGuarded(hare(n), fallback(), { lossFn }) as unknown as Optimizer,
    gl2o: (lossFn, n) => safeguarded(hare(n), fallback(), { residualFn: gradientNormResidual(lossFn) }) as unknown as Optimizer,
    never: (_l, n) => lossGuarded(hare(n), fallback(), { lossFn: never }) as unknown as Optimizer,
  };
}

/** The stated margins: LGL2O at least 5% lower final loss than GL2O, and at most 10% above its fallback's. */
export const LGL2O_MARGINS = { vsGl2o: Math.log(0.95), vsFallback: Math.log(1.1) } as const;

/** LGL2O vs GL2O around a PES-meta-trained adafacMlpLOpt with tuned Adam as the fallback. */
export const guardComparison: Experiment = experiment('lgl2o-vs-gl2o', 'LGL2O, the loss guard, is better than GL2O with the same learned optimizer and fallback, and converges like its fallback where the learned optimizer does not (Prémont-Schwarz et al. 2022).', SIZES, async ({ outer, tasks, steps }) => {
  const m = await metaTrainQuadratic(adafacMlpLOpt(), outer, 2);
  try {
    const tuned = tunedAdamOnFamily();
    const v = guardVariants(m, tuned.make);
    const f = Object.fromEntries(Object.entries(v).map(([k, b]) => [k, guardFinals(b, tasks, steps)])) as { [K in 'hare' | 'fallback' | 'lgl2o' | 'gl2o' | 'never']: number[] };
    const lr = (a: number[], b: number[]) => pairedLogRatios(a, b);
    return {
      paper: 'Prémont-Schwarz, Vítků, Feyereisl (ICML 2022): an L2O trained on MNIST MLPs, guarded by SGD/Adam, tested in and out of distribution; LGL2O close to the L2O early and to the fallback late, better than GL2O.',
      setting: `hare: adafacMlpLOpt meta-trained with PES for ${outer} outer steps on 8-dim quadratics at horizon 30; fallback: Adam at the family-tuned learning rate ${tuned.learningRate}; ${tasks} held-out quadratics trained ${steps} steps (past the hare's horizon); guards check every step on the task's loss; GL2O residual = gradient norm, defaults (delta 0.1, mu 'recent').`,
      columns: ['optimizer', 'final train loss (mean ± se)'],
      rows: [
        ['learned optimizer alone (hare)', meanSe(f.hare)],
        [`fallback: Adam ${tuned.learningRate}`, meanSe(f.fallback)],
        ['LGL2O (lossGuarded)', meanSe(f.lgl2o)],
        ['GL2O (safeguarded)', meanSe(f.gl2o)],
        ['guard that never switches (planted negation)', meanSe(f.never)],
      ],
      checks: [
        check('log(LGL2O / GL2O) < log(0.95)', lr(f.lgl2o, f.gl2o), LGL2O_MARGINS.vsGl2o),
        check('log(LGL2O / fallback) < log(1.1)', lr(f.lgl2o, f.fallback), LGL2O_MARGINS.vsFallback),
        check('planted negation: log(never-switching guard / fallback) < log(1.1)', lr(f.never, f.fallback), LGL2O_MARGINS.vsFallback),
      ],
    };
  } finally {
    m.dispose();
  }
});
