import * as tf from '@tensorflow/tfjs-core';

// What every task's hand-derived gradient ("fast path") shares: which path runs now, and the
// custom-gradient node that carries a hand-derived backward pass. Under exactly one gradient
// tape (plain training, evaluation, ES/PES inner steps) a task's loss is one node whose backward
// pass is a few large ops, instead of tfjs recording and replaying every forward op; its forward
// ops are not recorded, so it cannot be differentiated twice. With no tape the plain forward runs
// (no gradient is taken); with two or more (TBPTT, anything differentiating through an inner
// gradient) the autodiff path runs, so second-order gradients are unchanged.

/** Gradient path of a task loss: `'auto'` picks (see {@link takesHandDerived}); `'fast'` / `'autodiff'` force one (tests and benchmarks compare them). */
export type GradPath = 'auto' | 'fast' | 'autodiff';

/** Gradient tapes recording now (tfjs-core's engine state; 0 outside tf.grad, 2+ when nested). */
export function tapeDepth(): number {
  return (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth;
}

/**
 * Whether a loss with gradient path `path` takes its hand-derived backward pass now: forced
 * (`'fast'`), or `'auto'` with exactly one tape recording and a model the pass `covers`.
 */
export function takesHandDerived(path: GradPath, covers = true): boolean {
  return path === 'fast' || (path === 'auto' && covers && tapeDepth() === 1);
}

/** The forward half of a hand-derived loss: its value, the tensors its backward pass reads, and that pass. */
export interface HandDerivedForward {
  /** The loss. */
  readonly value: tf.Scalar;
  /** Everything the backward pass reads (inputs may be temporaries of a caller's tidy, so save them too). */
  readonly saved: tf.Tensor[];
  /** d loss / d inputs times `dy`, one gradient per input in order, from the saved tensors. */
  readonly backward: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
}

/**
 * The scalar `forward(inputs).value` as ONE custom-gradient node over `inputs` whose gradient
 * is `forward(inputs).backward`. Tensors the loss closes over (a batch) get no gradient.
 */
export function handDerivedLoss(inputs: readonly tf.Tensor[], forward: (inputs: tf.Tensor[]) => HandDerivedForward): tf.Scalar {
  const node = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const f = forward(args as tf.Tensor[]);
    save(f.saved);
    return { value: f.value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => f.backward(dy, saved) };
  });
  return node(...inputs) as tf.Scalar;
}
