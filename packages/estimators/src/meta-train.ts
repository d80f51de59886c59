import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  advance,
  checkNumber,
  deserializeTree,
  disposeReplaced,
  disposeTree,
  foldIn,
  keyFromJSON,
  keyToJSON,
  serializeTree,
  treeFlatten,
  treeLeaves,
  treeUnflatten,
  type GradientEstimator,
  type Key,
  type LearnedOptimizer,
  type Optimizer,
  type OptState,
  type TensorTree,
} from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { checkCounter, checkSameLayout, firstNonFinite, FLOAT32_MAX, robustGlobalNorm } from './meta-train-checks.js';
import { disposeExcept, packState, unpackState, type PackedJson } from './state.js';
import type { CollectedEstimates, EstimateSource } from './estimate-source.js';

/**
 * Where `metaTrain` keeps its checkpoint: one blob, replaced atomically by `save`.
 * `@lopt/estimators/node` has a file-backed store; {@link memoryCheckpointStore} keeps it in memory.
 */
export interface CheckpointStore {
  /** The last saved checkpoint, or undefined when there is none. */
  load(): Promise<Uint8Array | undefined>;
  /** Replaces the checkpoint atomically (a reader never sees a partial write). */
  save(bytes: Uint8Array): Promise<void>;
}

/** A {@link CheckpointStore} in memory (browsers, tests). */
export function memoryCheckpointStore(): CheckpointStore & { readonly saves: number } {
  let blob: Uint8Array | undefined;
  let saves = 0;
  return {
    get saves() {
      return saves;
    },
    load: async () => (blob === undefined ? undefined : blob.slice()),
    save: async (bytes: Uint8Array) => {
      blob = bytes.slice();
      saves++;
    },
  };
}

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

