import * as tf from '@tensorflow/tfjs-core';
import { LoptError, formatPath, isTensor, treeMapWithPath, type GradientTransformation, type TensorTree } from '@lopt/core';

/**
 * A mask over a parameter tree: `true` selects a leaf. A mask tree may be a prefix of the
 * parameter tree (a boolean at a subtree applies to every leaf below it).
 */
export type MaskTree = boolean | MaskTree[] | { [name: string]: MaskTree };

/**
 * Which leaves a transformation applies to: a {@link MaskTree}, or a predicate of the
 * leaf's path (`layers.0.w`) and the parameter (for example `(path, p) => p.rank > 1`
 * to decay only weight matrices).
 */
export type Mask = MaskTree | ((path: string, param: tf.Tensor) => boolean);

/** Validates a {@link Mask} option. */
export function checkMask(option: string, mask: unknown): Mask {
  if (typeof mask === 'function' || typeof mask === 'boolean') return mask as Mask;
  const walk = (m: unknown, path: (string | number)[]): void => {
    if (typeof m === 'boolean') return;
    if (Array.isArray(m)) return m.forEach((c, i) => walk(c, [...path, i]));
    if (typeof m === 'object' && m !== null && !isTensor(m)) {
      for (const [k, c] of Object.entries(m)) walk(c, [...path, k]);
      return;
    }
    throw new LoptError(
      'INVALID_OPTION',
      `Option '${option}' must be a boolean tree or a predicate (path, param) => boolean; found ${typeof m} at '${formatPath(path)}'.`,
      { option, path: formatPath(path) },
    );
  };
  walk(mask, []);
  return mask as Mask;
}

/**
 * Resolves a mask to the sorted list of selected leaf paths. Throws `TREE_MISMATCH`
 * naming the path where a mask tree does not fit the parameter tree.
 */
export function resolveMask(mask: Mask, params: TensorTree): Map<string, boolean> {
  const out = new Map<string, boolean>();
  if (typeof mask === 'function') {
    treeMapWithPath((path, p) => {
      const v = mask(path, p);
      if (typeof v !== 'boolean') {
        throw new LoptError('INVALID_OPTION', `The mask predicate returned ${typeof v} for '${path}', not a boolean.`, {
          option: 'mask',
          path,
        });
      }
      out.set(path, v);
      return p;
    }, params);
    return out;
  }
  const walk = (m: MaskTree, node: unknown, path: (string | number)[]): void => {
    if (typeof m === 'boolean') {
      treeMapWithPath((sub, p) => {
        out.set(path.length === 0 ? sub : sub === '<root>' ? formatPath(path) : `${formatPath(path)}.${sub}`, m);
        return p;
      }, node as TensorTree);
      return;
    }
    if (isTensor(node)) {
      throw new LoptError('TREE_MISMATCH', `Mask has a subtree at '${formatPath(path)}' where the parameters have a tensor.`, {
        path: formatPath(path),
      });
    }
    if (Array.isArray(m)) {
      if (!Array.isArray(node) || node.length !== m.length) {
        throw new LoptError('TREE_MISMATCH', `Mask does not match the parameters at '${formatPath(path)}'.`, {
          path: formatPath(path),
        });
      }
      m.forEach((c, i) => walk(c, node[i], [...path, i]));
      return;
    }
    const obj = node as Record<string, unknown>;
    if (Array.isArray(node) || typeof node !== 'object' || node === null) {
      throw new LoptError('TREE_MISMATCH', `Mask does not match the parameters at '${formatPath(path)}'.`, {
        path: formatPath(path),
      });
    }
    const mk = Object.keys(m).sort();
    const nk = Object.keys(obj).sort();
    if (mk.join('\u0000') !== nk.join('\u0000')) {
      const missing = nk.find((k) => !(k in m)) ?? mk.find((k) => !(k in obj));
      throw new LoptError('TREE_MISMATCH', `Mask and parameters differ at '${formatPath([...path, missing ?? '?'])}'.`, {
        path: formatPath([...path, missing ?? '?']),
      });
    }
    for (const k of mk) walk(m[k] as MaskTree, obj[k], [...path, k]);
  };
  walk(mask, params, []);
  return out;
}

/** Selects the leaves of `tree` whose path is true in `selected`, as an object keyed by path. */
function select(tree: TensorTree, selected: Map<string, boolean>): { [path: string]: tf.Tensor } {
  const out: { [path: string]: tf.Tensor } = {};
  treeMapWithPath((path, x) => {
    if (selected.get(path)) out[path] = x;
    return x;
  }, tree);
  return out;
}

/**
 * Applies `inner` only to the leaves the mask selects (optax `masked`). The inner
 * transformation sees an object of the selected leaves keyed by their path (`layers.0.w`),
 * so its state holds only those; **masked-out leaves' updates pass through unchanged**
 * (they are not zeroed), as in optax.
 *
 * @example
 * ```ts
 * // weight decay on matrices only
 * masked(addDecayedWeights(1e-4), (path, p) => p.rank > 1)
 * ```
 */
export function masked<S>(inner: GradientTransformation<S>, mask: Mask): GradientTransformation<S> {
  const m = checkMask('mask', mask);
  return {
    init: (params) => inner.init(select(params, resolveMask(m, params))),
    update(updates, state, params, ctx) {
      const sel = resolveMask(m, params ?? updates);
      const out = inner.update(select(updates, sel), state, select(params ?? updates, sel), ctx);
      const inner_ = out.updates as { [path: string]: tf.Tensor };
      const merged = treeMapWithPath((path, u) => (sel.get(path) ? (inner_[path] as tf.Tensor) : u), updates);
      return { updates: merged, state: out.state };
    },
  };
}
