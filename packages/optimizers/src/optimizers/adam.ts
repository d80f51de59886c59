import type { TensorTree } from '@lopt/core';
import { chain, optimizerFrom, type TransformationOptimizer } from '../transformation.js';
import { checkBoolean, checkHyper, checkKnownOptions, checkLearningRate, type Hyper, type LearningRate, type Schedule } from '../hyper.js';
import { withFusedAdam } from '../fused/adam_update.js';
import { adamHypers, scaleByAdam, type ScaleByAdamOptions } from '../transforms/adam.js';
import { addDecayedWeights } from '../transforms/momentum.js';
import { checkMask, type Mask } from '../transforms/masked.js';
import { scaleByLearningRate } from '../transforms/scale.js';

/** Options of {@link adam}. */
export interface AdamOptions extends ScaleByAdamOptions {
  /** Step size, a number or a schedule of the step. Default 1e-3. */
  readonly learningRate?: LearningRate;
  /**
   * Use the fused single-pass kernel where it applies (the `cpu` and `wasm` backends, no
   * gradient tape recording, numeric hyperparameters, no Nesterov, no mask). It computes
   * the same formula in float64 per element and produces the same state tree; `false`
   * always runs the composed transformations. Default true.
   */
  readonly fused?: boolean;
}

const ADAM_KEYS = ['learningRate', 'beta1', 'beta2', 'epsilon', 'epsilonRoot', 'nesterov', 'fused'] as const;

function fusable(
  fused: boolean,
  h: ReturnType<typeof adamHypers>,
  lr: LearningRate,
  wd: Hyper,
): { beta1: number; beta2: number; epsilon: number; epsilonRoot: number; weightDecay: number; learningRate: number | Schedule } | undefined {
  if (!fused || h.nesterov) return undefined;
  const nums = [h.beta1, h.beta2, h.epsilon, h.epsilonRoot, wd];
  if (!nums.every((x) => typeof x === 'number') || (typeof lr !== 'number' && typeof lr !== 'function')) return undefined;
  const [beta1, beta2, epsilon, epsilonRoot, weightDecay] = nums as number[];
  return { beta1: beta1 as number, beta2: beta2 as number, epsilon: epsilon as number, epsilonRoot: epsilonRoot as number, weightDecay: weightDecay as number, learningRate: lr };
}

/**
 * Adam (Kingma & Ba 2015; optax `adam`): `chain(scaleByAdam, scaleByLearningRate)`, so
 * `p -= lr * m^ / (sqrt(v^ + epsilonRoot) + epsilon)` with bias-corrected moments and
 * epsilon outside the square root. Defaults: lr 1e-3, beta1 0.9, beta2 0.999, epsilon
 * 1e-8 (optax and the paper; `tf.train.adam` defaults epsilon to the backend's 1e-7).
 *
 * @example
 * ```ts
 * const opt = adam({ learningRate: warmupCosineDecay({ peakValue: 1e-3, warmupSteps: 100, decaySteps: 1000 }) });
 * ```
 */
export function adam(options: AdamOptions = {}): TransformationOptimizer<TensorTree[]> {
  checkKnownOptions('adam', options, ADAM_KEYS);
  const lr = checkLearningRate('learningRate', options.learningRate ?? 1e-3);
  const h = adamHypers(options);
  const fused = checkBoolean('fused', options.fused, true);
  const base = optimizerFrom(chain(scaleByAdam(h), scaleByLearningRate(lr)), 'adam', { config: { learningRate: lr, ...h } });
  const f = fusable(fused, h, lr, 0);
  return f ? withFusedAdam(base, { ...f, decayEntry: false }) : base;
}

/** Options of {@link adamw}. */
export interface AdamWOptions extends AdamOptions {
  /** Decoupled weight decay, multiplied by the learning rate. Default 1e-4 (optax). */
  readonly weightDecay?: Hyper;
  /** Leaves to decay (default: all). See {@link Mask}. */
  readonly mask?: Mask;
}

/**
 * AdamW (Loshchilov & Hutter 2019; optax `adamw`):
 * `chain(scaleByAdam, addDecayedWeights(weightDecay, mask), scaleByLearningRate)`, so
 * `p -= lr * (m^ / (sqrt(v^) + epsilon) + weightDecay * p)`. The decay is decoupled from
 * the moments and multiplied by the learning rate (optax and PyTorch; the paper multiplies
 * it by a separate schedule multiplier instead).
 */
export function adamw(options: AdamWOptions = {}): TransformationOptimizer<TensorTree[]> {
  checkKnownOptions('adamw', options, [...ADAM_KEYS, 'weightDecay', 'mask']);
  const lr = checkLearningRate('learningRate', options.learningRate ?? 1e-3);
  const h = adamHypers(options);
  const fused = checkBoolean('fused', options.fused, true);
  const wd = checkHyper('weightDecay', options.weightDecay ?? 1e-4, { min: 0 });
  const mask = options.mask === undefined ? undefined : checkMask('mask', options.mask);
  const tx = chain(
    scaleByAdam(h),
    addDecayedWeights(wd, mask === undefined ? {} : { mask }),
    scaleByLearningRate(lr),
  );
  const base = optimizerFrom(tx, 'adamw', { config: { learningRate: lr, ...h, weightDecay: wd, ...(mask === undefined ? {} : { mask }) } });
  const f = mask === undefined ? fusable(fused, h, lr, wd) : undefined;
  return f ? withFusedAdam(base, { ...f, decayEntry: true }) : base;
}
