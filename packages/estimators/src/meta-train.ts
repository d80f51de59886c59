import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  advance,
  checkBoolean,
  checkNumber,
  disposeReplaced,
  disposeTree,
  foldIn,
  treeFlatten,
  treeLeaves,
  treeUnflatten,
  type GradientEstimator,
  type Key,
  type LearnedOptimizer,
  type Optimizer,
  type TensorTree,
} from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { firstNonFinite, FLOAT32_MAX, robustGlobalNorm } from './meta-train-checks.js';
import { checkpointBytes, restore, type MetaTrainCheckpointOptions, type RunState } from './meta-train-checkpoint.js';
import { disposeExcept } from './state.js';
import type { CollectedEstimates, EstimateSource } from './estimate-source.js';

/** What `metaTrain` reports after every outer step. */
export interface MetaTrainMetrics {
  /** Outer steps completed (1 after the first update). */
  readonly step: number;
  /** Mean meta-loss over the estimators (a NaN loss counts as `nanLossValue`). */
  readonly meanLoss: number;
  /** Global norm of the averaged gradient, after NaN replacement and before clipping. */
  readonly gradNorm: number;
  /** 1 if the gradient was clipped this step, else 0. */
  readonly clipped: number;
  /** Outer steps per second over this call so far. */
  readonly stepsPerSecond: number;
  /** Outer steps (so far in the run, across resumes) whose gradient had NaN/Inf entries, which were set to 0. */
  readonly nanGradientSteps: number;
  /** Outer steps (so far in the run, across resumes) whose mean loss was NaN/Inf and was replaced by `nanLossValue`. */
  readonly nanLossSteps: number;
  /**
   * Outer steps (so far in the run, across resumes) whose gradient was finite but so large
   * that its squares overflow float32 (norm above ~1.8e19): an outer Adam's second moment
   * would become Infinity and freeze theta. They are harmless with `clipGradNorm`; without
   * it the run stops with `NON_FINITE` as soon as the outer state is no longer finite.
   */
  readonly overflowSteps: number;
  /** Each estimator's metrics, keyed `<index>:<estimator name>/<metric>`. */
  readonly estimators: Readonly<Record<string, number>>;
}

/** Options of {@link metaTrain}. */
export interface MetaTrainOptions {
  /** The architecture being meta-trained (initializes theta; its name and config go into checkpoints). */
  readonly learnedOptimizer: LearnedOptimizer;
  /** Gradient estimators; their gradients are averaged every step. */
  readonly estimators: readonly GradientEstimator[];
  /** Optimizer of theta. Default `adam({ learningRate: 3e-4 })` (learned_optimization's default). */
  readonly outerOptimizer?: Optimizer<unknown>;
  /** Total outer steps of the run (a resumed run continues up to this number). */
  readonly steps: number;
  /** The run's key: theta init, worker init and every step's key derive from it. */
  readonly key: Key;
  /** Initial theta instead of `learnedOptimizer.init` (copied; the caller keeps ownership). */
  readonly theta?: TensorTree;
  /** Clip the averaged gradient to this global norm. Default Infinity (off). */
  readonly clipGradNorm?: number;
  /** Value that replaces a NaN/Inf mean loss (learned_optimization: 20). */
  readonly nanLossValue?: number;
  /** Checkpoint (and resume from) a store. */
  readonly checkpoint?: MetaTrainCheckpointOptions;
  /**
   * Called after every outer step with its metrics and the current theta (read-only; do not
   * dispose), before that step's checkpoint is written (so what it records belongs to it).
   */
  readonly onStep?: (metrics: MetaTrainMetrics, theta: TensorTree) => void | Promise<void>;
  /** Stops the run before the next step when aborted (a stopped run can resume from its checkpoint). */
  readonly signal?: AbortSignal;
  /**
   * Computes the estimates elsewhere (a worker pool, Redis workers) instead of in this
   * process; `estimators` still name them (and check checkpoints). The caller starts nothing:
   * `metaTrain` calls `start` and `collect`, and the caller closes the source afterwards.
   */
  readonly source?: EstimateSource;
}

/** What {@link metaTrain} returns. */
export interface MetaTrainResult {
  /** The meta-trained theta (owned by the caller). */
  readonly theta: TensorTree;
  /** Outer steps completed (including steps before a resume). */
  readonly step: number;
  /** The step this call started from (> 0 when it resumed from a checkpoint). */
  readonly resumedFrom: number;
  /** Metrics of every step this call ran. */
  readonly history: readonly MetaTrainMetrics[];
  /** True when `signal` stopped the run early. */
  readonly stopped: boolean;
}

