import { LoptError, key as makeKey, type Optimizer } from '@lopt/core';
import { getBaseline, type Hyperparams } from './baselines.js';
import type { RunRecord } from './record.js';
import { buildSuiteTask, suiteEvalEvery, type SuiteTask } from './suite.js';
import { trainOnTask, type BatchHolder } from './train.js';

/** An optimizer of a suite run, identified for caching. */
export interface OptimizerRef {
  /** Row label in tables. */
  readonly label: string;
  /** Identity in cache keys: the same id must always build the same optimizer. */
  readonly id: string;
  /** A baseline with fixed hyperparameters. */
  readonly baseline?: { readonly name: string; readonly hyperparams: Hyperparams };
  /** An optimizer spec the application resolves (e.g. the CLI's `adam:learningRate=0.01`, a checkpoint). */
  readonly spec?: string;
  /** Stands for the named baseline as tuned on each task (e.g. `adam`: tuned Adam is its own row). */
  readonly tuned?: string;
}

/** One (task, optimizer, seed) training run of a suite. */
export interface RunRequest {
  /** The suite task (JSON: it travels to worker processes). */
  readonly task: SuiteTask;
  /** Batches per logged loss. */
  readonly evalBatches: number;
  /** The optimizer. */
  readonly optimizer: OptimizerRef;
  /** Run seed: initial parameters and batches come from `key(seed)`, shared by every optimizer. */
  readonly seed: number;
}

/** An optimizer built for one run, with what the run must give it and free afterwards. */
export interface ResolvedOptimizer {
  /** The optimizer. */
  readonly optimizer: Optimizer;
  /** Receives each step's batch (guards that evaluate losses on it). */
  readonly holder?: BatchHolder;
  /** Frees what the optimizer owns (e.g. meta-parameters from a checkpoint); called after the run. */
  readonly dispose?: () => void;
}

/** Builds the optimizer of a reference for a run of `numSteps` steps. */
export type OptimizerResolver = (ref: OptimizerRef, numSteps: number) => Optimizer | ResolvedOptimizer | Promise<Optimizer | ResolvedOptimizer>;

/** Resolves baseline references; throws for specs (an application supplies its own resolver for those). */
export const baselineResolver: OptimizerResolver = (ref, numSteps) => {
  if (ref.baseline) return getBaseline(ref.baseline.name).build(ref.baseline.hyperparams, numSteps);
  throw new LoptError('INVALID_OPTION', `Optimizer '${ref.label}' is not a baseline with hyperparameters; pass a resolver that builds it.`, { option: 'optimizer' });
};

/** The reference of baseline `name` with hyperparameters `hp` (its id is canonical JSON). */
export function baselineRef(name: string, hp: Hyperparams, label = name): OptimizerRef {
  const sorted = Object.fromEntries(Object.keys(hp).sort().map((k) => [k, hp[k]]));
  return { label, id: `baseline:${name}${JSON.stringify(sorted)}`, baseline: { name, hyperparams: hp } };
}

/** Trains one run in this process. */
export async function executeRun(request: RunRequest, resolve: OptimizerResolver): Promise<RunRecord> {
  const task = buildSuiteTask(request.task);
  const built = await resolve(request.optimizer, request.task.steps);
  const resolved: ResolvedOptimizer = 'optimizer' in built && typeof (built as ResolvedOptimizer).optimizer?.update === 'function' ? (built as ResolvedOptimizer) : { optimizer: built as Optimizer };
  try {
    const r = trainOnTask(task, resolved.optimizer, {
      steps: request.task.steps,
      key: makeKey(request.seed),
      evalEvery: suiteEvalEvery(request.task),
      evalBatches: request.evalBatches,
      ...(resolved.holder ? { holder: resolved.holder } : {}),
    });
    const { curve, finalTrainLoss, finalValidLoss, diverged, steps, msPerStep, wallMs } = r;
    return { curve, finalTrainLoss, finalValidLoss, diverged, steps, msPerStep, wallMs };
  } finally {
    resolved.dispose?.();
  }
}
