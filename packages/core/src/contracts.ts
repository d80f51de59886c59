import type * as tf from '@tensorflow/tfjs-core';
import type { Key } from './random.js';
import type { TensorTree } from './tree.js';
import type { DenseLayerStatistics, DenseLayerTapping } from './layers.js';
import type { VectorizedOptimizer, VectorizedOptimizerOptions, VectorizedTask } from './vectorized.js';

/**
 * Per-step information an optimizer may use besides the gradients.
 * Learned optimizers that take loss features read `loss`; those that sample read `key`;
 * `isValid` marks a validation-loss update (hierarchical optimizers of Metz et al. 2020).
 */
export interface UpdateContext {
  /** The training loss at the parameters the gradients were taken at. */
  readonly loss?: tf.Scalar;
  /** A PRNG key for stochastic updates. */
  readonly key?: Key;
  /** True when `loss` is a validation loss rather than a training loss. */
  readonly isValid?: boolean;
  /**
   * Per-layer inputs and pre-activation gradients for curvature methods (K-FAC, FOOF,
   * mini-block Fisher); see `valueAndLayerGrads`. Other optimizers ignore it.
   */
  readonly layers?: readonly DenseLayerStatistics[];
}

/**
 * The full state of an optimizer: the parameters it trains, its own state `S`
 * (moments, accumulators; a tensor tree or an object containing tensor trees and numbers),
 * and the number of updates taken.
 */
export interface OptState<S = TensorTree> {
  /** The parameters being trained. */
  readonly params: TensorTree;
  /** Optimizer-specific state (tensors; may also hold plain numbers). */
  readonly state: S;
  /** Number of updates applied so far. */
  readonly iteration: number;
}

/** Options of {@link Optimizer.init}. */
export interface OptimizerInitOptions {
  /** Length of the training run, for optimizers whose features or schedules use it. */
  readonly numSteps?: number;
  /** Key for optimizers with random state. */
  readonly key?: Key;
}

/**
 * An optimizer as a pure function of (state, gradients, context): `update` never mutates
 * or disposes its inputs, and returns a new state (which may share tensors with its inputs).
 * Use {@link advance} to run a step in a loop without leaking tensors.
 */
export interface Optimizer<S = TensorTree> {
  /** A short name, e.g. `adam`. */
  readonly name: string;
  /** Builds the initial state for `params`. The state holds `params` itself (no copy). */
  init(params: TensorTree, opts?: OptimizerInitOptions): OptState<S>;
  /** Applies one update for `grads` (same structure as `state.params`). */
  update(state: OptState<S>, grads: TensorTree, ctx?: UpdateContext): OptState<S>;
  /**
   * The parameters to evaluate the model at, for optimizers whose iterate is not the point to
   * evaluate (Schedule-Free's average, Lookahead's slow weights). Absent means `state.params`.
   * Returns new tensors that the caller owns and disposes.
   */
  evalParams?(state: OptState<S>): TensorTree;
  /**
   * True when `update` needs `ctx.layers` (curvature methods such as K-FAC): a training loop
   * then takes gradients with `valueAndLayerGrads` on a task that reports its dense layers.
   */
  readonly needsLayers?: boolean;
}

/**
 * An optax-style building block: transforms a gradient tree into an update tree, with its
 * own state. Chains of transformations become optimizers through `optimizerFrom`
 * (`@lopt/optimizers`). The returned `updates` are added to the parameters.
 */
export interface GradientTransformation<S = TensorTree> {
  /** Builds the transformation's state for `params`. */
  init(params: TensorTree): S;
  /** Transforms `updates` (initially the gradients). */
  update(updates: TensorTree, state: S, params: TensorTree, ctx?: UpdateContext): { updates: TensorTree; state: S };
}

/** Options of {@link LearnedOptimizer.optimizer}. */
export interface LearnedOptimizerOptions {
  /** Length of the inner training run, for architectures whose features use it. */
  readonly numSteps?: number;
}

/**
 * A learned optimizer: meta-parameters `Theta` (a tensor tree) that define an ordinary
 * {@link Optimizer}. Estimators meta-train `Theta`; users train models with the result.
 */