/**
 * Stops the run (before its checkpoint is written) when theta or the outer optimizer's state
 * is no longer finite: an overflowed second moment freezes theta, which must not pass as a
 * finished run.
 */
function checkOuterFinite(run: RunState, step: number, gradNorm: number, clip: number): void {
  const bad = firstNonFinite(run.outer, 'outer');
  if (bad === undefined) return;
  const hint = Number.isFinite(clip)
    ? `lower clipGradNorm (now ${clip}) or the outer learning rate`
    : 'set clipGradNorm (the CLI config: "metaTrain": { "clipGradNorm": 10 }) or lower the outer learning rate';
  throw new LoptError(
    'NON_FINITE',
    `Meta-training stopped at outer step ${step}: '${bad}' became NaN or Infinity (gradient norm ${gradNorm.toExponential(3)}; ${run.overflowSteps} step(s) had a gradient whose squares overflow float32). Theta would stop changing; ${hint}.`,
    { path: bad },
  );
}

/**
 * The in-process estimates of one outer step: estimator `i` estimates from its worker state
 * with key `foldIn(stepKey, i)`; the worker states advance in place.
 */
function estimateLocally(estimators: readonly GradientEstimator[], workers: unknown[], theta: TensorTree, stepKey: Key): CollectedEstimates {
  const estimates = estimators.map((e, i) => {
    const r = e.estimate(theta, workers[i], foldIn(stepKey, i));
    disposeReplaced(workers[i], r.state);
    workers[i] = r.state;
    return { index: i, grad: r.grad, meanLoss: r.meanLoss, metrics: r.metrics, version: 0, worker: 'local' };
  });
  return { estimates, metrics: {} };
}

/** The checked options of a run: step count, clipping, NaN substitute, checkpoint policy and the outer optimizer. */
interface RunSettings {
  readonly steps: number;
  readonly clip: number;
  readonly nanLossValue: number;
  /** Checkpoint period (0 without a checkpoint). */
  readonly every: number;
  readonly saveOnStop: boolean;
  readonly outerOpt: Optimizer<unknown>;
}

/** Validates the options of {@link metaTrain}, naming the bad one. */
function checkMetaTrainOptions(o: MetaTrainOptions): RunSettings {
  if (typeof o?.learnedOptimizer?.init !== 'function') {
    throw new LoptError('INVALID_OPTION', "Option 'learnedOptimizer' must be a LearnedOptimizer.", { option: 'learnedOptimizer' });
  }
  if (!Array.isArray(o.estimators) || o.estimators.length === 0 || o.estimators.some((e) => typeof e?.estimate !== 'function')) {
    throw new LoptError('INVALID_OPTION', "Option 'estimators' must be a non-empty array of GradientEstimators.", { option: 'estimators' });
  }
  const steps = checkNumber('steps', o.steps, { integer: true, min: 0 });
  const clip = checkNumber('clipGradNorm', o.clipGradNorm ?? Infinity, { greaterThan: 0, allowInfinity: true });
  const nanLossValue = checkNumber('nanLossValue', o.nanLossValue ?? 20);
  const cp = o.checkpoint;
  const every = cp === undefined ? 0 : checkNumber('checkpoint.every', cp.every, { integer: true, min: 1 });
  if (cp !== undefined && (typeof cp.store?.load !== 'function' || typeof cp.store.save !== 'function')) {
    throw new LoptError('INVALID_OPTION', "Option 'checkpoint.store' must be a CheckpointStore (load, save).", { option: 'checkpoint.store' });
  }
  if (cp?.beforeSave !== undefined && typeof cp.beforeSave !== 'function') {
    throw new LoptError('INVALID_OPTION', "Option 'checkpoint.beforeSave' must be a function.", { option: 'checkpoint.beforeSave' });
  }
  const saveOnStop = cp === undefined ? false : checkBoolean('checkpoint.onStop', cp.onStop, false);
  const outerOpt = (o.outerOptimizer ?? (adam({ learningRate: 3e-4 }) as unknown as Optimizer<unknown>)) as Optimizer<unknown>;
  return { steps, clip, nanLossValue, every, saveOnStop, outerOpt };
}

/**
 * The run at its start: restored from the store's checkpoint, or a fresh one (theta given or
 * initialized from `foldIn(key, 0)`, worker `i` from `foldIn(foldIn(key, 1), i)`). With a
 * `source`, the source is started and owns the worker states from here on.
 */
