import * as tf from '@tensorflow/tfjs-core';
import { LoptError } from './errors.js';

/**
 * A nested structure of tensors: a tensor, an array of trees, or an object of named trees.
 * Traversal order is canonical: object keys sorted, then array index. The same tree always
 * flattens the same way, which is what makes checkpoints and optimizer states portable.
 */
export type TensorTree = tf.Tensor | TensorTree[] | { [name: string]: TensorTree };

/**
 * The structure of a tree without its tensors: `null` marks a leaf, arrays and objects
 * mirror the tree. It is plain JSON, so it can be stored next to the leaves and rebuild
 * the tree with {@link treeUnflatten}.
 */
export type TreeDef = null | TreeDef[] | { [name: string]: TreeDef };

/** True when `value` is a tfjs tensor. */
export function isTensor(value: unknown): value is tf.Tensor {
  if (value instanceof tf.Tensor) return true;
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<tf.Tensor>;
  return v.dataId !== undefined && Array.isArray(v.shape) && typeof v.dtype === 'string' && typeof v.id === 'number';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Renders a path (list of keys and indices) as `a.0.b`; the root is `<root>`. */
export function formatPath(path: readonly (string | number)[]): string {
  return path.length === 0 ? '<root>' : path.join('.');
}

function sortedKeys(obj: Record<string, unknown>): string[] {
  return Object.keys(obj).sort();
}

function badNode(path: readonly (string | number)[], node: unknown): LoptError {
  const what = node === null ? 'null' : Array.isArray(node) ? 'array' : typeof node;
  return new LoptError(
    'TREE_MISMATCH',
    `Tree node at '${formatPath(path)}' is not a tensor, array or plain object (got ${what}).`,
    { path: formatPath(path) },
  );
}

/** Runs `body` with `step` pushed on the shared `path` (popped after; an error leaves the path where it failed). */
function descend<R>(path: (string | number)[], step: string | number, body: () => R): R {
  path.push(step);
  const out = body();
  path.pop();
  return out;
}

/**
 * Visits every leaf in canonical order with its path. `path` is one array pushed and popped
 * along the walk (trees are traversed every step, so no per-node copies): `fn` must copy it
 * if it keeps it.
 */
function visit(tree: unknown, path: (string | number)[], fn: (leaf: tf.Tensor, path: (string | number)[]) => void): void {
  if (isTensor(tree)) {
    fn(tree, path);
  } else if (Array.isArray(tree)) {
    for (let i = 0; i < tree.length; i++) {
      path.push(i);
      visit(tree[i], path, fn);
      path.pop();
    }
  } else if (isPlainObject(tree)) {
    for (const k of sortedKeys(tree)) {
      path.push(k);
      visit(tree[k], path, fn);
      path.pop();
    }
  } else {
    throw badNode(path, tree);
  }
}

/** The leaves of a tree in canonical order (sorted keys, then array index). */
export function treeLeaves(tree: TensorTree): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  visit(tree, [], (leaf) => out.push(leaf));
  return out;
}

/** The path of every leaf (`layers.0.w`), in canonical order. */
export function treePaths(tree: TensorTree): string[] {
  const out: string[] = [];
  visit(tree, [], (_leaf, path) => out.push(formatPath(path)));
  return out;
}

/** The structure of a tree (see {@link TreeDef}). */
export function treeStructure(tree: TensorTree): TreeDef {
  const path: (string | number)[] = [];
  const build = (node: unknown): TreeDef => {
    if (isTensor(node)) return null;
    if (Array.isArray(node)) return node.map((c, i) => descend(path, i, () => build(c)));
    if (isPlainObject(node)) {
      const out: { [name: string]: TreeDef } = {};
      for (const k of sortedKeys(node)) out[k] = descend(path, k, () => build(node[k]));
      return out;
    }
    throw badNode(path, node);
  };
  return build(tree);
}

/** Splits a tree into its leaves (canonical order) and its structure. */
export function treeFlatten(tree: TensorTree): { leaves: tf.Tensor[]; structure: TreeDef } {
  return { leaves: treeLeaves(tree), structure: treeStructure(tree) };
}

/** Number of leaves a structure holds. */
export function treeDefLeafCount(structure: TreeDef): number {
  if (structure === null) return 1;
  if (Array.isArray(structure)) return structure.reduce((n: number, c) => n + treeDefLeafCount(c), 0);
  return sortedKeys(structure).reduce((n, k) => n + treeDefLeafCount(structure[k] as TreeDef), 0);
}

/**
 * Rebuilds a tree from its structure and leaves in canonical order. Throws
 * `LoptError('TREE_MISMATCH')` if the number of leaves does not match.
 */