export interface LearnedOptimizer<Theta extends TensorTree = TensorTree> {
  /** Architecture name, e.g. `adafacMlpLOpt`. */
  readonly name: string;
  /** The architecture's configuration as JSON; stored with checkpoints. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Initial meta-parameters. */
  init(key: Key): Theta;
  /** The optimizer that `theta` defines. */
  optimizer(theta: Theta, opts?: LearnedOptimizerOptions): Optimizer;
  /**
   * Optional: K copies of the optimizer as one batched computation, copy `i` defined by
   * index `i` of the stacked `thetas` (leaves `[K, ...theta shape]`). Returns undefined when
   * this configuration cannot be batched; callers then fall back to one optimizer per copy.
   * See {@link VectorizedOptimizer} for the consistency guarantee.
   */
  vectorized?(thetas: TensorTree, opts?: VectorizedOptimizerOptions): VectorizedOptimizer | undefined;
  /**
   * Optional: the paths (as `treePaths` writes them, e.g. `log_lr` or `momentum_decays`) of
   * the theta leaves that are hyperparameters: small leaves (a few values) with a meaning
   * of their own, such as a log learning rate or accumulator-decay offsets, as opposed to
   * network weights. Tools log their values while meta-training. Absent or empty: none.
   *
   * @example
   * ```ts
   * const paths = learned.hyperparameterPaths?.() ?? []; // ['log_lr'] for learnableSgd
   * ```
   */
  hyperparameterPaths?(): readonly string[];
}

/** A source of batches: the same key always gives the same batch. */
export interface Dataset<B = TensorTree> {
  /** One batch for `key`. The caller owns (and disposes) the returned tensors. */
  sample(key: Key): B;
}

/** The splits of a task's data (as in learned_optimization: train, inner-valid, outer-valid, test). */
export interface Datasets<B = TensorTree> {
  /** Batches the inner optimizer trains on. */
  readonly train: Dataset<B>;
  /** Validation batches visible to the learned optimizer during inner training. */
  readonly innerValid?: Dataset<B>;
  /** Validation batches for the meta-objective. */
  readonly outerValid?: Dataset<B>;
  /** Held-out batches for final evaluation. */
  readonly test?: Dataset<B>;
}

/** A training problem: initial parameters and a loss. */
export interface Task<B = TensorTree> {
  /** A short name, e.g. `quadratic-10`. */
  readonly name: string;
  /** Initial parameters for `key` (deterministic). */
  init(key: Key): TensorTree;
  /** Scalar loss; `batch` is undefined for data-free tasks. Must be differentiable in `params`. */
  loss(params: TensorTree, batch: B, key?: Key): tf.Scalar;
  /** The task's data, if it has any. */
  readonly datasets?: Datasets<B>;
  /** Maps a loss value to a scale comparable across tasks (for meta-losses). */
  normalizer?(loss: number): number;
  /** Optional: the task's dense layers and a loss that reports them (for curvature methods). */
  readonly layers?: DenseLayerTapping<B>;
}

/** A distribution over tasks: samples JSON configurations and builds tasks from them. */
export interface TaskFamily<Cfg = unknown> {
  /** A short name, e.g. `image-mlp-family`. */
  readonly name: string;
  /** A JSON-serializable task configuration for `key`. */
  sample(key: Key): Cfg;
  /** The task a configuration describes (the same configuration always builds the same task). */
  task(cfg: Cfg): Task;
  /**
   * Optional: the tasks of `cfgs` as one batched computation ({@link VectorizedTask}), or
   * undefined when they cannot be batched (their parameter or batch shapes differ); callers
   * then fall back to one task at a time.
   */
  vectorized?(cfgs: readonly Cfg[]): VectorizedTask | undefined;
}

/** What a gradient estimator returns for one estimate. */
export interface GradientEstimate<WS = unknown> {
  /** Estimated gradient of the meta-loss with respect to theta (same structure as theta). */
  readonly grad: TensorTree;
  /** Mean meta-loss over the unrolls behind the estimate. */
  readonly meanLoss: number;
  /** The worker state to pass to the next call. */
  readonly state: WS;
  /** Named diagnostics (for example the number of finished episodes). */
  readonly metrics: Record<string, number>;
}

/**
 * Estimates the gradient of a meta-loss with respect to meta-parameters theta, possibly
 * carrying persistent worker state (truncated unrolls) between calls.
 */
export interface GradientEstimator<WS = unknown> {
  /** A short name, e.g. `truncated-pes`. */
  readonly name: string;
  /** Initial worker state. */
  init(theta: TensorTree, key: Key): WS;
  /** One estimate at `theta` from worker state `state`. */
  estimate(theta: TensorTree, state: WS, key: Key): GradientEstimate<WS>;
}
