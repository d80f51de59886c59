import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  assertSameStructure,
  checkOneOf,
  treeLeaves,
  treeMap,
  treeZerosLike,
  type OptState,
  type Optimizer,
  type OptimizerInitOptions,
  type TensorTree,
  type UpdateContext,
  hasInitAndUpdate,
  tidy,
} from '@lopt/core';
import { checkKnownOptions, counter, readCount } from '../hyper.js';
import type { InjectedOptimizer, InjectHyperparamsState } from '../inject.js';
import { checkRebuilt, injectPlain, isInjected, linearInLearningRate, rebuildPlain } from './rebuild.js';
import { checkSpace, toConstrained, toUnconstrained, type HyperSpace } from './spaces.js';
import {
  checkTrajectoryLength,
  emptyTrajectory,
  readTrajectoryBuffer,
  recordTrajectory,
  type HyperparamTrajectory,
} from './trajectory.js';

/** How {@link hypergradient} differentiates through the previous update. */
export type HypergradientMethod = 'auto' | 'autodiff' | 'closed-form';

/** Options of {@link hypergradient}. */
export interface HypergradientOptions {
  /**
   * The optimizer of the tuned hyperparameters (their unconstrained values `x`, see
   * {@link HyperSpace}), e.g. `sgd({ learningRate: 1e-2 })`, or another `hypergradient(...)`
   * to build a tower. Required.
   */
  readonly hyperOptimizer: Optimizer<unknown>;
  /**
   * Hyperparameters to tune (injected names of the wrapped optimizer). Default: those of
   * `learningRate`, `momentum`, `beta1`, `beta2`, `decay` that are injected (Chandra et al.
   * tune the learning rate and the momentum/betas; Lion's betas only enter through a sign,
   * whose gradient is zero, so for Lion only the learning rate).
   */
  readonly tune?: readonly string[];
  /**
   * The space each tuned hyperparameter is optimized in. Defaults: `learningRate`,
   * `weightDecay` and `epsilon` in `log` (positive; hyper-steps are relative); `momentum`,
   * `beta1`, `beta2` and `decay` in `unit` ((tanh x + 1)/2, in (0, 1)); others `raw`. Use
   * `{ learningRate: 'raw' }` for Chandra et al.'s raw learning rate (then
   * `alpha <- alpha + kappa g_t . g_{t-1}` for SGD exactly, but alpha may turn negative).
   */
  readonly spaces?: Readonly<Record<string, HyperSpace>>;
  /**
   * `autodiff` re-runs the previous update as a function of the tuned hyperparameters
   * inside `tf.grads` and dots it with the current gradient (any injected optimizer, any
   * hyperparameter; keeps the previous params, gradients and optimizer state). `closed-form`
   * (only the learning rate of a built-in whose update is `-lr * direction`) keeps the
   * previous unit-learning-rate update `d` instead and uses `dL/dlr = g_t . d_{t-1}`: one
   * dot product. `auto` (default) picks `closed-form` when it applies.
   */
  readonly method?: HypergradientMethod;
  /** Rows of hyperparameter trajectory kept in the state (see {@link HyperparamTrajectory}); 0 turns it off. Default 1024. */
  readonly trajectoryLength?: number;
}

/**
 * The previous step, kept to differentiate through it: params, gradients and optimizer
 * state (autodiff), params and gradients (closed-form Adam, which reads the moments from the
 * current state), or the unit-learning-rate update (closed-form learning rate).
 */
export type HypergradientPrevious =
  | { params: TensorTree; grads: TensorTree; inner: TensorTree }
  | { params: TensorTree; grads: TensorTree }
  | { direction: TensorTree };

/**
 * State of {@link hypergradient}:
 * - `count`: updates so far (int32 scalar);
 * - `inner`: the wrapped injected optimizer's state (its `hyperparams` hold the values used);
 * - `hyper`: the tuned hyperparameters' unconstrained values (`params`) and the
 *   hyper-optimizer's state;
 * - `prev`: what the next hypergradient needs from the last step;
 * - `hypergrad`: the last hypergradient `dL/dx` (zeros before the second update);
 * - `trajectory`: the tuned values used at each recorded step (absent when turned off).
 */
export type HypergradientState = {
  count: tf.Scalar;
  inner: InjectHyperparamsState;
  hyper: { params: { [name: string]: tf.Scalar }; state: TensorTree };
  prev: HypergradientPrevious;
  hypergrad: { [name: string]: tf.Scalar };
  trajectory?: tf.Tensor2D;
};

