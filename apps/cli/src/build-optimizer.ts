import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  collectTensors,
  create,
  has,
  key as makeKey,
  list,
  LoptError,
  type LearnedOptimizer,
  type Optimizer,
  type TensorTree,
} from '@lopt/core';
import { CliError, withContext } from './errors.js';
import { MAX_BYTES, readInputFile } from './input-files.js';
import { libraryFunction } from './packages.js';
import { resolveSchedules } from './schedules.js';
import { specLabel, type OptimizerSpec } from './spec.js';
import type { BatchHolder } from '@lopt/eval';

/** An optimizer built from a spec, with the tensors it owns (checkpoint theta). */
export interface BuiltOptimizer {
  readonly optimizer: Optimizer;
  readonly label: string;
  /** Frees tensors the optimizer owns (meta-parameters loaded from a checkpoint). */
  dispose(): void;
}

/** A learned optimizer and its meta-parameters, as loaded from a checkpoint. */
export interface LoadedLearned {
  readonly learnedOptimizer: LearnedOptimizer;
  readonly theta: TensorTree;
}

/** Where a spec's checkpoint lives: the file itself, or `theta.safetensors` inside a run directory. */
export function checkpointFile(path: string): string {
  const abs = resolve(path);
  if (!existsSync(abs)) {
    throw new CliError(
      `The checkpoint '${path}' does not exist.`,
      'Pass the theta.safetensors or best.safetensors of a meta-training run (or the run directory itself), e.g. runs/quickstart/theta.safetensors.',
    );
  }
  if (statSync(abs).isDirectory()) {
    // A run that validated its checkpoints keeps the best one apart from the last.
    const best = join(abs, 'best.safetensors');
    if (existsSync(best)) return best;
    const inner = join(abs, 'theta.safetensors');
    if (!existsSync(inner)) {
      throw new CliError(
        `The directory '${path}' holds no theta.safetensors.`,
        'Pass the run directory of a meta-training run that wrote at least one checkpoint, or the checkpoint file itself.',
      );
    }
    return inner;
  }
  return abs;
}

/**
 * Loads a learned optimizer checkpoint (written by `lopt meta-train`) with
 * `loadLearnedOptimizer` from @lopt/learned, which verifies the file and rebuilds the
 * architecture from its metadata.
 */
export async function loadLearnedCheckpoint(path: string): Promise<LoadedLearned> {
  const file = checkpointFile(path);
  const load = await libraryFunction<(bytes: Uint8Array) => { lopt: LearnedOptimizer; theta: TensorTree }>(
    '@lopt/learned',
    'loadLearnedOptimizer',
    'Loading a learned-optimizer checkpoint',
  );
  const bytes = readInputFile(file, 'the checkpoint', MAX_BYTES.checkpoint);
  try {
    const { lopt, theta } = load(bytes);
    return { learnedOptimizer: lopt, theta };
  } catch (e) {
    throw withContext(e, `Checkpoint ${path}`);
  }
}

type PretrainedLoader = (name: string) => { theta: TensorTree; optimizer(options: Record<string, unknown>): Optimizer };

/** A published learned optimizer shipped with @lopt/learned (`pretrained:celo2:learningRate=3e-3`). */
async function buildPretrained(spec: Extract<OptimizerSpec, { kind: 'pretrained' }>, numSteps: number): Promise<BuiltOptimizer> {
  const load = await libraryFunction<PretrainedLoader>('@lopt/learned', 'pretrained', `The optimizer spec '${spec.text}'`);
  const loaded = wrapCreate(() => load(spec.name), spec.text);
  try {
    const optimizer = wrapCreate(() => loaded.optimizer({ numSteps, ...spec.options }), spec.text);
    return { optimizer, label: specLabel(spec), dispose: () => tf.dispose(collectTensors(loaded.theta)) };
  } catch (e) {
    tf.dispose(collectTensors(loaded.theta));
    throw e;
  }
}

type Guard = (learned: Optimizer, fallback: Optimizer, options: Record<string, unknown>) => Optimizer;