export function treeUnflatten(structure: TreeDef, leaves: readonly tf.Tensor[]): TensorTree {
  const expected = treeDefLeafCount(structure);
  if (expected !== leaves.length) {
    throw new LoptError('TREE_MISMATCH', `Structure has ${expected} leaves but ${leaves.length} tensors were given.`);
  }
  let i = 0;
  const path: (string | number)[] = [];
  const build = (def: TreeDef): TensorTree => {
    if (def === null) return leaves[i++] as tf.Tensor;
    if (Array.isArray(def)) return def.map((c, j) => descend(path, j, () => build(c)));
    if (!isPlainObject(def)) throw badNode(path, def);
    const out: { [name: string]: TensorTree } = {};
    for (const k of sortedKeys(def)) out[k] = descend(path, k, () => build(def[k] as TreeDef));
    return out;
  };
  return build(structure);
}

/**
 * Throws `LoptError('TREE_MISMATCH')` naming the first path where the trees differ in
 * structure (a missing key, an array of another length, a leaf against a subtree), and
 * `LoptError('SHAPE_MISMATCH')` where leaves differ in shape when `checkShapes` is set.
 *
 * @param names - how the two trees are called in the message (default `params`, `grads`).
 */
export function assertSameStructure(
  a: TensorTree,
  b: TensorTree,
  options: { names?: readonly [string, string]; checkShapes?: boolean } = {},
): void {
  const [na, nb] = options.names ?? ['params', 'grads'];
  const fail = (path: (string | number)[], what: string): never => {
    throw new LoptError('TREE_MISMATCH', `Tree mismatch at '${formatPath(path)}': ${what}.`, { path: formatPath(path) });
  };
  const walk = (x: unknown, y: unknown, path: (string | number)[]): void => {
    const tx = isTensor(x);
    const ty = isTensor(y);
    if (tx || ty) {
      if (!(tx && ty)) fail(path, `${na} has ${tx ? 'a tensor' : 'a subtree'} but ${nb} has ${ty ? 'a tensor' : 'a subtree'}`);
      if (options.checkShapes && !tf.util.arraysEqual((x as tf.Tensor).shape, (y as tf.Tensor).shape)) {
        throw new LoptError(
          'SHAPE_MISMATCH',
          `Shape mismatch at '${formatPath(path)}': ${na} has [${(x as tf.Tensor).shape.join(', ')}] but ${nb} has [${(y as tf.Tensor).shape.join(', ')}].`,
          { path: formatPath(path) },
        );
      }
      return;
    }
    if (Array.isArray(x) || Array.isArray(y)) {
      if (!(Array.isArray(x) && Array.isArray(y))) fail(path, `${na} and ${nb} differ in container type`);
      const xa = x as unknown[];
      const ya = y as unknown[];
      if (xa.length !== ya.length) fail(path, `${na} has ${xa.length} entries but ${nb} has ${ya.length}`);
      for (let i = 0; i < xa.length; i++) {
        path.push(i);
        walk(xa[i], ya[i], path);
        path.pop();
      }
      return;
    }
    if (!isPlainObject(x)) throw badNode(path, x);
    if (!isPlainObject(y)) throw badNode(path, y);
    const kx = sortedKeys(x);
    const ky = sortedKeys(y);
    for (const k of kx) if (!(k in y)) fail([...path, k], `present in ${na} but missing in ${nb}`);
    for (const k of ky) if (!(k in x)) fail([...path, k], `present in ${nb} but missing in ${na}`);
    for (const k of kx) {
      path.push(k);
      walk(x[k], y[k], path);
      path.pop();
    }
  };
  walk(a, b, []);
}

/**
 * Applies `fn` to the leaves of one or more trees of the same structure and returns a
 * tree of the results with that structure. Structure mismatches throw
 * `LoptError('TREE_MISMATCH')` naming the first differing path.
 *
 * @example
 * ```ts
 * const step = treeMap((p, g) => tf.sub(p, tf.mul(0.1, g)), params, grads);
 * ```
 */
export function treeMap<T extends TensorTree>(fn: (...leaves: tf.Tensor[]) => tf.Tensor, tree: T, ...rest: TensorTree[]): T {
  return mapLeaves((_path, leaves) => fn(...leaves), tree, rest);
}

/** Like {@link treeMap}, but `fn` also receives the leaf's path (`layers.0.w`). */
export function treeMapWithPath<T extends TensorTree>(
  fn: (path: string, ...leaves: tf.Tensor[]) => tf.Tensor,
  tree: T,
  ...rest: TensorTree[]
): T {
  return mapLeaves((path, leaves) => fn(formatPath(path), ...leaves), tree, rest);
}