async function startRun(o: MetaTrainOptions, s: RunSettings): Promise<{ run: RunState; step: number }> {
  const kWorkers = foldIn(o.key, 1);
  let run: RunState;
  let step = 0;
  const saved = o.checkpoint === undefined ? undefined : await o.checkpoint.store.load();
  if (saved !== undefined) {
    ({ run, step } = restore(saved, o, s.outerOpt, s.steps));
  } else {
    const theta = o.theta === undefined ? o.learnedOptimizer.init(foldIn(o.key, 0)) : treeUnflatten(treeFlatten(o.theta).structure, treeLeaves(o.theta).map((t) => tf.clone(t)));
    const outer = s.outerOpt.init(theta);
    const workers = o.source === undefined ? o.estimators.map((e, i) => e.init(theta, foldIn(kWorkers, i))) : [];
    run = { outer, workers, nanGradientSteps: 0, nanLossSteps: 0, overflowSteps: 0 };
  }
  if (o.source !== undefined) {
    await o.source.start({ theta: run.outer.params, step, workerKey: kWorkers, ...(run.workers.length > 0 ? { workerStates: run.workers } : {}) });
    run.workers = [];
  }
  return { run, step };
}

/** The collected estimates averaged leaf by leaf (consumed), with NaN/Inf entries set to 0 and counted. */
interface AveragedEstimates {
  readonly structure: ReturnType<typeof treeFlatten>['structure'];
  readonly averaged: tf.Tensor[];
  readonly nonFinite: number;
  /** Mean of the estimators' mean losses (NaN/Inf not yet replaced). */
  readonly meanLoss: number;
  /** Each estimator's metrics keyed `<index>:<name>/<metric>`, and the source's `source/<metric>`. */
  readonly metrics: Record<string, number>;
}

/** Averages the gradients of one step's estimates (disposing them) and collects their losses and metrics. */
function averageEstimates(collected: CollectedEstimates, estimators: readonly GradientEstimator[]): AveragedEstimates {
  const grads: TensorTree[] = [];
  let lossSum = 0;
  const metrics: Record<string, number> = {};
  for (const r of collected.estimates) {
    grads.push(r.grad);
    lossSum += r.meanLoss;
    for (const [name, v] of Object.entries(r.metrics)) metrics[`${r.index}:${estimators[r.index]?.name ?? 'estimator'}/${name}`] = v;
  }
  for (const [name, v] of Object.entries(collected.metrics)) metrics[`source/${name}`] = v;
  const { leaves: first, structure } = treeFlatten(grads[0] as TensorTree);
  const perEst = grads.map((g) => treeLeaves(g));
  let nonFinite = 0;
  const averaged = first.map((_, j) =>
    tf.tidy(() => {
      const parts = perEst.map((l) => l[j] as tf.Tensor);
      const mean = parts.length === 1 ? tf.clone(parts[0] as tf.Tensor) : tf.div(tf.addN(parts), parts.length);
      const finite = tf.isFinite(mean);
      nonFinite += tf.sum(tf.cast(tf.logicalNot(finite), 'int32')).dataSync()[0] as number;
      return tf.where(finite, mean, tf.zerosLike(mean));
    }),
  );
  for (const g of grads) disposeTree(g);
  return { structure, averaged, nonFinite, meanLoss: lossSum / grads.length, metrics };
}

/**
 * One outer update from averaged estimates: counts NaN gradients, replaces a NaN/Inf mean loss
 * with `nanLossValue`, counts overflow, clips to `clipGradNorm` and advances the outer optimizer.
 */
function outerUpdate(run: RunState, avg: AveragedEstimates, s: RunSettings): { meanLoss: number; gradNorm: number; clipped: number } {
  let grad = treeUnflatten(avg.structure, avg.averaged);
  if (avg.nonFinite > 0) run.nanGradientSteps++;
  let meanLoss = avg.meanLoss;
  if (!Number.isFinite(meanLoss)) {
    meanLoss = s.nanLossValue;
    run.nanLossSteps++;
  }
  const gradNorm = robustGlobalNorm(avg.averaged);
  if (gradNorm * gradNorm > FLOAT32_MAX) run.overflowSteps++;
  let clipped = 0;
  if (gradNorm > s.clip) {
    const scaled = treeUnflatten(avg.structure, avg.averaged.map((x) => tf.mul(x, s.clip / gradNorm)));
    disposeTree(grad);
    grad = scaled;
    clipped = 1;
  }
  const lossT = tf.scalar(meanLoss);
  run.outer = advance(s.outerOpt, run.outer, grad, { loss: lossT });
  lossT.dispose();
  disposeTree(grad);
  return { meanLoss, gradNorm, clipped };
}