/** Options of {@link SelfTuningOptimizer.trajectory}. */
export interface TrajectoryOptions {
  /**
   * Level of a tower: 0 (default) reads this optimizer's tuned values, 1 the
   * hyper-optimizer's (when it is itself self-tuning), and so on. Steps are counted in
   * base-optimizer steps (level `l` first updates at step `l`).
   */
  readonly level?: number;
}

/** An optimizer that tunes its own hyperparameters and records their trajectory. */
export interface SelfTuningOptimizer<S = TensorTree> extends Optimizer<S> {
  /** JSON description of the configuration. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The names of the recorded series (tuned hyperparameters or step-size blocks) for these params. */
  trajectoryNames(params: TensorTree): string[];
  /** Reads the recorded trajectory from a state (a host read). */
  trajectory(state: OptState<S>, options?: TrajectoryOptions): HyperparamTrajectory;
}

/** The optimizer returned by {@link hypergradient}. */
export interface HypergradientOptimizer extends SelfTuningOptimizer<HypergradientState> {
  /** The injected optimizer whose hyperparameters are tuned. */
  readonly injected: InjectedOptimizer;
  /** The tuned hyperparameters (sorted). */
  readonly tune: readonly string[];
  /** The space of each tuned hyperparameter. */
  readonly spaces: Readonly<Record<string, HyperSpace>>;
  /** The method in use (`auto` resolved). */
  readonly method: 'autodiff' | 'closed-form';
  /** The hyper-optimizer. */
  readonly hyperOptimizer: Optimizer<unknown>;
}

const DEFAULT_TUNE = ['beta1', 'beta2', 'decay', 'learningRate', 'momentum'];
const DEFAULT_SPACES: Readonly<Record<string, HyperSpace>> = {
  learningRate: 'log',
  weightDecay: 'log',
  epsilon: 'log',
  momentum: 'unit',
  beta1: 'unit',
  beta2: 'unit',
  decay: 'unit',
};
/** Adam-family optimizers whose update takes sqrt of the second moment (see `epsilonRoot`). */
const SQRT_SECOND_MOMENT = new Set(['adam', 'adamw', 'nadamw', 'amsgrad', 'yogi', 'adabelief', 'lamb']);
/**
 * Added inside the square root when beta2 is tuned by autodiff and `epsilonRoot` is 0:
 * sqrt is not differentiable at 0, and a coordinate whose gradient has always been 0 would
 * give 0 * Infinity = NaN (Chandra et al. start v at epsilon for the same reason). 1e-16
 * changes no float32 update where v^ > ~1e-9.
 */
export const TUNED_BETA2_EPSILON_ROOT = 1e-16;

function hyperValue(t: tf.Scalar): number {
  return t.dataSync()[0] as number;
}

/**
 * Hypergradient descent on an optimizer's own hyperparameters ("Gradient Descent: The
 * Ultimate Optimizer", Chandra et al. 2022; Baydin et al. 2018 for SGD). At every step
 * after the first, the tuned hyperparameters `x` (in their {@link HyperSpace}) take one
 * step of `hyperOptimizer` along `dL_t/dx = g_t . d u_{t-1} / dx`, the gradient of the
 * current loss through the previous update `u_{t-1}` (past state and gradients detached);
 * then the parameters are updated with the new values. For SGD in raw space this is
 * `alpha <- alpha + kappa g_t . g_{t-1}`; for Adam's learning rate
 * `dL/dalpha = -g_t . m^_{t-1} / (sqrt(v^_{t-1}) + eps)`; beta1 and beta2 are
 * differentiated through the moment updates and bias corrections.
 *
 * The autodiff method re-runs the previous update without its `UpdateContext` (none of the
 * built-ins reads it). The first update has no previous one, so it makes no hyper-step.
 *
 * `opt` is an injected optimizer (`injectHyperparams(adam)({...})`) or a plain built-in
 * (`adam({...})`, `sgd({...})`, ...), which is rebuilt in injected form from its name and
 * JSON config (checked at `init` to make the same first update, so a lost mask or tensor
 * option fails instead of changing the optimizer). The hyper-optimizer is any lopt
 * `Optimizer` over the tree `{ [name]: scalar }`, so towers stack to any height:
 *
 * @example
 * ```ts
 * // Adam whose learning rate and betas are tuned by SGD, whose step size is tuned by SGD.
 * const opt = hypergradient(adam({ learningRate: 1e-3 }), {
 *   hyperOptimizer: hypergradient(sgd({ learningRate: 1e-2 }), { hyperOptimizer: sgd({ learningRate: 1e-3 }) }),
 * });
 * let state = opt.init(params);
 * state = advance(opt, state, grads);
 * opt.trajectory(state).values.learningRate; // the learning rate used at each recorded step
 * ```
 */
