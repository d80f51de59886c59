import * as tf from '@tensorflow/tfjs-core';
import { isTensor, type TensorTree } from '@lopt/core';

/** Which reference's rule sends a tensor to Celo2's Adam branch instead of the learned rule. */
export type Celo2Routing = 'pylo' | 'regex';

/** Where each tensor goes: `'adam'` or `'learned'`, in params leaf order. */
export type Celo2Route = 'adam' | 'learned';

/** The leaf paths of a tree with keys joined by `/` (the JAX reference's path strings), in leaf order. */
export function slashPaths(tree: TensorTree): string[] {
  const out: string[] = [];
  const visit = (node: unknown, path: string): void => {
    if (isTensor(node)) out.push(path);
    else if (Array.isArray(node)) node.forEach((c, i) => visit(c, `${path}/${i}`));
    else for (const k of Object.keys(node as Record<string, unknown>).sort()) visit((node as Record<string, unknown>)[k], `${path}/${k}`);
  };
  visit(tree, '');
  return out;
}

/**
 * Routes every leaf (ALGORITHMS.md 4.3). `'regex'` (the JAX reference): Adam when `regex`
 * matches somewhere in the leaf's `/`-joined path (which starts with `/`), whatever its rank.
 * `'pylo'` (PyLO `Celo2_naive` at faf6fcb): AdamW for rank <= 1, for paths containing `embed`
 * (when `embedByName`), and for the first and the last tensor of rank >= 2 in leaf order
 * (sorted keys); the learned rule for the rest.
 */
export function routeCelo2(params: TensorTree, leaves: readonly tf.Tensor[], routing: Celo2Routing, regex: RegExp, embedByName: boolean): Celo2Route[] {
  const paths = slashPaths(params);
  if (routing === 'regex') return paths.map((p) => (regex.test(p) ? 'adam' : 'learned'));
  const matrices = leaves.map((l, i) => (l.rank >= 2 ? i : -1)).filter((i) => i >= 0);
  const first = matrices[0];
  const last = matrices[matrices.length - 1];
  return leaves.map((l, i) => {
    if (l.rank <= 1 || i === first || i === last) return 'adam';
    return embedByName && (paths[i] as string).includes('embed') ? 'adam' : 'learned';
  });
}