/** Options of {@link buildOptimizer}. */
export interface BuildOptions {
  /** Length of the training run (learned optimizers' time features). */
  readonly numSteps: number;
  /** The batch of the current step, for guards' loss functions. */
  readonly holder: BatchHolder;
}

/**
 * Builds the optimizer a spec describes: a registered optimizer (or a freshly initialized
 * learned-optimizer architecture), a meta-trained checkpoint, or a guard from @lopt/safeguard
 * whose loss (or residual) is evaluated on the current training batch.
 */
export async function buildOptimizer(spec: OptimizerSpec, options: BuildOptions): Promise<BuiltOptimizer> {
  switch (spec.kind) {
    case 'registry': {
      if (has('optimizer', spec.name)) {
        const options = await resolveSchedules(spec.options, `Optimizer spec '${spec.text}'`);
        const optimizer = wrapCreate(() => create('optimizer', spec.name, options), spec.text);
        return { optimizer, label: specLabel(spec), dispose: () => undefined };
      }
      if (has('learned-optimizer', spec.name)) {
        const learned = wrapCreate(() => create('learned-optimizer', spec.name, spec.options), spec.text);
        const theta = learned.init(makeKey(0));
        return {
          optimizer: learned.optimizer(theta, { numSteps: options.numSteps }),
          label: `${specLabel(spec)} (untrained)`,
          dispose: () => tf.dispose(collectTensors(theta)),
        };
      }
      // create() throws UNKNOWN_NAME listing the registered names and the closest one.
      const names = list('optimizer').map((e) => e.name);
      try {
        create('optimizer', spec.name, spec.options);
      } catch (e) {
        throw withContext(e, `Optimizer spec '${spec.text}'`);
      }
      throw new CliError(`No optimizer named '${spec.name}'.`, `Registered: ${names.join(', ')}.`);
    }
    case 'pretrained':
      return buildPretrained(spec, options.numSteps);
    case 'checkpoint': {
      const { learnedOptimizer, theta } = await loadLearnedCheckpoint(spec.path);
      return {
        optimizer: learnedOptimizer.optimizer(theta, { numSteps: options.numSteps }),
        label: specLabel(spec),
        dispose: () => tf.dispose(collectTensors(theta)),
      };
    }
    case 'guard': {
      const inner = await buildOptimizer(spec.inner, options);
      const fallback = await buildOptimizer(spec.fallback, options);
      const guard = await libraryFunction<Guard>('@lopt/safeguard', spec.guard, `The guard '${spec.text}'`);
      const lossFn = (params: TensorTree): tf.Scalar => {
        const { task, current } = options.holder;
        if (!task) throw new LoptError('INTERNAL', 'A guard evaluated a loss outside a training step.');
        return task.loss(params, current as never);
      };
      const residualFn = (params: TensorTree): tf.Scalar =>
        tf.tidy(() => {
          const leaves = collectTensors(params);
          const { task, current } = options.holder;
          if (!task) throw new LoptError('INTERNAL', 'A guard evaluated a residual outside a training step.');
          const { grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => {
            let i = 0;
            const rebuilt = rebuild(params, () => xs[i++] as tf.Tensor);
            return task.loss(rebuilt, current as never);
          })(leaves);
          return tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
        });
      const guardOptions: Record<string, unknown> = { ...spec.options };
      if (spec.guard === 'safeguarded') guardOptions.residualFn ??= residualFn;
      else guardOptions.lossFn ??= lossFn;
      const optimizer = wrapCreate(() => guard(inner.optimizer, fallback.optimizer, guardOptions), spec.text);
      return {
        optimizer,
        label: specLabel(spec),
        dispose: () => {
          inner.dispose();
          fallback.dispose();
        },
      };
    }
  }
}

/** Rebuilds a tree with the same structure and traversal order as collectTensors. */
function rebuild(tree: unknown, next: () => tf.Tensor): TensorTree {
  const walk = (v: unknown): unknown => {
    if (v instanceof tf.Tensor) return next();
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = walk(x);
      return out;
    }
    return v;
  };
  return walk(tree) as TensorTree;
}

function wrapCreate<T>(build: () => T, text: string): T {
  try {
    return build();
  } catch (e) {
    throw withContext(e, `Optimizer spec '${text}'`);
  }
}
