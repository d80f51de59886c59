import * as tf from '@tensorflow/tfjs-core';
import { LoptError, type TensorTree } from '@lopt/core';
import { readFlaxMsgpack } from './flax.js';
import { rawLeaves, type RawTensor, type ReadLimits } from './raw-tree.js';
import { REFERENCE_LAYOUTS, type ReferenceArchitecture, type ReferenceFormat, type ReferenceLayout } from './reference-layouts.js';
import { readTorchStateDict } from './torch.js';

/** What {@link referenceCheckpointToTheta} returns. */
export interface ReferenceTheta {
  /** The architecture the leaf set identifies: `celo`, `celoAdam` or `celo2`. */
  readonly architecture: ReferenceArchitecture;
  /** The file format that was read. */
  readonly format: ReferenceFormat;
  /**
   * The meta-parameters with the reference's leaf names: Celo and Celo-Adam as the file's
   * nested maps, with Haiku module paths split at `/` (`theta.ff_mod_stack['~'].w0__0`,
   * `theta.rnn_params.rnn.linear.w` from the file's `rnn_params` / `rnn/linear` / `w`), Celo2
   * as PyLO's flat keys (`theta['first_layer_weights.0']`). The caller owns the tensors.
   */
  readonly theta: TensorTree;
}

type Leaf = { path: string[]; tensor: RawTensor };
const show = (path: readonly string[]): string => path.join('/');
const keyOf = (path: readonly string[]): string => JSON.stringify(path);

/** The format of a file, from its first bytes. */
function detectFormat(bytes: Uint8Array): ReferenceFormat {
  const b0 = bytes[0] ?? -1;
  if (bytes.length >= 4 && b0 === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'torch-zip';
  if ((b0 >= 0x80 && b0 <= 0x8f) || b0 === 0xde || b0 === 0xdf) return 'flax-msgpack';
  const looksSafetensors = bytes.length > 8 && bytes[8] === 0x7b && bytes[4] === 0 && bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0;
  throw new LoptError(
    'CHECKPOINT_INVALID',
    looksSafetensors
      ? 'This is a safetensors file (perhaps already a lopt checkpoint), not a reference checkpoint: load it directly instead of converting it.'
      : 'Not a reference checkpoint: neither a PyTorch zip state_dict (starts with PK\\x03\\x04) nor a flax msgpack file (starts with a msgpack map).',
  );
}

/** The layout of `format` whose leaf paths overlap `leaves` the most. */
function closestLayout(format: ReferenceFormat, leaves: Leaf[]): ReferenceLayout {
  const have = new Set(leaves.map((l) => keyOf(l.path)));
  const candidates = REFERENCE_LAYOUTS.filter((l) => l.format === format);
  const score = (l: ReferenceLayout): number => l.leaves.filter(([p]) => have.has(keyOf(p))).length - l.leaves.length / 1e6;
  return candidates.reduce((best, l) => (score(l) > score(best) ? l : best));
}

function list(items: string[]): string {
  return items.length <= 6 ? items.join(', ') : `${items.slice(0, 6).join(', ')} and ${items.length - 6} more`;
}

/** Throws `CHECKPOINT_MISMATCH` naming missing and unknown leaves and wrong shapes. */
function checkLeaves(layout: ReferenceLayout, leaves: Leaf[]): void {
  const got = new Map(leaves.map((l) => [keyOf(l.path), l]));
  const want = new Set(layout.leaves.map(([p]) => keyOf(p)));
  const missing = layout.leaves.filter(([p]) => !got.has(keyOf(p))).map(([p]) => show(p));
  const unknown = leaves.filter((l) => !want.has(keyOf(l.path))).map((l) => show(l.path));
  const name = `a ${layout.architecture} checkpoint`;
  if (missing.length > 0 || unknown.length > 0) {
    const parts = [missing.length ? `missing leaves ${list(missing)}` : '', unknown.length ? `unknown leaves ${list(unknown)}` : ''].filter(Boolean);
    throw new LoptError('CHECKPOINT_MISMATCH', `The file's leaves are closest to ${name} but do not match it: ${parts.join('; ')}.`, { path: missing[0] ?? unknown[0] ?? '' });
  }
  for (const [path, shape] of layout.leaves) {
    const leaf = got.get(keyOf(path)) as Leaf;
    if (leaf.tensor.shape.join(',') !== shape.join(',')) {
      throw new LoptError('CHECKPOINT_MISMATCH', `Leaf '${show(path)}' has shape [${leaf.tensor.shape.join(', ')}], but ${name} needs [${shape.join(', ')}].`, { path: show(path) });
    }
  }
}

/**
 * Builds the nested theta tree (tfjs tensors) from validated leaves. Flax keys are Haiku
 * module paths, so `rnn/linear` becomes `rnn` -> `linear` (the layouts guarantee no clash).
 */
function toTheta(leaves: Leaf[], format: ReferenceFormat): TensorTree {
  const root: Record<string, TensorTree> = {};
  for (const leaf of leaves) {
    const path = format === 'flax-msgpack' ? leaf.path.flatMap((k) => k.split('/')) : leaf.path;
    const tensor = leaf.tensor;
    let node = root;
    for (const k of path.slice(0, -1)) node = (node[k] ??= {}) as Record<string, TensorTree>;
    node[path[path.length - 1] as string] = tf.tensor(tensor.data, [...tensor.shape], 'float32');
  }
  return root;
}

/**
 * Converts a published reference checkpoint to lopt meta-parameters: Celo's or Celo-Adam's
 * `theta.state` (flax msgpack) or Celo2's `celo2_weights.pt` (PyTorch zip). The format is
 * detected from the magic bytes, the architecture from the set of leaves, and every
 * expected leaf's shape is checked (leaf paths in errors are the file's, joined by `/`). A malformed or hostile file is `CHECKPOINT_INVALID`
 * (see {@link readFlaxMsgpack} and {@link readTorchStateDict}); a well-formed file with
 * missing or unknown leaves or a wrong shape is `CHECKPOINT_MISMATCH` naming the leaf path.
 * Nothing in a file is executed. The returned tensors belong to the caller.
 *
 * @example
 * ```ts
 * const { architecture, theta } = referenceCheckpointToTheta(bytes); // 'celo2', { 'hidden.weight': ..., ... }
 * ```
 */
export function referenceCheckpointToTheta(bytes: Uint8Array, limits?: ReadLimits): ReferenceTheta {
  if (!(bytes instanceof Uint8Array)) {
    throw new LoptError('INVALID_OPTION', `referenceCheckpointToTheta takes a Uint8Array of the file's bytes, got ${bytes === null ? 'null' : typeof bytes}.`, { option: 'bytes' });
  }
  const format = detectFormat(bytes);
  const tree = format === 'torch-zip' ? readTorchStateDict(bytes, limits) : readFlaxMsgpack(bytes, limits);
  const leaves = rawLeaves(tree);
  const layout = closestLayout(format, leaves);
  checkLeaves(layout, leaves);
  return { architecture: layout.architecture, format, theta: toTheta(leaves, format) };
}