export function hypergradient(opt: Optimizer<unknown>, options: HypergradientOptions): HypergradientOptimizer {
  if (typeof options !== 'object' || options === null) {
    throw new LoptError('INVALID_OPTION', 'hypergradient needs options with a hyperOptimizer.', { option: 'options' });
  }
  checkKnownOptions('hypergradient', options, ['hyperOptimizer', 'tune', 'spaces', 'method', 'trajectoryLength']);
  const hyperOptimizer = options.hyperOptimizer;
  if (!hasInitAndUpdate(hyperOptimizer)) {
    throw new LoptError('INVALID_OPTION', "Option 'hyperOptimizer' must be an lopt Optimizer (e.g. sgd({ learningRate: 1e-2 })).", {
      option: 'hyperOptimizer',
    });
  }
  const plan = planHypergradient(opt, options);
  const { injected, names, spaces, method } = plan;
  const config = Object.freeze({
    optimizer: injected.name,
    tune: names,
    spaces: { ...spaces },
    method,
    trajectoryLength: plan.capacity,
    hyperOptimizer: hyperOptimizer.name,
  });
  let checked = plan.plain === undefined;

  return {
    name: `hypergradient(${injected.name})`,
    config,
    injected,
    tune: names,
    spaces,
    method,
    hyperOptimizer,
    trajectoryNames: () => [...names],
    init(params: TensorTree, opts?: OptimizerInitOptions): OptState<HypergradientState> {
      if (!checked) {
        checkRebuilt(plan.plain as Parameters<typeof checkRebuilt>[0], injected, params, 'opt');
        checked = true;
      }
      return tidy(() => initHypergradientState(plan, params, opts));
    },
    update(state: OptState<HypergradientState>, grads: TensorTree, ctx?: UpdateContext): OptState<HypergradientState> {
      assertSameStructure(state.params, grads, { names: ['params', 'grads'], checkShapes: true });
      const count = readCount(state.state.count, 'count');
      return tidy(() => hypergradientStep(plan, state, grads, ctx, count));
    },
    trajectory(state: OptState<HypergradientState>, topts: TrajectoryOptions = {}): HyperparamTrajectory {
      return towerTrajectory(plan, state, topts.level ?? 0);
    },
  };
}

/** How the previous update is differentiated: closed form of `-lr * direction`, closed-form Adam, or autodiff. */
type HyperKind = 'direction' | 'adam' | 'autodiff';

/** Everything {@link hypergradient}'s steps need, resolved from its options. */
interface HyperPlan {
  /** The plain optimizer it was given (undefined when given an injected one). */
  readonly plain: Optimizer<unknown> | undefined;
  readonly injected: InjectedOptimizer;
  readonly hyperOptimizer: Optimizer<unknown>;
  /** The tuned names, sorted. */
  readonly names: string[];
  readonly spaces: Record<string, HyperSpace>;
  readonly method: 'autodiff' | 'closed-form';
  readonly kind: HyperKind;
  readonly capacity: number;
  /** Set `epsilonRoot` at init when an injected optimizer starts it at 0 (beta2 tuned by autodiff). */
  readonly fixRoot: boolean;
  /** Closed-form Adam from a plain instance: the plain optimizer rebuilt with numeric hyperparameter values. */
  readonly numericStep: ((values: Record<string, number>) => Optimizer<unknown>) | undefined;
}