/** Writes the run's checkpoint at `step` (after `beforeSave`), collecting remote worker states when the source owns them. */
async function saveRun(o: MetaTrainOptions, run: RunState, step: number, outerName: string): Promise<void> {
  const cp = o.checkpoint;
  if (cp === undefined) return;
  await cp.beforeSave?.(step, run.outer.params);
  const workers = o.source?.ownsWorkerStates && o.source.workerStates ? await o.source.workerStates() : run.workers;
  try {
    await cp.store.save(checkpointBytes(run, step, o, outerName, workers));
  } finally {
    if (workers !== run.workers) disposeExcept(workers);
  }
}

/**
 * Meta-trains a learned optimizer (learned_optimization's `SingleMachineGradientLearner`
 * with `gradient_worker_compute`). Every outer step:
 * 1. each estimator estimates the meta-gradient from its worker state with key
 *    `foldIn(foldIn(key, 2), step)` folded with its index;
 * 2. the gradients are averaged; NaN/Inf entries become 0 and a NaN/Inf mean loss becomes
 *    `nanLossValue` (both counted in the metrics);
 * 3. the gradient is clipped to `clipGradNorm` and the outer optimizer updates theta, with
 *    `ctx.loss` the mean meta-loss;
 * 4. metrics go to `onStep`; then, every `checkpoint.every` steps, theta, the outer optimizer
 *    state, every estimator's worker state, the step and the key are written atomically (also
 *    at the end of the run, and with `checkpoint.onStop` when `signal` stops it).
 *
 * Starting with a checkpoint in the store resumes it: a run stopped (or killed) and resumed
 * ends with exactly the theta of an uninterrupted run, because every step's randomness
 * derives from `(key, step)` and the whole state is in the checkpoint.
 *
 * @example
 * ```ts
 * const { theta } = await metaTrain({
 *   learnedOptimizer, estimators: [truncatedPES({ truncatedStep, unrollLength: 10, std: 0.01 })],
 *   steps: 1000, key: key(0), onStep: (m) => console.log(m.step, m.meanLoss),
 * });
 * ```
 */

export async function metaTrain(o: MetaTrainOptions): Promise<MetaTrainResult> {
  const s = checkMetaTrainOptions(o);
  const kSteps = foldIn(o.key, 2);
  const started = await startRun(o, s);
  const run = started.run;
  let step = started.step;
  const resumedFrom = step;
  const history: MetaTrainMetrics[] = [];
  const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
  const t0 = now();
  let stopped = false;
  let lastSaved = step;
  try {
    while (step < s.steps) {
      if (o.signal?.aborted) {
        stopped = true;
        break;
      }
      const theta = run.outer.params;
      const sk = foldIn(kSteps, step);
      const collected = o.source === undefined ? estimateLocally(o.estimators, run.workers, theta, sk) : await o.source.collect({ theta, step, stepKey: sk });
      const avg = averageEstimates(collected, o.estimators);
      const { meanLoss, gradNorm, clipped } = outerUpdate(run, avg, s);
      step++;
      checkOuterFinite(run, step, gradNorm, s.clip);
      const elapsed = (now() - t0) / 1000;
      const metrics: MetaTrainMetrics = {
        step,
        meanLoss,
        gradNorm,
        clipped,
        stepsPerSecond: elapsed > 0 ? (step - resumedFrom) / elapsed : 0,
        nanGradientSteps: run.nanGradientSteps,
        nanLossSteps: run.nanLossSteps,
        overflowSteps: run.overflowSteps,
        estimators: avg.metrics,
      };
      history.push(metrics);
      if (o.onStep) await o.onStep(metrics, run.outer.params);
      if (s.every > 0 && step % s.every === 0) {
        await saveRun(o, run, step, s.outerOpt.name);
        lastSaved = step;
      }
    }
    if (s.every > 0 && (!stopped || s.saveOnStop) && lastSaved !== step) await saveRun(o, run, step, s.outerOpt.name);
  } catch (e) {
    disposeExcept([run.outer, run.workers]);
    throw e;
  }
  const theta = run.outer.params;
  disposeExcept([run.outer, run.workers], theta);
  return { theta, step, resumedFrom, history, stopped };
}
