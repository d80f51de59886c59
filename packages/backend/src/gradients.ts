import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';

/**
 * Gradient of `einsum(equation, a)` or `einsum(equation, a, b)` w.r.t. operand `target` (0 or 1),
 * by the einsum identity: the gradient of an operand is the einsum of the output gradient with
 * the other operand, into that operand's subscripts. Labels summed out of the operand alone in
 * the forward pass get no subscript from either source; the gradient is constant along them,
 * so it is computed without them and broadcast back.
 */
function einsumOperandGrad(equation: string, dy: Tensor, operands: Tensor[], target: number): Tensor {
  const [lhs = '', out = ''] = equation.replace(/\s/g, '').split('->');
  const terms = lhs.split(',');
  const own = terms[target]!;
  const ownShape = operands[target]!.shape;
  const reachable = [...own].filter((l) => out.includes(l) || (terms.length === 2 && terms[1 - target]!.includes(l))).join('');
  let reduced: Tensor;
  if (terms.length === 1) {
    reduced = out === reachable ? dy : tf.einsum(`${out}->${reachable}`, dy);
  } else {
    // Sum the other operand over labels that reach neither the output nor this operand first:
    // tfjs 4.22's CPU einsum mishandles a label summed out of one operand alone.
    let otherTerm = terms[1 - target]!;
    let other = operands[1 - target]!;
    const lonely = [...otherTerm].map((l, i) => (out.includes(l) || own.includes(l) ? -1 : i)).filter((i) => i >= 0);
    if (lonely.length > 0) {
      other = tf.sum(other, lonely);
      otherTerm = [...otherTerm].filter((_, i) => !lonely.includes(i)).join('');
    }
    reduced = tf.einsum(`${out},${otherTerm}->${reachable}`, dy, other);
  }
  if (reachable.length === own.length) return reduced;
  const withOnes = [...own].map((l, i) => (reachable.includes(l) ? ownShape[i]! : 1));
  return tf.broadcastTo(tf.reshape(reduced, withOnes), ownShape);
}

const einsumGradConfig: GradConfig = {
  kernelName: tf.Einsum,
  saveAllInputs: true,
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const equation = (attrs as unknown as { equation: string }).equation;
    const g = Array.isArray(dy) ? dy[0]! : dy;
    return saved.map((_, i) => () => einsumOperandGrad(equation, g, saved, i)) as unknown as ReturnType<GradConfig['gradFunc']>;
  },
};

const GRADIENTS: readonly GradConfig[] = [einsumGradConfig];

/**
 * Registers gradients tfjs-core lacks on every backend: today `Einsum` (so attention written
 * with `tf.einsum` trains). A gradient that tfjs (or anyone) already registered is left alone.
 * Idempotent: returns the names of the gradients whose registered function is lopt's.
 * {@link initBackend} calls it.
 */
export function fillGradientGaps(): string[] {
  const ours: string[] = [];
  for (const config of GRADIENTS) {
    const existing = tf.getGradient(config.kernelName);
    if (existing === undefined) tf.registerGradient(config);
    else if (existing.gradFunc !== config.gradFunc) continue;
    ours.push(config.kernelName);
  }
  return ours;
}
