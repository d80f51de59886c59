import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, type GradientTransformation } from '@lopt/core';
import { optimizerFrom, type TransformationOptimizer } from '../transformation.js';
import { perLeafTransformation, type LeafStepInput } from './per-leaf.js';
import { checkBoolean, checkKnownOptions, checkLearningRate, type LearningRate } from '../hyper.js';
import { contractFirstAxis, gramAlong } from './kronecker-blocks.js';
import { householderQ, symmetricEigen } from './symmetric-eigen.js';

/** Options of {@link soap} (the authors' PyTorch `SOAP`, camelCased, with its defaults). */
export interface SoapOptions {
  /** Step size or schedule. Default 3e-3. */
  readonly learningRate?: LearningRate;
  /** Adam's first-moment decay. Default 0.95. */
  readonly beta1?: number;
  /** Adam's second-moment decay. Default 0.95. */
  readonly beta2?: number;
  /** Decay of the Kronecker factors; absent means `beta2`. */
  readonly shampooBeta?: number;
  /** Adam's epsilon (outside the root). Default 1e-8. */
  readonly epsilon?: number;
  /** Decoupled weight decay, applied after the step to the updated parameters. Default 0.01. */
  readonly weightDecay?: number;
  /** Refresh the eigenbases (one power iteration + QR) every this many steps. Default 10. */
  readonly preconditionFrequency?: number;
  /** Axes longer than this are not rotated. Default 10000. */
  readonly maxPreconditionDim?: number;
  /** Merge consecutive axes while their product stays <= maxPreconditionDim. Default false. */
  readonly mergeDims?: boolean;
  /** Rotate 1-D parameters too. Default false. */
  readonly precondition1d?: boolean;
  /** Divide each update by its RMS. Default false. */
  readonly normalizeGrads?: boolean;
  /** Adam's bias correction. Default true. */
  readonly correctBias?: boolean;
}

interface Settings {
  readonly lr: LearningRate;
  readonly beta1: number;
  readonly beta2: number;
  readonly shampooBeta: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly frequency: number;
  readonly maxDim: number;
  readonly mergeDims: boolean;
  readonly precondition1d: boolean;
  readonly normalizeGrads: boolean;
  readonly correctBias: boolean;
}

/** Per-parameter state of {@link scaleBySoap}: Adam's moments in the rotated basis, and per rotated axis its factor and eigenbasis. */
export type SoapLeafState = { bases: tf.Tensor2D[]; expAvg: tf.Tensor; expAvgSq: tf.Tensor; factors: tf.Tensor2D[] };

/** State of {@link scaleBySoap}: the update counter (the first call only initializes the bases) and one entry per leaf. */
export type SoapState = { count: tf.Scalar; leaves: SoapLeafState[] };

const KEYS = [
  'learningRate', 'beta1', 'beta2', 'shampooBeta', 'epsilon', 'weightDecay', 'preconditionFrequency',
  'maxPreconditionDim', 'mergeDims', 'precondition1d', 'normalizeGrads', 'correctBias',
] as const;

function settings(o: SoapOptions): Settings {
  checkKnownOptions('soap', o, KEYS);
  const beta2 = checkNumber('beta2', o.beta2 ?? 0.95, { min: 0, lessThan: 1 });
  return {
    lr: checkLearningRate('learningRate', o.learningRate ?? 3e-3),
    beta1: checkNumber('beta1', o.beta1 ?? 0.95, { min: 0, lessThan: 1 }),
    beta2,
    shampooBeta: o.shampooBeta === undefined ? beta2 : checkNumber('shampooBeta', o.shampooBeta, { min: 0, lessThan: 1 }),
    epsilon: checkNumber('epsilon', o.epsilon ?? 1e-8, { min: 0 }),
    weightDecay: checkNumber('weightDecay', o.weightDecay ?? 0.01, { min: 0 }),
    frequency: checkNumber('preconditionFrequency', o.preconditionFrequency ?? 10, { min: 1, integer: true }),
    maxDim: checkNumber('maxPreconditionDim', o.maxPreconditionDim ?? 10000, { min: 1, integer: true }),
    mergeDims: checkBoolean('mergeDims', o.mergeDims, false),
    precondition1d: checkBoolean('precondition1d', o.precondition1d, false),
    normalizeGrads: checkBoolean('normalizeGrads', o.normalizeGrads, false),
    correctBias: checkBoolean('correctBias', o.correctBias, true),
  };
}

/** The authors' `merge_dims`: merge consecutive axes while the product stays <= max. */
function mergeDims(shape: readonly number[], max: number): number[] {
  const out: number[] = [];
  let current = 1;
  for (const d of shape) {
    const next = current * d;
    if (next > max) {
      if (current > 1) {
        out.push(current);
        current = d;
      } else {
        out.push(d);
        current = 1;
      }
    } else current = next;
  }
  if (current > 1 || out.length === 0) out.push(current);
  return out;
}