/** Resolves the tuned names, spaces, method and injected form of `opt` (validating the options). */
function planHypergradient(opt: Optimizer<unknown>, options: HypergradientOptions): HyperPlan {
  const plain = isInjected(opt) ? undefined : opt;
  const baseName = String(isInjected(opt) ? opt.name : (opt as { name?: unknown }).name);
  // Decide the tuned names from the injected form first (it lists the injected names).
  const probeInjected = isInjected(opt) ? opt : injectPlain(opt, 'opt');
  const tune = resolveTune(options.tune, probeInjected, baseName);
  const spaces = resolveSpaces(tune, options.spaces);
  const { method, kind } = resolveMethod(options.method, tune, baseName, probeInjected.config, plain !== undefined);
  const capacity = checkTrajectoryLength(options.trajectoryLength);
  // With beta2 tuned by autodiff, keep sqrt differentiable (see TUNED_BETA2_EPSILON_ROOT).
  const needsRoot = kind !== 'direction' && tune.includes('beta2') && SQRT_SECOND_MOMENT.has(baseName);
  const withRoot = (c: Record<string, unknown>): Record<string, unknown> => ({
    ...c,
    epsilonRoot: (c.epsilonRoot as number) > 0 ? c.epsilonRoot : TUNED_BETA2_EPSILON_ROOT,
  });
  if (plain === undefined && needsRoot && !probeInjected.hyperparamNames.includes('epsilonRoot')) {
    throw new LoptError(
      'INVALID_OPTION',
      `Tuning beta2 of '${baseName}' differentiates through sqrt(v^), which is not differentiable at 0: ` +
        `inject 'epsilonRoot' (e.g. ${TUNED_BETA2_EPSILON_ROOT}).`,
      { option: 'epsilonRoot' },
    );
  }
  const injected = plain !== undefined && needsRoot ? injectPlain(plain, 'opt', withRoot) : probeInjected;
  // Closed-form Adam needs no tensor hyperparameters for the step itself: it runs the plain
  // optimizer rebuilt with the current values as numbers, so the fused single-pass Adam
  // kernel applies where it is available.
  const numericStep =
    kind === 'adam' && plain !== undefined
      ? rebuildPlain(plain, 'opt', (factory, c) => (values: Record<string, number>) => factory({ ...(needsRoot ? withRoot(c) : c), ...values }))
      : undefined;
  return {
    plain,
    injected,
    hyperOptimizer: options.hyperOptimizer,
    names: [...tune].sort(),
    spaces,
    method,
    kind,
    capacity,
    fixRoot: needsRoot && plain === undefined,
    numericStep,
  };
}

/** The tuned names (option `tune`, or the injected defaults), each an injected numeric hyperparameter. */
function resolveTune(requested: readonly string[] | undefined, injected: InjectedOptimizer, baseName: string): string[] {
  const available = injected.hyperparamNames;
  let tune: string[];
  if (requested === undefined) {
    tune = available.filter((n) => DEFAULT_TUNE.includes(n) && !(baseName === 'lion' && n !== 'learningRate'));
  } else {
    if (!Array.isArray(requested) || requested.length === 0) {
      throw new LoptError('INVALID_OPTION', "Option 'tune' must be a non-empty array of hyperparameter names.", { option: 'tune' });
    }
    tune = [...new Set(requested)].sort();
  }
  for (const n of tune) {
    if (!available.includes(n)) {
      throw new LoptError('INVALID_OPTION', `Option 'tune': '${n}' is not an injected hyperparameter of '${baseName}'; injected: ${available.join(', ') || 'none'}.`, {
        option: 'tune',
      });
    }
    if (typeof injected.config[n] !== 'number') {
      throw new LoptError('INVALID_OPTION', `Option 'tune': '${n}' is a schedule or a tensor, so it cannot be tuned.`, { option: 'tune' });
    }
  }
  if (tune.length === 0) {
    throw new LoptError('INVALID_OPTION', `hypergradient: '${baseName}' has no hyperparameter to tune; pass 'tune'.`, { option: 'tune' });
  }
  return tune;
}

/** The space of each tuned name (option `spaces`, else {@link DEFAULT_SPACES}, else raw). */
function resolveSpaces(tune: readonly string[], requested: Readonly<Record<string, HyperSpace>> | undefined): Record<string, HyperSpace> {
  const spaces: Record<string, HyperSpace> = {};
  for (const n of tune) spaces[n] = checkSpace(`spaces.${n}`, requested?.[n] ?? DEFAULT_SPACES[n] ?? 'raw');
  for (const n of Object.keys(requested ?? {})) {
    if (!tune.includes(n)) throw new LoptError('INVALID_OPTION', `Option 'spaces': '${n}' is not tuned.`, { option: `spaces.${n}` });
  }
  return spaces;
}

/**
 * The method (option `method`, `auto` resolved) and how it differentiates. Closed forms: the
 * learning rate alone of an update -lr * direction (keeps the previous unit-lr update), or
 * Adam/AdamW rebuilt from a plain instance (any of lr, beta1, beta2; keeps the previous params
 * and gradients; the moments are in the current state).
 */
function resolveMethod(
  option: HypergradientMethod | undefined,
  tune: readonly string[],
  baseName: string,
  configValues: Readonly<Record<string, unknown>>,
  isPlain: boolean,
): { method: 'autodiff' | 'closed-form'; kind: HyperKind } {
  const requested = checkOneOf('method', option ?? 'auto', ['auto', 'autodiff', 'closed-form'] as const);
  const lrOnly = tune.length === 1 && tune[0] === 'learningRate' && linearInLearningRate(baseName, configValues);
  const adamForm =
    isPlain && (baseName === 'adam' || baseName === 'adamw') && configValues.nesterov !== true && tune.every((n) => ['learningRate', 'beta1', 'beta2'].includes(n));
  // Adam's form first: its step runs the fused kernel, and it covers the learning rate alone too.
  const closedKind: 'direction' | 'adam' | undefined = adamForm ? 'adam' : lrOnly ? 'direction' : undefined;
  if (requested === 'closed-form' && closedKind === undefined) {
    throw new LoptError(
      'INVALID_OPTION',
      "Option 'method': 'closed-form' applies to the learning rate alone of a built-in whose update is -lr * direction, " +
        'or to the learning rate and betas of a plain adam/adamw without nesterov.',
      { option: 'method' },
    );
  }
  const method = requested === 'auto' ? (closedKind !== undefined ? 'closed-form' : 'autodiff') : requested;
  return { method, kind: method === 'autodiff' ? 'autodiff' : (closedKind as 'direction' | 'adam') };
}

