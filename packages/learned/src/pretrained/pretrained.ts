import { LoptError, type Optimizer, type TensorTree } from '@lopt/core';
import { decodeBase64 } from '@lopt/core';
import { ARCHITECTURES, type ArchitectureEntry } from '../architectures.js';
import { checkThetaShape, loadLearnedOptimizer } from '../checkpoint.js';
import type { LearnedArchitecture } from '../types.js';
import { CELO_CHECKPOINT_BASE64 } from './celo-weights.js';
import { CELO_ADAM_CHECKPOINT_BASE64 } from './celo-adam-weights.js';
import { CELO2_CHECKPOINT_BASE64 } from './celo2-weights.js';
import { LOPT_SMALL_V1_CHECKPOINT_BASE64 } from './lopt-small-v1-weights.js';
import { PRETRAINED_SOURCES, type PretrainedName, type PretrainedSource } from './sources.js';

const CHECKPOINTS: Readonly<Record<PretrainedName, string>> = {
  celo: CELO_CHECKPOINT_BASE64,
  'celo-adam': CELO_ADAM_CHECKPOINT_BASE64,
  celo2: CELO2_CHECKPOINT_BASE64,
  'lopt-small-v1': LOPT_SMALL_V1_CHECKPOINT_BASE64,
};

/** The names {@link pretrained} accepts. */
export const PRETRAINED_NAMES: readonly PretrainedName[] = Object.freeze(['celo', 'celo-adam', 'celo2', 'lopt-small-v1']);

/**
 * Options of {@link Pretrained.optimizer} and {@link pretrainedOptimizer}: `numSteps` (Celo and
 * Celo-Adam need it) plus any option of the architecture (for example `learningRate` or
 * `routing` for Celo2, `stepMult` for Celo).
 */
export type PretrainedOptimizerOptions = { readonly numSteps?: number } & Readonly<Record<string, unknown>>;

/** What {@link pretrained} returns. */
export interface Pretrained {
  /** The architecture, with the reference configuration. */
  readonly lopt: LearnedArchitecture;
  /** The published meta-parameters (the caller owns and disposes them). */
  readonly theta: TensorTree;
  /** Licence, source, training set and caveats. */
  readonly info: PretrainedSource;
  /** A ready optimizer on these weights; `options` may override architecture options. */
  optimizer(options?: PretrainedOptimizerOptions): Optimizer;
}

function checkName(name: unknown): PretrainedName {
  if (typeof name !== 'string' || !(PRETRAINED_NAMES as readonly string[]).includes(name)) {
    throw new LoptError('UNKNOWN_NAME', `No pretrained optimizer '${String(name)}' (known: ${PRETRAINED_NAMES.join(', ')}).`, { option: 'name' });
  }
  return name as PretrainedName;
}

function withOptions(lopt: LearnedArchitecture, theta: TensorTree, name: PretrainedName, options: PretrainedOptimizerOptions): LearnedArchitecture {
  if (typeof options !== 'object' || options === null) throw new LoptError('INVALID_OPTION', `pretrained('${name}').optimizer options must be an object.`, { option: 'options' });
  const { numSteps: _numSteps, ...rest } = options;
  if (Object.keys(rest).length === 0) return lopt;
  const entry = ARCHITECTURES[PRETRAINED_SOURCES[name].architecture] as ArchitectureEntry;
  const rebuilt = entry.factory(rest);
  checkThetaShape(rebuilt, theta, 'INVALID_OPTION');
  return rebuilt;
}

/**
 * Loads a published pretrained learned optimizer shipped inside this package (no file system,
 * works in the browser): `'celo'` and `'celo-adam'` (MIT, Moudgil et al. 2025), `'celo2'`
 * (BSD-3-Clause, PyLO) and lopt's own `'lopt-small-v1'` (Apache-2.0, a meta-trained
 * `controlAdam`; MODEL_CARD.md). Returns the architecture, the weights and their provenance, and an
 * `optimizer(options)` sugar. Unknown names throw `UNKNOWN_NAME`.
 *
 * @example
 * ```ts
 * const { lopt, theta } = pretrained('celo2');
 * const opt = lopt.optimizer(theta);
 * ```
 */
export function pretrained(name: PretrainedName): Pretrained {
  const n = checkName(name);
  const { lopt, theta } = loadLearnedOptimizer(decodeBase64(CHECKPOINTS[n]));
  return {
    lopt,
    theta,
    info: PRETRAINED_SOURCES[n],
    optimizer: (options: PretrainedOptimizerOptions = {}) => withOptions(lopt, theta, n, options).optimizer(theta, options.numSteps === undefined ? {} : { numSteps: options.numSteps }),
  };
}

/**
 * A ready `Optimizer` on published weights: `pretrained(name).optimizer(options)`, e.g.
 * `pretrainedOptimizer('celo2', { learningRate: 3e-3 })` or
 * `pretrainedOptimizer('celo', { numSteps: 2000 })`. The weights live as long as the process.
 */
export function pretrainedOptimizer(name: PretrainedName, options: PretrainedOptimizerOptions = {}): Optimizer {
  return pretrained(name).optimizer(options);
}