/** The working shape of a parameter and which of its axes are rotated. */
function planFor(shape: number[], s: Settings): { work: number[]; rotated: boolean[] } {
  if (shape.length <= 1) {
    const n = shape[0] ?? 1;
    return { work: [n], rotated: [s.precondition1d && n <= s.maxDim] };
  }
  const work = s.mergeDims ? mergeDims(shape, s.maxDim) : [...shape];
  return { work, rotated: work.map((d) => d <= s.maxDim) };
}

/** Applies `Q^T` (`back = false`) or `Q` (`back = true`) along every rotated axis; other axes just cycle. */
function rotate(t: tf.Tensor, bases: tf.Tensor2D[], rotated: boolean[], back: boolean): tf.Tensor {
  let out = t;
  let k = 0;
  for (const r of rotated) {
    if (r) {
      const q = bases[k++] as tf.Tensor2D;
      out = contractFirstAxis(out, back ? (tf.transpose(q) as tf.Tensor2D) : q);
    } else out = tf.transpose(out, [...out.shape.map((_, i) => i).slice(1), 0]);
  }
  return out;
}

/** New Kronecker factors `lerp(F, G_(i) G_(i)^T, 1 - shampooBeta)` of the rotated axes. */
function updatedFactors(g: tf.Tensor, factors: tf.Tensor2D[], rotated: boolean[], s: Settings): tf.Tensor2D[] {
  const out: tf.Tensor2D[] = [];
  rotated.forEach((r, axis) => {
    if (!r) return;
    const f = factors[out.length] as tf.Tensor2D;
    out.push(tf.add(f, tf.mul(1 - s.shampooBeta, tf.sub(gramAlong(g, axis), f))) as tf.Tensor2D);
  });
  return out;
}

/** Eigenvectors of each factor, by descending eigenvalue (the authors' `get_orthogonal_matrix`), in float64 on the host. */
function eigenBases(factors: tf.Tensor2D[]): tf.Tensor2D[] {
  return factors.map((f) => {
    const n = f.shape[0];
    const e = symmetricEigen(f.dataSync(), n);
    const flipped = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) flipped[i * n + j] = e.vectors[i * n + (n - 1 - j)] as number;
    return tf.tensor2d(flipped, [n, n]);
  });
}

/**
 * One power iteration and a QR per factor (`get_orthogonal_matrix_QR`): the current basis's
 * columns are sorted by their Rayleigh quotients (descending), `expAvgSq` is permuted to
 * match along that axis, and the new basis is `Q` of `F Q_sorted`.
 */
function refreshedBases(factors: tf.Tensor2D[], bases: tf.Tensor2D[], expAvgSq: tf.Tensor, rotated: boolean[]): { bases: tf.Tensor2D[]; expAvgSq: tf.Tensor } {
  let sq = expAvgSq;
  let k = 0;
  const out: tf.Tensor2D[] = [];
  rotated.forEach((r, axis) => {
    if (!r) return;
    const m = factors[k] as tf.Tensor2D;
    const o = bases[k++] as tf.Tensor2D;
    const n = m.shape[0];
    const est = tf.sum(tf.mul(o, tf.matMul(m, o)), 0).dataSync();
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (est[b] as number) - (est[a] as number));
    const idx = tf.tensor1d(order, 'int32');
    sq = tf.gather(sq, idx, axis);
    const power = tf.matMul(m, tf.gather(o, idx, 1)).dataSync();
    out.push(tf.tensor2d(Float32Array.from(householderQ(power, n)), [n, n]));
  });
  return { bases: out, expAvgSq: sq };
}


/** The first call: factors from the first gradient, bases from their eigenvectors, no step. */
function initializeLeaf(g: tf.Tensor, leaf: SoapLeafState, s: Settings): { update: tf.Tensor; state: SoapLeafState } {
  const plan = planFor([...g.shape], s);
  const gw = tf.reshape(g, plan.work);
  const factors = updatedFactors(gw, leaf.factors, plan.rotated, s);
  return { update: tf.zerosLike(g), state: { bases: eigenBases(factors), expAvg: leaf.expAvg, expAvgSq: leaf.expAvgSq, factors } };
}