/** The initial state: the injected optimizer's state with the tuned values mapped through their spaces. */
function initHypergradientState(plan: HyperPlan, params: TensorTree, opts: OptimizerInitOptions | undefined): OptState<HypergradientState> {
  const { names, spaces, kind } = plan;
  const innerState = plan.injected.init(params, opts);
  const hyperparams = { ...innerState.state.hyperparams };
  if (plan.fixRoot && hyperValue(hyperparams.epsilonRoot as tf.Scalar) === 0) {
    hyperparams.epsilonRoot = tf.scalar(TUNED_BETA2_EPSILON_ROOT, 'float32');
  }
  const x: { [name: string]: tf.Scalar } = {};
  for (const n of names) {
    const v = hyperValue(hyperparams[n] as tf.Scalar);
    x[n] = tf.scalar(toUnconstrained(spaces[n] as HyperSpace, v, n), 'float32');
    hyperparams[n] = toConstrained(spaces[n] as HyperSpace, x[n] as tf.Scalar);
  }
  const hyperState = plan.hyperOptimizer.init(x, opts);
  const prev: HypergradientPrevious =
    kind === 'direction'
      ? { direction: treeZerosLike(params) }
      : kind === 'adam'
        ? { params, grads: treeZerosLike(params) }
        : { params, grads: treeZerosLike(params), inner: innerState.state.inner };
  const hypergrad: { [name: string]: tf.Scalar } = {};
  for (const n of names) hypergrad[n] = tf.scalar(0, 'float32');
  const state: HypergradientState = {
    count: counter(0),
    inner: { ...innerState.state, hyperparams },
    hyper: { params: hyperState.params as { [name: string]: tf.Scalar }, state: hyperState.state as TensorTree },
    prev,
    hypergrad,
  };
  if (plan.capacity > 0) state.trajectory = emptyTrajectory(plan.capacity, names.length);
  return { params: innerState.params, state, iteration: 0 };
}

/** One step: the hyper-step (after the first step), then the inner step with the new values. */
function hypergradientStep(
  plan: HyperPlan,
  state: OptState<HypergradientState>,
  grads: TensorTree,
  ctx: UpdateContext | undefined,
  count: number,
): OptState<HypergradientState> {
  const s = state.state;
  const hyper = count > 0 ? hyperStep(plan, s, grads, count) : { x: s.hyper.params, hyperState: s.hyper.state, hypergrad: s.hypergrad };
  const used: { [name: string]: tf.Scalar } = {};
  for (const n of plan.names) used[n] = toConstrained(plan.spaces[n] as HyperSpace, hyper.x[n] as tf.Scalar);
  const hyperparams = { ...s.inner.hyperparams, ...used };
  const io: InnerStepInput = { state, grads, ctx, hyperparams };
  const inner =
    plan.kind === 'direction'
      ? directionStep(plan, io)
      : plan.numericStep !== undefined
        ? numericStep(plan.numericStep, io, count)
        : injectedStep(plan, io);
  const next: HypergradientState = {
    count: counter(count + 1),
    inner: inner.inner,
    hyper: { params: hyper.x, state: hyper.hyperState },
    prev: inner.prev,
    hypergrad: hyper.hypergrad,
  };
  if (s.trajectory !== undefined) {
    next.trajectory = recordTrajectory(s.trajectory, count, tf.stack(plan.names.map((n) => used[n] as tf.Scalar)) as tf.Tensor1D);
  }
  return { params: inner.params, state: next, iteration: state.iteration + 1 };
}

