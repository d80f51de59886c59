import {
  LoptError,
  deserializeTree,
  disposeTree,
  foldIn,
  keyFromJSON,
  keyToJSON,
  serializeTree,
  treeLeaves,
  type Optimizer,
  type OptState,
  type TensorTree,
} from '@lopt/core';
import { checkCounter, checkSameLayout, firstNonFinite } from './meta-train-checks.js';
import { disposeExcept, packState, unpackState, type PackedJson } from './state.js';
import type { MetaTrainOptions } from './meta-train.js';

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

/**
 * Checkpointing of `metaTrain` and when it flushes: every `every` outer steps (after that
 * step's `onStep`), at the end of the run, and, with `onStop`, when `signal` stops it.
 */
export interface MetaTrainCheckpointOptions {
  /** Where the checkpoint lives. */
  readonly store: CheckpointStore;
  /** Save every `every` outer steps (and at the end). */
  readonly every: number;
  /**
   * Also save when `signal` stops the run, at the last finished step, so a stopped run
   * loses no step. Default false: a stopped run keeps its last periodic checkpoint.
   */
  readonly onStop?: boolean;
  /**
   * Called with the step a checkpoint is about to be written at and the theta of that step
   * (read-only; do not dispose), before the store saves it: files that belong with the
   * checkpoint (a theta file, a selected best theta) reach the disk first, so after a crash
   * none of them is newer-than-lost.
   */
  readonly beforeSave?: (step: number, theta: TensorTree) => void | Promise<void>;
}

/** The checkpoint kind `metaTrain` writes (the `kind` of its safetensors metadata). */
export const META_TRAIN_CHECKPOINT_KIND = 'meta-train';

/** What a meta-train checkpoint holds besides the step and the key. */
export interface RunState {
  outer: OptState<unknown>;
  workers: unknown[];
  nanGradientSteps: number;
  nanLossSteps: number;
  overflowSteps: number;
}

/**
 * The outer step a meta-train checkpoint was written at (0 when there are no bytes). The
 * whole file is verified (hash, kind) as when resuming; errors are `LoptError`s.
 */
export function metaTrainCheckpointStep(bytes: Uint8Array | undefined): number {
  if (!bytes) return 0;
  const { tree, metadata } = deserializeTree(bytes, { kind: META_TRAIN_CHECKPOINT_KIND });
  disposeTree(tree);
  return Number(metadata.extra.step ?? 0);
}

/** Serializes the run at `step` (theta, outer state, worker states, counters, key, names). */
export function checkpointBytes(run: RunState, step: number, o: MetaTrainOptions, outerName: string, workers: unknown[] = run.workers): Uint8Array {
  const { tensors, skeleton } = packState({ outer: run.outer, workers });
  return serializeTree(tensors, {
    kind: META_TRAIN_CHECKPOINT_KIND,
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

/** Restores a run from checkpoint bytes, refusing one written with other settings or holding a broken state. */
export function restore(bytes: Uint8Array, o: MetaTrainOptions, outerOpt: Optimizer<unknown>, steps: number): { run: RunState; step: number } {
  const { tree, metadata } = deserializeTree(bytes, { kind: META_TRAIN_CHECKPOINT_KIND, name: o.learnedOptimizer.name });
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