/** Adam in the rotated basis, then the factor and basis update (the authors' `step` for one parameter). */
function stepLeaf({ g, p, leaf, step, lr }: LeafStepInput<SoapLeafState>, s: Settings): { update: tf.Tensor; state: SoapLeafState } {
  const plan = planFor([...g.shape], s);
  const gw = tf.reshape(g, plan.work);
  const projected = rotate(gw, leaf.bases, plan.rotated, false);
  const expAvg = tf.add(tf.mul(s.beta1, leaf.expAvg), tf.mul(1 - s.beta1, projected));
  let expAvgSq = tf.add(tf.mul(s.beta2, leaf.expAvgSq), tf.mul(1 - s.beta2, tf.square(projected)));
  const denom = tf.add(tf.sqrt(expAvgSq), s.epsilon);
  const stepSize = s.correctBias ? tf.mul(lr, Math.sqrt(1 - s.beta2 ** step) / (1 - s.beta1 ** step)) : lr;
  let normGrad = tf.reshape(rotate(tf.div(expAvg, denom), leaf.bases, plan.rotated, true), g.shape);
  if (s.normalizeGrads) normGrad = tf.div(normGrad, tf.add(1e-30, tf.sqrt(tf.mean(tf.square(normGrad)))));
  const stepped = tf.sub(p, tf.mul(stepSize, normGrad));
  const next = s.weightDecay > 0 ? tf.sub(stepped, tf.mul(tf.mul(lr, s.weightDecay), stepped)) : stepped;
  // update_preconditioner: the first moment goes back to the original basis, the factors take
  // this gradient, the bases are refreshed every `frequency` steps, and the moment is rotated again
  const original = rotate(expAvg, leaf.bases, plan.rotated, true);
  const factors = updatedFactors(gw, leaf.factors, plan.rotated, s);
  let bases = leaf.bases;
  if (step % s.frequency === 0) ({ bases, expAvgSq } = refreshedBases(factors, leaf.bases, expAvgSq, plan.rotated));
  const rotatedAvg = rotate(original, bases, plan.rotated, false);
  return { update: tf.sub(next, p), state: { bases, expAvg: rotatedAvg, expAvgSq, factors } };
}

/** A leaf's state before the first step: zero moments and zero factors in the working shape (the bases are set at step 0). */
function initialLeafState(p: tf.Tensor, s: Settings): SoapLeafState {
  const plan = planFor([...p.shape], s);
  const zeros = tf.zeros(plan.work);
  const factors = plan.rotated.flatMap((r, i) => (r ? [tf.zeros([plan.work[i] as number, plan.work[i] as number]) as tf.Tensor2D] : []));
  return { bases: factors.map((f) => tf.clone(f)), expAvg: zeros, expAvgSq: tf.clone(zeros), factors };
}

/**
 * SOAP (Vyas et al. 2024, "SOAP: Improving and Stabilizing Shampoo using Adam"; the authors'
 * PyTorch `SOAP`): Adam run in the eigenbasis of Shampoo's Kronecker factors. Each rotated axis
 * keeps a factor `F = lerp(F, G_(i) G_(i)^T, 1 - shampooBeta)`; the first call only builds the
 * factors and their eigenbases (no step, as the reference); afterwards the gradient is rotated
 * into the bases, Adam's moments are kept there, the step is rotated back, decoupled weight decay
 * shrinks the updated parameters, and every `preconditionFrequency` steps the bases are refreshed by
 * one power iteration and a QR. 1-D parameters run plain Adam unless `precondition1d`.
 * Divergences: eigenvectors and QR are computed in float64 on the host; there is no `dataFormat`
 * option (tfjs kernels have no channels-first layout to undo).
 */
export function scaleBySoap(options: SoapOptions = {}): GradientTransformation<SoapState> {
  const s = settings(options);
  return perLeafTransformation({
    learningRate: s.lr,
    initLeaf: (p) => initialLeafState(p, s),
    stepLeaf: (input) => (input.step === 0 ? initializeLeaf(input.g, input.leaf, s) : stepLeaf(input, s)),
  });
}

/**
 * The SOAP optimizer ({@link scaleBySoap} applied to the parameters; the learning rate and
 * weight decay are inside the transformation, as in the reference).
 *
 * @example
 * ```ts
 * const opt = soap({ learningRate: 3e-3, preconditionFrequency: 10 });
 * ```
 */
export function soap(options: SoapOptions = {}): TransformationOptimizer<SoapState> {
  const s = settings(options);
  return optimizerFrom(scaleBySoap(options), 'soap', {
    config: {
      learningRate: typeof s.lr === 'number' ? s.lr : undefined, beta1: s.beta1, beta2: s.beta2, shampooBeta: s.shampooBeta,
      epsilon: s.epsilon, weightDecay: s.weightDecay, preconditionFrequency: s.frequency, maxPreconditionDim: s.maxDim,
      mergeDims: s.mergeDims, precondition1d: s.precondition1d, normalizeGrads: s.normalizeGrads, correctBias: s.correctBias,
    },
  });
}
