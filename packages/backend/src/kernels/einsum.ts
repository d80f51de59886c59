import * as tf from '@tensorflow/tfjs-core';
import { backend_util, util } from '@tensorflow/tfjs-core';
import type { EinsumAttrs, KernelConfig, Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import { withScope, type KernelScope, type KernelArgs } from './kernel_scope.js';

function isIdentity(perm: readonly number[]): boolean {
  return perm.every((p, i) => p === i);
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function transposeIfNeeded(s: KernelScope, x: TensorInfo, perm: number[]): TensorInfo {
  return isIdentity(perm) ? x : s.run(tf.Transpose, { x }, { perm });
}

/** Sums `x` (subscripts `term`) over the labels in `drop`; returns the new tensor and subscripts. */
function sumOut(s: KernelScope, x: TensorInfo, term: string, drop: (label: string) => boolean): [TensorInfo, string] {
  const axes: number[] = [];
  let kept = '';
  for (let i = 0; i < term.length; i++) {
    if (drop(term[i]!)) axes.push(i);
    else kept += term[i]!;
  }
  if (axes.length === 0) return [x, term];
  return [s.run(tf.Sum, { x }, { axis: axes, keepDims: false }), kept];
}

/**
 * Two-operand einsum as one BatchMatMul: labels are sorted into batch (in both operands and the
 * output), contracted (in both, not the output), free-left and free-right; labels found in one
 * operand only and not in the output are summed out first. Each operand is transposed (only when
 * needed) to [batch, free, contracted] or [batch, contracted, free], multiplied, and the product
 * is transposed into the output order.
 */
function einsumAsMatMul(s: KernelScope, terms: [string, string], out: string, a0: TensorInfo, b0: TensorInfo): TensorInfo {
  const [ta0, tb0] = terms;
  const size = new Map<string, number>();
  [...ta0].forEach((l, i) => size.set(l, a0.shape[i]!));
  [...tb0].forEach((l, i) => size.set(l, b0.shape[i]!));
  const [a, ta] = sumOut(s, a0, ta0, (l) => !tb0.includes(l) && !out.includes(l));
  const [b, tb] = sumOut(s, b0, tb0, (l) => !ta0.includes(l) && !out.includes(l));
  const batch = [...ta].filter((l) => tb.includes(l) && out.includes(l));
  const contract = [...ta].filter((l) => tb.includes(l) && !out.includes(l));
  const freeA = [...ta].filter((l) => !tb.includes(l));
  const freeB = [...tb].filter((l) => !ta.includes(l));
  const dims = (labels: string[]): number[] => labels.map((l) => size.get(l)!);
  const nb = product(dims(batch));
  const nc = product(dims(contract));
  const nfa = product(dims(freeA));
  const nfb = product(dims(freeB));
  const permOf = (term: string, labels: string[]): number[] => labels.map((l) => term.indexOf(l));

  const aNormal = permOf(ta, [...batch, ...freeA, ...contract]);
  const aTrans = permOf(ta, [...batch, ...contract, ...freeA]);
  const transposeA = !isIdentity(aNormal) && isIdentity(aTrans);
  const a3 = s.reshape(transposeA ? a : transposeIfNeeded(s, a, aNormal), transposeA ? [nb, nc, nfa] : [nb, nfa, nc]);

  const bNormal = permOf(tb, [...batch, ...contract, ...freeB]);
  const bTrans = permOf(tb, [...batch, ...freeB, ...contract]);
  const transposeB = !isIdentity(bNormal) && isIdentity(bTrans);
  const b3 = s.reshape(transposeB ? b : transposeIfNeeded(s, b, bNormal), transposeB ? [nb, nfb, nc] : [nb, nc, nfb]);

  const prod = s.run(tf.BatchMatMul, { a: a3, b: b3 }, { transposeA, transposeB });
  const labels = [...batch, ...freeA, ...freeB];
  const shaped = s.reshape(prod, dims(labels));
  return transposeIfNeeded(s, shaped, [...out].map((l) => labels.indexOf(l)));
}

/**
 * The general einsum of the tfjs CPU kernel (expand every operand to all labels, multiply with
 * broadcasting, sum labels out along tfjs' compute path), run on WASM kernels. Used for one
 * operand, int32 inputs and repeated output labels.
 */
function einsumByBroadcast(s: KernelScope, equation: string, tensors: TensorInfo[]): TensorInfo {
  const { allDims, summedDims, idDims } = backend_util.decodeEinsumEquation(equation, tensors.length);
  const { path, steps } = backend_util.getEinsumComputePath(summedDims, idDims);
  let out: TensorInfo | undefined;
  let numDimsRemaining = allDims.length;
  for (let i = 0; i < steps.length; ++i) {
    for (const idTerm of steps[i]!) {
      const { permutationIndices: perm, expandDims } = backend_util.getEinsumPermutation(numDimsRemaining, idDims[idTerm]!);
      let x = tensors[idTerm]!;
      if (!backend_util.isIdentityPermutation(perm)) x = s.run(tf.Transpose, { x }, { perm });
      const target = x.shape.slice();
      for (const d of expandDims) target.splice(d, 0, 1);
      if (!util.arraysEqual(x.shape, target)) x = s.reshape(x, target);
      out = out === undefined ? x : s.run(tf.Multiply, { a: x, b: out });
    }
    if (i < steps.length - 1) {
      if (path[i]! >= 0 && out !== undefined) {
        out = s.run(tf.Sum, { x: out }, { axis: path[i]! - (allDims.length - numDimsRemaining), keepDims: false });
      }
      numDimsRemaining--;
    }
  }
  if (out === undefined) throw new Error('@lopt/backend: einsum with no operands.');
  return out;
}

/**
 * Einsum for the WASM backend (1 or 2 operands, no ellipsis, as tfjs' einsum op allows).
 *
 * Route: WASM kernels. Two float32 operands run as a single BatchMatMul between transposes
 * ({@link einsumAsMatMul}), so `bhqd,bhkd->bhqk` costs one batched GEMM rather than the
 * CPU kernel's broadcast product over all labels; other cases run the CPU kernel's algorithm
 * on WASM Transpose/Multiply/Sum kernels.
 */
function einsum(args: KernelArgs<TensorInfo[], EinsumAttrs>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const tensors = Array.from(inputs as ArrayLike<TensorInfo>);
  const equation = attrs.equation.replace(/\s/g, '');
  const { allDims, idDims } = backend_util.decodeEinsumEquation(equation, tensors.length);
  backend_util.checkEinsumDimSizes(allDims.length, idDims, tensors as Tensor[]);
  const [lhs = '', out = ''] = equation.split('->');
  const terms = lhs.split(',');
  return withScope(backend, 'wasm', (s) => {
    const [a, b] = tensors;
    if (
      terms.length === 2 &&
      a !== undefined &&
      b !== undefined &&
      a.dtype === 'float32' &&
      b.dtype === 'float32' &&
      new Set(out).size === out.length
    ) {
      return einsumAsMatMul(s, [terms[0]!, terms[1]!], out, a, b);
    }
    return einsumByBroadcast(s, equation, tensors);
  });
}

/** Kernel registration for {@link einsum}. */
export const einsumConfig: KernelConfig = {
  kernelName: tf.Einsum,
  backendName: 'wasm',
  kernelFunc: einsum as unknown as KernelConfig['kernelFunc'],
};