/** The hyper-optimizer's step along the hypergradient; throws on a non-finite hypergradient. */
function hyperStep(
  plan: HyperPlan,
  s: HypergradientState,
  grads: TensorTree,
  count: number,
): { x: { [name: string]: tf.Scalar }; hyperState: TensorTree; hypergrad: { [name: string]: tf.Scalar } } {
  const hypergrad = computeHypergradient(plan, s, grads, count);
  const values = tf.stack(plan.names.map((n) => hypergrad[n] as tf.Scalar)).dataSync();
  plan.names.forEach((n, i) => {
    if (!Number.isFinite(values[i] as number)) {
      throw new LoptError('NON_FINITE', `hypergradient: the hypergradient of '${n}' is ${values[i]} at step ${count}.`, { path: `hypergrad.${n}` });
    }
  });
  const next = plan.hyperOptimizer.update({ params: s.hyper.params, state: s.hyper.state, iteration: count - 1 }, hypergrad);
  return { x: next.params as { [name: string]: tf.Scalar }, hyperState: next.state as TensorTree, hypergrad };
}

/** The inner step's result: new params, the injected state, and what the next hypergradient needs. */
interface InnerStep {
  readonly params: TensorTree;
  readonly inner: InjectHyperparamsState;
  readonly prev: HypergradientPrevious;
}

/** What every inner step reads: the current step's state, gradients and context, and the hyperparameter values to use. */
interface InnerStepInput {
  readonly state: OptState<HypergradientState>;
  readonly grads: TensorTree;
  readonly ctx: UpdateContext | undefined;
  readonly hyperparams: { [name: string]: tf.Scalar };
}

/** Inner step of the closed-form learning rate: the unit-learning-rate update `d`, scaled by lr; keeps `d`. */
function directionStep(plan: HyperPlan, { state, grads, ctx, hyperparams }: InnerStepInput): InnerStep {
  const s = state.state;
  const lr = hyperparams.learningRate as tf.Scalar;
  const out = plan.injected.transformation.update(grads, { ...s.inner, hyperparams: { ...hyperparams, learningRate: tf.scalar(1, 'float32') } }, state.params, ctx);
  return {
    params: treeMap((p, d) => tf.add(p, tf.mul(d, lr)), state.params, out.updates),
    inner: { ...out.state, hyperparams: { ...out.state.hyperparams, learningRate: lr } },
    prev: { direction: out.updates },
  };
}

/** Inner step of closed-form Adam: the plain optimizer rebuilt with the current values as numbers (fused kernel). */
function numericStep(rebuild: (values: Record<string, number>) => Optimizer<unknown>, { state, grads, ctx, hyperparams }: InnerStepInput, count: number): InnerStep {
  const hnames = Object.keys(hyperparams).sort();
  const vals = tf.stack(hnames.map((n) => hyperparams[n] as tf.Scalar)).dataSync();
  const values: Record<string, number> = {};
  hnames.forEach((n, i) => (values[n] = vals[i] as number));
  let stepOpt: Optimizer<unknown>;
  try {
    stepOpt = rebuild(values);
  } catch (e) {
    const option = e instanceof LoptError ? e.option : undefined;
    throw new LoptError(
      'INVALID_OPTION',
      `hypergradient: the tuned '${option ?? '?'}' left its valid range (${option === undefined ? '?' : values[option]}) at step ${count}; ` +
        'tune it in its default space (log / unit) or lower the hyper-step size.',
      option === undefined ? {} : { option },
    );
  }
  const out = stepOpt.update({ params: state.params, state: state.state.inner.inner, iteration: count }, grads, ctx);
  return {
    params: out.params,
    inner: { count: counter(count + 1), hyperparams, inner: out.state as TensorTree },
    prev: { params: state.params, grads: treeMap((g) => tf.clone(g), grads) },
  };
}

/** Inner step of the injected optimizer with tensor hyperparameters; keeps the previous params and gradients (and state, for autodiff). */
function injectedStep(plan: HyperPlan, { state, grads, ctx, hyperparams }: InnerStepInput): InnerStep {
  const s = state.state;
  const out = plan.injected.transformation.update(grads, { ...s.inner, hyperparams }, state.params, ctx);
  const kept = { params: state.params, grads: treeMap((g) => tf.clone(g), grads) };
  return {
    params: treeMap((p, u) => tf.add(p, u), state.params, out.updates),
    inner: out.state,
    prev: plan.kind === 'adam' ? kept : { ...kept, inner: s.inner.inner },
  };
}