/** Checkpointing of {@link metaTrain}. */
export interface MetaTrainCheckpointOptions {
  /** Where the checkpoint lives. */
  readonly store: CheckpointStore;
  /** Save every `every` outer steps (and at the end). */
  readonly every: number;
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
  /** Called after every outer step with its metrics and the current theta (read-only; do not dispose). */
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

const CHECKPOINT_KIND = 'meta-train';

interface RunState {
  outer: OptState<unknown>;
  workers: unknown[];
  nanGradientSteps: number;
  nanLossSteps: number;
  overflowSteps: number;
}

function checkpointBytes(run: RunState, step: number, o: MetaTrainOptions, outerName: string, workers: unknown[] = run.workers): Uint8Array {
  const { tensors, skeleton } = packState({ outer: run.outer, workers });
  return serializeTree(tensors, {
    kind: CHECKPOINT_KIND,
    name: o.learnedOptimizer.name,
    config: o.learnedOptimizer.config,
    extra: {
      step,
      key: keyToJSON(o.key),
      estimators: o.estimators.map((e) => e.name),
      outerOptimizer: outerName,
      nanGradientSteps: run.nanGradientSteps,
      nanLossSteps: run.nanLossSteps,
      overflowSteps: run.overflowSteps,
      skeleton,
    },
  });
}

function restore(bytes: Uint8Array, o: MetaTrainOptions, outerOpt: Optimizer<unknown>, steps: number): { run: RunState; step: number } {
  const { tree, metadata } = deserializeTree(bytes, { kind: CHECKPOINT_KIND, name: o.learnedOptimizer.name });
  const mismatch = (what: string): never => {
    disposeTree(tree);
    throw new LoptError('CHECKPOINT_MISMATCH', `The meta-train checkpoint was written with another ${what}; use a fresh checkpoint location or the same settings.`);
  };
  const extra = metadata.extra;
  if (JSON.stringify(metadata.config) !== JSON.stringify(JSON.parse(JSON.stringify(o.learnedOptimizer.config)))) mismatch('learned-optimizer config');
  const k = keyFromJSON(extra.key);
  if (k.k0 !== o.key.k0 || k.k1 !== o.key.k1) mismatch('key');
  if (JSON.stringify(extra.estimators) !== JSON.stringify(o.estimators.map((e) => e.name))) mismatch('list of estimators');
  if (extra.outerOptimizer !== outerOpt.name) mismatch('outer optimizer');
  let value: { outer: OptState<unknown>; workers: unknown[] } | undefined;
  try {
    const step = checkCounter('step', extra.step, steps, `the run has ${steps} outer steps`);
    const counter = (name: string): number => (extra[name] === undefined ? 0 : checkCounter(name, extra[name], step, `at most one per outer step, ${step} so far`));
    value = unpackState(extra.skeleton as PackedJson, treeLeaves(tree)) as { outer: OptState<unknown>; workers: unknown[] };
    checkRestoredState(value, o, outerOpt);
    const run: RunState = { outer: value.outer, workers: value.workers, nanGradientSteps: counter('nanGradientSteps'), nanLossSteps: counter('nanLossSteps'), overflowSteps: counter('overflowSteps') };
    return { run, step };
  } catch (e) {
    disposeTree(tree);
    throw e;
  }
}

/**
 * Compares a restored state with a freshly initialized one (structure, dtypes and shapes of
 * theta, the outer optimizer state and every worker state) and requires theta and the
 * outer state to be finite, naming the field that is not.
 */
function checkRestoredState(value: { outer: OptState<unknown>; workers: unknown[] }, o: MetaTrainOptions, outerOpt: Optimizer<unknown>): void {
  const held = o.source === undefined || o.source.ownsWorkerStates ? o.estimators.length : 0;
  if (typeof value !== 'object' || value === null || typeof value.outer !== 'object' || value.outer === null || !Array.isArray(value.workers) || value.workers.length !== held) {
    throw new LoptError('CHECKPOINT_INVALID', `The meta-train checkpoint's state must hold 'outer' and ${held} worker state(s) (one per estimator when the learner owns them).`);
  }
  const refTheta = o.learnedOptimizer.init(foldIn(o.key, 0));
  const refOuter = outerOpt.init(refTheta);
  const refWorkers = held === 0 ? [] : o.estimators.map((e, i) => e.init(refTheta, foldIn(foldIn(o.key, 1), i)));
  try {
    checkSameLayout(value.outer.params, refOuter.params, 'outer.params');
    checkSameLayout(value.outer.state, refOuter.state, 'outer.state');
    value.workers.forEach((w, i) => checkSameLayout(w, refWorkers[i], `workers.${i}`));
  } finally {
    disposeExcept([refTheta, refOuter, refWorkers]);
  }
  const bad = firstNonFinite(value.outer, 'outer');
  if (bad !== undefined) {
    throw new LoptError('NON_FINITE', `The meta-train checkpoint's '${bad}' holds NaN or Infinity; resuming would continue from a broken theta. Restart the run, or resume an earlier copy of the checkpoint.`, { path: bad });
  }
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

/**
 * Meta-trains a learned optimizer (learned_optimization's `SingleMachineGradientLearner`
 * with `gradient_worker_compute`). Every outer step:
 * 1. each estimator estimates the meta-gradient from its worker state with key
 *    `foldIn(foldIn(key, 2), step)` folded with its index;
 * 2. the gradients are averaged; NaN/Inf entries become 0 and a NaN/Inf mean loss becomes
 *    `nanLossValue` (both counted in the metrics);
 * 3. the gradient is clipped to `clipGradNorm` and the outer optimizer updates theta, with
 *    `ctx.loss` the mean meta-loss;
 * 4. metrics go to `onStep`; every `checkpoint.every` steps theta, the outer optimizer state,
 *    every estimator's worker state, the step and the key are written atomically.
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
  if (typeof o?.learnedOptimizer?.init !== 'function') {
    throw new LoptError('INVALID_OPTION', "Option 'learnedOptimizer' must be a LearnedOptimizer.", { option: 'learnedOptimizer' });
  }
  if (!Array.isArray(o.estimators) || o.estimators.length === 0 || o.estimators.some((e) => typeof e?.estimate !== 'function')) {
    throw new LoptError('INVALID_OPTION', "Option 'estimators' must be a non-empty array of GradientEstimators.", { option: 'estimators' });
  }
  const steps = checkNumber('steps', o.steps, { integer: true, min: 0 });
  const clip = checkNumber('clipGradNorm', o.clipGradNorm ?? Infinity, { greaterThan: 0, allowInfinity: true });
  const nanLossValue = checkNumber('nanLossValue', o.nanLossValue ?? 20);
  const every = o.checkpoint === undefined ? 0 : checkNumber('checkpoint.every', o.checkpoint.every, { integer: true, min: 1 });
  if (o.checkpoint !== undefined && (typeof o.checkpoint.store?.load !== 'function' || typeof o.checkpoint.store.save !== 'function')) {
    throw new LoptError('INVALID_OPTION', "Option 'checkpoint.store' must be a CheckpointStore (load, save).", { option: 'checkpoint.store' });
  }
  const outerOpt = (o.outerOptimizer ?? (adam({ learningRate: 3e-4 }) as unknown as Optimizer<unknown>)) as Optimizer<unknown>;
  const kTheta = foldIn(o.key, 0);
  const kWorkers = foldIn(o.key, 1);
  const kSteps = foldIn(o.key, 2);

  let run: RunState;
  let step = 0;
  const saved = o.checkpoint === undefined ? undefined : await o.checkpoint.store.load();
  if (saved !== undefined) {
    ({ run, step } = restore(saved, o, outerOpt, steps));
  } else {
    const theta = o.theta === undefined ? o.learnedOptimizer.init(kTheta) : treeUnflatten(treeFlatten(o.theta).structure, treeLeaves(o.theta).map((t) => tf.clone(t)));
    const outer = outerOpt.init(theta);
    const workers = o.source === undefined ? o.estimators.map((e, i) => e.init(theta, foldIn(kWorkers, i))) : [];
    run = { outer, workers, nanGradientSteps: 0, nanLossSteps: 0, overflowSteps: 0 };
  }
  if (o.source !== undefined) {
    // The source owns the restored worker states from here on.
    await o.source.start({ theta: run.outer.params, step, workerKey: kWorkers, ...(run.workers.length > 0 ? { workerStates: run.workers } : {}) });
    run.workers = [];
  }
  const save = async (): Promise<void> => {
    const workers = o.source?.ownsWorkerStates && o.source.workerStates ? await o.source.workerStates() : run.workers;
    try {
      await o.checkpoint?.store.save(checkpointBytes(run, step, o, outerOpt.name, workers));
    } finally {
      if (workers !== run.workers) disposeExcept(workers);
    }
  };
  const resumedFrom = step;
  const history: MetaTrainMetrics[] = [];
  const t0 = typeof performance !== 'undefined' ? performance.now() : Date.now();
  const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
  let stopped = false;
  let lastSaved = step;

  try {
    while (step < steps) {
      if (o.signal?.aborted) {
        stopped = true;
        break;
      }
      const theta = run.outer.params;
      const sk = foldIn(kSteps, step);
      const collected = o.source === undefined ? estimateLocally(o.estimators, run.workers, theta, sk) : await o.source.collect({ theta, step, stepKey: sk });
      const grads: TensorTree[] = [];
      let lossSum = 0;
      const estMetrics: Record<string, number> = {};
      for (const r of collected.estimates) {
        grads.push(r.grad);
        lossSum += r.meanLoss;
        for (const [name, v] of Object.entries(r.metrics)) estMetrics[`${r.index}:${o.estimators[r.index]?.name ?? 'estimator'}/${name}`] = v;
      }
      for (const [name, v] of Object.entries(collected.metrics)) estMetrics[`source/${name}`] = v;
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
      let grad = treeUnflatten(structure, averaged);
      if (nonFinite > 0) run.nanGradientSteps++;
      let meanLoss = lossSum / grads.length;
      if (!Number.isFinite(meanLoss)) {
        meanLoss = nanLossValue;
        run.nanLossSteps++;
      }
      const gradNorm = robustGlobalNorm(averaged);
      if (gradNorm * gradNorm > FLOAT32_MAX) run.overflowSteps++;
      let clipped = 0;
      if (gradNorm > clip) {
        const scaled = treeUnflatten(structure, averaged.map((x) => tf.mul(x, clip / gradNorm)));
        disposeTree(grad);
        grad = scaled;
        clipped = 1;
      }
      const lossT = tf.scalar(meanLoss);
      run.outer = advance(outerOpt, run.outer, grad, { loss: lossT });
      lossT.dispose();
      disposeTree(grad);
      step++;
      checkOuterFinite(run, step, gradNorm, clip);
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
        estimators: estMetrics,
      };
      history.push(metrics);
      if (o.checkpoint !== undefined && step % every === 0) {
        await save();
        lastSaved = step;
      }
      if (o.onStep) await o.onStep(metrics, run.outer.params);
    }
    if (o.checkpoint !== undefined && !stopped && lastSaved !== step) await save();
  } catch (e) {
    disposeExcept([run.outer, run.workers]);
    throw e;
  }
  const theta = run.outer.params;
  disposeExcept([run.outer, run.workers], theta);
  return { theta, step, resumedFrom, history, stopped };
}
