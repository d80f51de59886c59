import * as tf from '@tensorflow/tfjs-core';
import { LoptError, treeLeaves, treeStructure, treeUnflatten, type OptState, type TensorTree } from '@lopt/core';

type NamedTensor = { name: string; tensor: tf.Tensor };

/** Prefix of the optimizer weights that carry a learned optimizer's theta. */
export const THETA_PREFIX = 'lopt.theta/';

/** The saved state of one variable: its name when saved, its iteration, and its state leaves in saved order. */
export interface SavedVariableState {
  readonly name: string;
  readonly iteration: number;
  readonly leaves: readonly NamedTensor[];
}

/**
 * Splits optimizer weights (after the `iter` counter and any theta entries) into per-variable
 * groups: each starts with `<variable>/iteration` and holds the `<variable>/<path>` entries
 * after it, in the order `getWeights` wrote them. Throws `LoptError` on entries outside a group.
 */
export async function parseSavedStates(weights: readonly NamedTensor[]): Promise<SavedVariableState[]> {
  const groups: { name: string; iteration: number; leaves: NamedTensor[] }[] = [];
  for (const w of weights) {
    if (w.name.endsWith('/iteration') && w.tensor.size === 1) {
      groups.push({ name: w.name.slice(0, -'/iteration'.length), iteration: (await w.tensor.data())[0] as number, leaves: [] });
      continue;
    }
    const current = groups[groups.length - 1];
    if (current === undefined || !w.name.startsWith(`${current.name}/`)) {
      throw new LoptError('CHECKPOINT_INVALID', `Optimizer weight '${w.name}' belongs to no variable: expected '<variable>/iteration' before the state of each variable.`, {
        path: w.name,
      });
    }
    current.leaves.push(w);
  }
  return groups;
}

/** Describes a variable: `'name' [shape]`. */
function describe(name: string, variable: tf.Variable | undefined): string {
  return variable === undefined ? `'${name}'` : `'${name}' [${variable.shape.join(', ')}]`;
}

/**
 * Why `saved` cannot be the state of `variable`: the optimizer's own initial state for it
 * (`template`) differs in leaf count, shape or dtype. Undefined when it fits.
 */
export function misfit(saved: SavedVariableState, template: TensorTree): string | undefined {
  const like = treeLeaves(template);
  if (like.length !== saved.leaves.length) return `${saved.leaves.length} state tensors, the optimizer keeps ${like.length}`;
  for (let i = 0; i < like.length; i++) {
    const t = saved.leaves[i]!.tensor;
    const l = like[i]!;
    if (!tf.util.arraysEqual(t.shape, l.shape) || t.dtype !== l.dtype) {
      return `'${saved.leaves[i]!.name}' is [${t.shape.join(', ')}] ${t.dtype}, the optimizer keeps [${l.shape.join(', ')}] ${l.dtype}`;
    }
  }
  return undefined;
}

/** The restored lopt state of a variable: the saved leaves (cloned, kept) in the template's structure. */
export function restoredState(saved: SavedVariableState, template: TensorTree): OptState<unknown> {
  const leaves = saved.leaves.map((w) => tf.keep(tf.clone(w.tensor)));
  return { params: {}, state: treeUnflatten(treeStructure(template), leaves), iteration: saved.iteration };
}

/** Saved states paired with variable names, and the saved states left for later steps. */
export interface PairedStates {
  /** Variable name -> the saved state it gets. */
  readonly pairs: Map<string, SavedVariableState>;
  /** Saved states of other registered variables, bound by name when those get gradients. */
  readonly later: SavedVariableState[];
}

/**
 * Pairs saved variable states with the variables now being optimized (`names`, in gradient
 * order). A saved name equal to a variable's name goes to it. When every variable found its
 * state by name, states of other *registered* variables wait for a later step (an optimizer that
 * updates variable subsets in turn). Otherwise the unmatched states are mapped **by order** onto
 * the variables left without state, as `tf.train.*` optimizers do, but only when their number
 * and every state shape agree; else this throws `LoptError('CHECKPOINT_MISMATCH')` listing the
 * saved names that match no variable. Never drops saved state silently.
 */
export function pairSavedStates(
  saved: readonly SavedVariableState[],
  names: readonly string[],
  templateOf: (name: string) => TensorTree,
): PairedStates {
  const pairs = new Map<string, SavedVariableState>();
  for (const s of saved) if (names.includes(s.name)) pairs.set(s.name, s);
  const unmatched = saved.filter((s) => !names.includes(s.name));
  const free = names.filter((n) => !pairs.has(n));
  const registered = tf.engine().registeredVariables;
  if (unmatched.length === 0) return { pairs, later: [] };
  if (free.length === 0 && unmatched.every((s) => registered[s.name] !== undefined)) return { pairs, later: unmatched };
  const reasons = unmatched.map((s, i) => (free[i] === undefined ? 'no variable left' : misfit(s, templateOf(free[i]!))));
  if (free.length === unmatched.length && reasons.every((r) => r === undefined)) {
    unmatched.forEach((s, i) => pairs.set(free[i]!, s));
    return { pairs, later: [] };
  }
  const firstBad = reasons.findIndex((r) => r !== undefined);
  throw new LoptError(
    'CHECKPOINT_MISMATCH',
    `Restored optimizer state for ${unmatched.map((s) => `'${s.name}'`).join(', ')} matches no variable being optimized ` +
      `(${free.map((n) => describe(n, registered[n])).join(', ') || 'none left'}), and it cannot be mapped by order: ` +
      (free.length !== unmatched.length
        ? `${unmatched.length} saved states for ${free.length} variables.`
        : `${describe(free[firstBad]!, registered[free[firstBad]!])} gets ${reasons[firstBad]}.`) +
      ' Restore the optimizer together with the model it was saved from (tf.loadLayersModel with the same architecture), or start a fresh optimizer.',
    { path: unmatched[0]!.name },
  );
}