/** treeMap's walk: `fn` gets the live path (see {@link visit}) and the leaves of every tree at it. */
function mapLeaves<T extends TensorTree>(fn: (path: (string | number)[], leaves: tf.Tensor[]) => tf.Tensor, tree: T, rest: readonly TensorTree[]): T {
  for (const [i, other] of rest.entries()) assertSameStructure(tree, other, { names: ['tree 0', `tree ${i + 1}`] });
  const restLeaves = rest.map((r) => treeLeaves(r));
  let i = 0;
  const path: (string | number)[] = [];
  const build = (node: unknown): TensorTree => {
    if (isTensor(node)) {
      const j = i++;
      const leaves = [node];
      for (const l of restLeaves) leaves.push(l[j] as tf.Tensor);
      return fn(path, leaves);
    }
    if (Array.isArray(node)) return node.map((c, k) => descend(path, k, () => build(c)));
    if (!isPlainObject(node)) throw badNode(path, node);
    const out: { [name: string]: TensorTree } = {};
    for (const k of sortedKeys(node)) out[k] = descend(path, k, () => build(node[k]));
    return out;
  };
  return build(tree) as T;
}

/** A tree of zeros with the shapes and dtypes of `tree`. */
export function treeZerosLike<T extends TensorTree>(tree: T): T {
  return treeMap((x) => tf.zerosLike(x), tree);
}

/** Total number of scalars in the tree (sum of leaf sizes). */
export function treeSize(tree: TensorTree): number {
  return treeLeaves(tree).reduce((n, t) => n + t.size, 0);
}

/** The L2 norm of all leaves taken together, `sqrt(sum_i sum(x_i^2))`, as a scalar tensor. */
export function globalNorm(tree: TensorTree): tf.Scalar {
  return tf.tidy(() => {
    const leaves = treeLeaves(tree);
    if (leaves.length === 0) return tf.scalar(0);
    const squares = leaves.map((x) => tf.sum(tf.square(tf.cast(x, 'float32'))));
    return tf.sqrt(squares.length === 1 ? (squares[0] as tf.Scalar) : tf.addN(squares)) as tf.Scalar;
  });
}

/** Leafwise `a + b`. */
export function treeAdd<T extends TensorTree>(a: T, b: TensorTree): T {
  return treeMap((x, y) => tf.add(x, y as tf.Tensor), a, b);
}

/** Leafwise `a - b`. */
export function treeSub<T extends TensorTree>(a: T, b: TensorTree): T {
  return treeMap((x, y) => tf.sub(x, y as tf.Tensor), a, b);
}

/** Leafwise `s * a` for a number or scalar tensor `s`. */
export function treeScale<T extends TensorTree>(a: T, s: number | tf.Scalar): T {
  return treeMap((x) => tf.mul(x, s), a);
}

/** The inner product `sum_i sum(a_i * b_i)` of two trees with one structure, as a scalar tensor. */
export function treeVdot(a: TensorTree, b: TensorTree): tf.Scalar {
  assertSameStructure(a, b, { names: ['a', 'b'], checkShapes: true });
  return tf.tidy(() => {
    const la = treeLeaves(a);
    const lb = treeLeaves(b);
    if (la.length === 0) return tf.scalar(0);
    const parts = la.map((x, i) => tf.sum(tf.mul(x, lb[i] as tf.Tensor)));
    return (parts.length === 1 ? parts[0] : tf.addN(parts)) as tf.Scalar;
  });
}

/** Tensors to spare when disposing: a tree, or a list of tensors. */
export type KeepSet = TensorTree | readonly tf.Tensor[] | undefined;

/**
 * Disposes every tensor of `tree` except those in `keep` (compared by identity), and
 * tensors that are already disposed. Safe to call on trees that share tensors.
 */
export function disposeTree(tree: TensorTree | undefined, options: { keep?: KeepSet } = {}): void {
  if (tree === undefined) return;
  const keepIds = new Set<number>();
  const keep = options.keep;
  if (keep !== undefined) {
    const keepLeaves = Array.isArray(keep) && keep.every(isTensor) ? (keep as tf.Tensor[]) : treeLeaves(keep as TensorTree);
    for (const t of keepLeaves) keepIds.add(t.id);
  }
  const seen = new Set<number>();
  for (const t of treeLeaves(tree)) {
    if (keepIds.has(t.id) || seen.has(t.id)) continue;
    seen.add(t.id);
    if (!t.isDisposed) t.dispose();
  }
}
