import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  collectTensors,
  create,
  has,
  key as makeKey,
  list,
  lossAndGrads,
  LoptError,
  type LearnedOptimizer,
  type Optimizer,
  type TensorTree,
} from '@lopt/core';
import { loadLearnedOptimizer, pretrained, type PretrainedName, type PretrainedOptimizerOptions } from '@lopt/learned';
import { GUARDS } from '@lopt/safeguard';
import { CliError, withContext } from './errors.js';
import { MAX_BYTES, readInputFile } from './input-files.js';
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
  const bytes = readInputFile(file, 'the checkpoint', MAX_BYTES.checkpoint);
  try {
    const { lopt, theta } = loadLearnedOptimizer(bytes);
    return { learnedOptimizer: lopt, theta };
  } catch (e) {
    throw withContext(e, `Checkpoint ${path}`);
  }
}

/** A published learned optimizer shipped with @lopt/learned (`pretrained:celo2:learningRate=3e-3`). */
async function buildPretrained(spec: Extract<OptimizerSpec, { kind: 'pretrained' }>, numSteps: number): Promise<BuiltOptimizer> {
  // pretrained() checks the name and optimizer() the options (unknown ones are refused).
  const loaded = wrapCreate(() => pretrained(spec.name as PretrainedName), spec.text);
  try {
    const optimizer = wrapCreate(() => loaded.optimizer({ numSteps, ...spec.options } as PretrainedOptimizerOptions), spec.text);
    return { optimizer, label: specLabel(spec), dispose: () => tf.dispose(collectTensors(loaded.theta)) };
  } catch (e) {
    tf.dispose(collectTensors(loaded.theta));
    throw e;
  }
}

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
      const lossFn = (params: TensorTree): tf.Scalar => {
        const { task, current } = options.holder;
        if (!task) throw new LoptError('INTERNAL', 'A guard evaluated a loss outside a training step.');
        return task.loss(params, current as never);
      };
      const residualFn = (params: TensorTree): tf.Scalar =>
        tf.tidy(() => {
          const { task, current } = options.holder;
          if (!task) throw new LoptError('INTERNAL', 'A guard evaluated a residual outside a training step.');
          const { grads } = lossAndGrads((p) => task.loss(p, current as never), params);
          return tf.sqrt(tf.addN(collectTensors(grads).map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
        });
      const { guarded, evaluates } = GUARDS[spec.guard];
      const guardOptions: Record<string, unknown> = { ...spec.options, [guarded]: inner.optimizer, fallback: fallback.optimizer };
      guardOptions[evaluates] ??= evaluates === 'residualFn' ? residualFn : lossFn;
      const optimizer = wrapCreate(() => create('optimizer', spec.guard, guardOptions), spec.text);
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

function wrapCreate<T>(build: () => T, text: string): T {
  try {
    return build();
  } catch (e) {
    throw withContext(e, `Optimizer spec '${text}'`);
  }
}