/** The recorded trajectory of tower level `level` (0: this optimizer's tuned values). */
function towerTrajectory(plan: HyperPlan, state: OptState<HypergradientState>, level: number): HyperparamTrajectory {
  if (level > 0) {
    const h = plan.hyperOptimizer as Partial<SelfTuningOptimizer<unknown>>;
    if (typeof h.trajectory !== 'function') {
      throw new LoptError('INVALID_OPTION', `Level ${level} of the tower is not a self-tuning optimizer.`, { option: 'level' });
    }
    const count = readCount(state.state.count);
    const inner = h.trajectory({ params: state.state.hyper.params, state: state.state.hyper.state, iteration: Math.max(count - 1, 0) }, { level: level - 1 });
    return { ...inner, steps: inner.steps.map((t) => t + 1) };
  }
  if (state.state.trajectory === undefined) {
    throw new LoptError('INVALID_OPTION', 'This hypergradient optimizer keeps no trajectory (trajectoryLength: 0).', {
      option: 'trajectoryLength',
    });
  }
  return readTrajectoryBuffer(state.state.trajectory, readCount(state.state.count), plan.names);
}

/** dL_t/dx through the previous update, for every tuned name. */
function computeHypergradient(plan: HyperPlan, s: HypergradientState, grads: TensorTree, count: number): { [name: string]: tf.Scalar } {
  const { names, spaces, kind } = plan;
  const x = s.hyper.params;
  const out: { [name: string]: tf.Scalar } = {};
  if (kind === 'direction') {
    const prev = s.prev as { direction: TensorTree };
    // dL/dlr = g_t . d_{t-1}, d the unit-learning-rate update.
    out.learningRate = tf.mul(vdot(grads, prev.direction), spaceDerivative(spaces.learningRate as HyperSpace, x.learningRate as tf.Scalar)) as tf.Scalar;
    return out;
  }
  if (kind === 'adam') {
    const d = adamHypergradient(s.prev as { params: TensorTree; grads: TensorTree }, s.inner.inner, grads, s.inner.hyperparams, count, names);
    for (const n of names) out[n] = tf.mul(d[n] as tf.Scalar, spaceDerivative(spaces[n] as HyperSpace, x[n] as tf.Scalar)) as tf.Scalar;
    return out;
  }
  const prev = s.prev as { params: TensorTree; grads: TensorTree; inner: TensorTree };
  const f = (...xs: tf.Tensor[]): tf.Scalar => {
    const hyperparams = { ...s.inner.hyperparams };
    names.forEach((n, i) => (hyperparams[n] = toConstrained(spaces[n] as HyperSpace, xs[i] as tf.Scalar)));
    const rerun = plan.injected.transformation.update(prev.grads, { count: counter(count - 1), hyperparams, inner: prev.inner }, prev.params);
    // 0 * sum(x) keeps every x connected to the output (a hyperparameter the update does
    // not depend on gets a zero hypergradient instead of an error).
    return tf.add(vdot(grads, rerun.updates), tf.mul(0, tf.addN(xs.map((t) => tf.reshape(t, []))))) as tf.Scalar;
  };
  const gs = tf.grads(f)(names.map((n) => x[n] as tf.Scalar));
  names.forEach((n, i) => (out[n] = gs[i] as tf.Scalar));
  return out;
}

/** Sum over leaves of `sum(a * b)`, as a scalar. */
function vdot(a: TensorTree, b: TensorTree): tf.Scalar {
  const la = treeLeaves(a);
  const lb = treeLeaves(b);
  const parts = la.map((t, i) => tf.sum(tf.mul(t, lb[i] as tf.Tensor)));
  return (parts.length === 0 ? tf.scalar(0) : parts.length === 1 ? parts[0] : tf.addN(parts)) as tf.Scalar;
}

/** Reads a self-tuning optimizer's recorded hyperparameter trajectory (see {@link SelfTuningOptimizer.trajectory}). */
export function readTrajectory<S>(opt: SelfTuningOptimizer<S>, state: OptState<S>, options: TrajectoryOptions = {}): HyperparamTrajectory {
  return opt.trajectory(state, options);
}

/** `d map(x) / dx` of a space. */
function spaceDerivative(space: HyperSpace, x: tf.Scalar): tf.Scalar {
  switch (space) {
    case 'raw':
      return tf.onesLike(x);
    case 'log':
      return tf.exp(x);
    case 'unit':
      return tf.div(tf.sub(1, tf.square(tf.tanh(x))), 2) as tf.Scalar;
  }
}

/**
 * Closed-form hypergradients (in value space) of Adam/AdamW's previous update
 * `u = -lr (m^ / (sqrt(v^ + er) + eps) + wd p)` with the past moments detached, dotted with
 * the current gradient g. With `m, v` the moments after that update (the current state),
 * `g_p` its gradient, `m_p - g_p = (m - g_p) / beta1` and `v_p - g_p^2 = (v - g_p^2) / beta2`:
 * - `dL/dlr = -g . (m^ / den + wd p)`;
 * - `dL/dbeta1 = -lr g . (dm^/dbeta1) / den`, `dm^/dbeta1 = (m_p - g_p) / bc1 + m t beta1^(t-1) / bc1^2`;
 * - `dL/dbeta2 = lr g . m^ (dv^/dbeta2) / (2 s den^2)`, `dv^/dbeta2 = (v_p - g_p^2) / bc2 + v t beta2^(t-1) / bc2^2`;
 * with `s = sqrt(v^ + er)`, `den = s + eps`, `bc = 1 - beta^t`, t the previous step (1-based).
 * Reads the moments from the first entry of the chain state (`scaleByAdam`'s `{ count, mu, nu }`).
 */
