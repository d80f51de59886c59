import * as tf from '@tensorflow/tfjs-core';
import { LoptError, deserializeTree, disposeTree, key, serializeTree, tidy, treeLeaves, treePaths, type FactoryOptions, type LearnedOptimizer, type TensorTree } from '@lopt/core';
import { ARCHITECTURES, RUNTIME_CONFIG_KEYS } from './architectures.js';
import { checkConfigFitsTensors } from './checkpoint-bounds.js';
import type { LearnedArchitecture } from './types.js';

/** The checkpoint `kind` of learned-optimizer meta-parameters. */
export const LEARNED_OPTIMIZER_KIND = 'learned-optimizer';

function architecturalConfig(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(config).sort()) if (!RUNTIME_CONFIG_KEYS.includes(k)) out[k] = config[k];
  return out;
}

/** Checks that `theta` has the structure and shapes that `lopt.init` produces. */
export function checkThetaShape(lopt: LearnedOptimizer, theta: TensorTree, code: 'INVALID_OPTION' | 'CHECKPOINT_MISMATCH'): void {
  const ref = tidy(() => lopt.init(key(0)));
  try {
    const rp = treePaths(ref);
    const tp = treePaths(theta);
    const rl = treeLeaves(ref);
    const tl = treeLeaves(theta);
    if (rp.join('|') !== tp.join('|')) {
      throw new LoptError(code, `theta does not fit ${lopt.name} with this config: expected leaves [${rp.join(', ')}], got [${tp.join(', ')}].`);
    }
    rl.forEach((r, i) => {
      const t = tl[i] as tf.Tensor;
      if (r.shape.join(',') !== t.shape.join(',')) {
        throw new LoptError(code, `theta leaf '${rp[i]}' has shape [${t.shape.join(', ')}] but ${lopt.name} with this config needs [${r.shape.join(', ')}].`, { path: rp[i] ?? '' });
      }
      if (r.dtype !== t.dtype) {
        throw new LoptError(code, `theta leaf '${rp[i]}' has dtype ${t.dtype} but ${lopt.name} needs ${r.dtype}.`, { path: rp[i] ?? '' });
      }
    });
  } finally {
    disposeTree(ref);
  }
}

/** Throws `NON_FINITE` naming the first theta leaf that holds NaN or Infinity. */
function checkFinite(theta: TensorTree): void {
  const leaves = treeLeaves(theta);
  const paths = treePaths(theta);
  const bad = leaves.findIndex((t) => t.dtype === 'float32' && t.size > 0 && tf.tidy(() => tf.any(tf.logicalNot(tf.isFinite(t))).dataSync()[0]) !== 0);
  if (bad >= 0) {
    throw new LoptError('NON_FINITE', `theta leaf '${paths[bad]}' of the checkpoint holds NaN or Infinity; it cannot drive an optimizer.`, { path: paths[bad] ?? '' });
  }
}

/**
 * Serializes meta-parameters `theta` of `lopt` in the core checkpoint format (safetensors
 * layout) with `kind: 'learned-optimizer'`, the architecture name and its full config in
 * the metadata, so {@link loadLearnedOptimizer} can rebuild the optimizer from the bytes
 * alone. Throws `INVALID_OPTION` when theta does not fit the architecture.
 */
export function saveLearnedOptimizer(lopt: LearnedOptimizer, theta: TensorTree, extra: Readonly<Record<string, unknown>> = {}): Uint8Array {
  checkThetaShape(lopt, theta, 'INVALID_OPTION');
  return serializeTree(theta, { kind: LEARNED_OPTIMIZER_KIND, name: lopt.name, config: architecturalConfig(lopt.config), extra });
}

/** What {@link loadLearnedOptimizer} returns. */
export interface LoadedLearnedOptimizer {
  /** The architecture rebuilt from the checkpoint's name and config. */
  readonly lopt: LearnedArchitecture;
  /** The stored meta-parameters (the caller owns and disposes them). */
  readonly theta: TensorTree;
  /** The checkpoint's `extra` metadata. */
  readonly extra: Record<string, unknown>;
}

/** Options of {@link loadLearnedOptimizer}. */
export interface LoadLearnedOptimizerOptions {
  /** When given, the checkpoint must hold this architecture with this config, else `CHECKPOINT_MISMATCH`. */
  readonly expect?: LearnedOptimizer;
  /** Runtime options to apply to the rebuilt architecture (for example `{ fused: false }`). */
  readonly runtime?: FactoryOptions;
}

/**
 * Rebuilds a learned optimizer and its theta from checkpoint bytes alone: reads the
 * architecture name and config from the metadata, builds it from the built-in table and
 * checks every theta leaf's path, shape and dtype against it. Before anything is built, the
 * config's layer sizes are checked against the tensors in the file and sane bounds, so a
 * small file with a huge `hiddenSize` is refused without allocating. A corrupted file throws
 * `CHECKPOINT_INVALID`; another kind, an unknown architecture, a different `expect`
 * architecture or config, sizes that do not fit the tensors, or a theta that does not fit
 * throws `CHECKPOINT_MISMATCH`; a theta with NaN or Infinity throws `NON_FINITE`.
 *
 * @example
 * ```ts
 * const bytes = saveLearnedOptimizer(lopt, theta);
 * const { lopt: again, theta: loaded } = loadLearnedOptimizer(bytes);
 * const opt = again.optimizer(loaded);
 * ```
 */
export function loadLearnedOptimizer(bytes: Uint8Array, options: LoadLearnedOptimizerOptions = {}): LoadedLearnedOptimizer {
  const { tree, metadata } = deserializeTree(bytes, { kind: LEARNED_OPTIMIZER_KIND, ...(options.expect ? { name: options.expect.name } : {}) });
  try {
    const entry = ARCHITECTURES[metadata.name];
    if (entry === undefined) {
      throw new LoptError('CHECKPOINT_MISMATCH', `Checkpoint holds architecture '${metadata.name}', which is not built in (known: ${Object.keys(ARCHITECTURES).join(', ')}).`);
    }
    if (options.expect) {
      const want = JSON.stringify(architecturalConfig(options.expect.config));
      const got = JSON.stringify(architecturalConfig(metadata.config));
      if (want !== got) {
        throw new LoptError('CHECKPOINT_MISMATCH', `Checkpoint of '${metadata.name}' has config ${got}, but the expected optimizer has ${want}.`);
      }
    }
    checkConfigFitsTensors(metadata.name, metadata.config, treeLeaves(tree));
    let lopt: LearnedArchitecture;
    try {
      lopt = entry.factory({ ...metadata.config, ...(options.runtime ?? {}) });
    } catch (e) {
      throw new LoptError('CHECKPOINT_MISMATCH', `Checkpoint config of '${metadata.name}' is not valid: ${(e as Error).message}`, { cause: e });
    }
    checkThetaShape(lopt, tree, 'CHECKPOINT_MISMATCH');
    checkFinite(tree);
    return { lopt, theta: tree, extra: metadata.extra };
  } catch (e) {
    disposeTree(tree);
    throw e;
  }
}