function adamHypergradient(
  prev: { params: TensorTree; grads: TensorTree },
  current: TensorTree,
  grads: TensorTree,
  hyper: { [name: string]: tf.Scalar },
  t: number,
  names: readonly string[],
): { [name: string]: tf.Scalar } {
  const adamState = (current as TensorTree[])[0] as { mu: TensorTree; nu: TensorTree };
  const get = (n: string, fallback: number): tf.Scalar => hyper[n] ?? tf.scalar(fallback, 'float32');
  const lr = get('learningRate', 0);
  const b1 = get('beta1', 0.9);
  const b2 = get('beta2', 0.999);
  const eps = get('epsilon', 1e-8);
  const er = get('epsilonRoot', 0);
  const wd = hyper.weightDecay;
  const bc1 = tf.sub(1, tf.pow(b1, t));
  const bc2 = tf.sub(1, tf.pow(b2, t));
  const inv1 = tf.div(1, bc1);
  const inv2 = tf.div(1, bc2);
  // dm^/dbeta1 = (m - g_p) c1 + m c2 = m c12 - g_p c1; dv^/dbeta2 = v c34 - g_p^2 c3
  const c1 = tf.div(inv1, b1);
  const c12 = tf.add(c1, tf.mul(tf.mul(t, tf.pow(b1, t - 1)), tf.square(inv1)));
  const c3 = tf.div(inv2, b2);
  const c34 = tf.add(c3, tf.mul(tf.mul(t, tf.pow(b2, t - 1)), tf.square(inv2)));
  const want = new Set(names);
  const g = treeLeaves(grads);
  const gp = treeLeaves(prev.grads);
  const pp = treeLeaves(prev.params);
  const ms = treeLeaves(adamState.mu);
  const vs = treeLeaves(adamState.nu);
  // Per leaf, with a = g / den and m^ = m / bc1 (the 1/bc1 kept in the scalars):
  // sum(a m^) = S_am / bc1; sum(a dm^/dbeta1) = c12 S_am - c1 sum(a g_p);
  // sum(a m^ dv^/dbeta2 / (s den)) = (c34 sum(q v) - c3 sum(q g_p^2)) / bc1 with q = a m / (s den).
  const lrParts: tf.Tensor[] = [];
  const b1Parts: tf.Tensor[] = [];
  const b2Parts: tf.Tensor[] = [];
  g.forEach((gi, i) => {
    const gpi = gp[i] as tf.Tensor;
    const m = ms[i] as tf.Tensor;
    const v = vs[i] as tf.Tensor;
    const sroot = tf.sqrt(tf.add(tf.mul(v, inv2), er));
    const den = tf.add(sroot, eps);
    const a = tf.div(gi, den);
    const am = tf.mul(a, m);
    const sAm = tf.sum(am);
    if (want.has('learningRate')) {
      const dir = tf.mul(inv1, sAm);
      lrParts.push(wd === undefined ? dir : tf.add(dir, tf.mul(wd, tf.sum(tf.mul(gi, pp[i] as tf.Tensor)))));
    }
    if (want.has('beta1')) b1Parts.push(tf.sub(tf.mul(c12, sAm), tf.mul(c1, tf.sum(tf.mul(a, gpi)))));
    if (want.has('beta2')) {
      const q = tf.div(am, tf.mul(sroot, den));
      b2Parts.push(tf.sub(tf.mul(c34, tf.sum(tf.mul(q, v))), tf.mul(c3, tf.sum(tf.mul(q, tf.square(gpi))))));
    }
  });
  const total = (parts: tf.Tensor[]) => (parts.length === 1 ? parts[0] : tf.addN(parts)) as tf.Scalar;
  const out: { [name: string]: tf.Scalar } = {};
  if (want.has('learningRate')) out.learningRate = tf.neg(total(lrParts)) as tf.Scalar;
  if (want.has('beta1')) out.beta1 = tf.neg(tf.mul(lr, total(b1Parts))) as tf.Scalar;
  if (want.has('beta2')) out.beta2 = tf.mul(tf.mul(tf.mul(0.5, lr), inv1), total(b2Parts)) as tf.Scalar;
  return out;
}
