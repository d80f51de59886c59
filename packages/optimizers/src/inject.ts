import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, isTensor, type OptState, type TensorTree } from '@lopt/core';
import { counter, evalSchedule, readCount, type Schedule } from './hyper.js';
import { optimizerFrom, type TransformationOptimizer } from './transformation.js';

/**
 * State of an optimizer built by {@link injectHyperparams}:
 * - `count`: number of updates so far (int32 scalar), the step schedules are evaluated at;
 * - `hyperparams`: one float32 scalar tensor per injected hyperparameter. A number-valued
 *   one holds the value the next update uses; a scheduled one is re-evaluated at each
 *   update and holds the value the last update used (the schedule at step 0 after `init`);
 * - `inner`: the wrapped optimizer's transformation state.
 */
export type InjectHyperparamsState = { count: tf.Scalar; hyperparams: { [name: string]: tf.Scalar }; inner: TensorTree };

/** Options of {@link injectHyperparams}. */
export interface InjectHyperparamsOptions {
  /**
   * Numeric options to pass through unchanged instead of injecting (for options used on
   * the host, such as `threshold` or integer sizes). A built-in list of such options
   * (`initialScale`, `initialAccumulatorValue`, `threshold`, `decayRate`, `decayOffset`,
   * `minDimSizeToFactor`, `stepOffset`, `clippingThreshold`, `epsilon` of `adafactor`) is
   * always static.
   */
  readonly staticArgs?: readonly string[];
}

/** Options that are used on the host by the built-in optimizers and so are never injected. */
const ALWAYS_STATIC = ['initialScale', 'initialAccumulatorValue', 'threshold', 'decayRate', 'decayOffset', 'minDimSizeToFactor', 'stepOffset', 'clippingThreshold'];

/** Options the named built-in optimizers use on the host, so they stay static. */
const STATIC_BY_NAME: Record<string, readonly string[]> = { adafactor: ['epsilon'], radam: ['beta2'] };

/** An optimizer built by {@link injectHyperparams}. */
export interface InjectedOptimizer extends TransformationOptimizer<InjectHyperparamsState> {
  /** Names of the injected hyperparameters (sorted). */
  readonly hyperparamNames: readonly string[];
  /** Checks hyperparameter values with the wrapped factory's validation; throws `LoptError` naming the option. */
  validateHyperparams(values: Readonly<Record<string, number>>): void;
}

/** An optimizer factory whose options may carry tensors for injected hyperparameters. */
export type OptimizerFactory<O> = (options: O) => TransformationOptimizer<unknown>;

/**
 * Wraps an optimizer factory so that its numeric hyperparameters live **in the optimizer
 * state** as float32 scalar tensors (optax `inject_hyperparams`). This is the hook for
 * hyperparameter control and meta-learning:
 *
 * - Every option given as a number becomes `state.state.hyperparams[name]`; every option
 *   given as a schedule `(step) => number` is evaluated at each update (at the number of
 *   previous updates) and its value written to `hyperparams[name]` before it is used.
 *   Booleans, strings, masks and the options in `staticArgs` pass through unchanged.
 * - Each update rebuilds the inner optimizer with the hyperparameter **tensors** and runs
 *   its transformation on `state.state.inner`. So the result equals the plain optimizer
 *   (test: `injectHyperparams(adam)(o)` matches `adam(o)`), and the update is a
 *   differentiable function of the hyperparameter tensors: `tf.grad` through `update`
 *   with respect to `hyperparams.learningRate` gives a hypergradient.
 * - To change a hyperparameter between steps, replace its tensor in the state with
 *   {@link setHyperparams} (validated by the factory); read values with {@link getHyperparams}.
 *   A value set for a scheduled hyperparameter is overwritten by the schedule at the next update.
 *
 * The state is a plain tensor tree, so it checkpoints with `serializeTree` like any other.
 *
 * @example
 * ```ts
 * const opt = injectHyperparams(adam)({ learningRate: 1e-3, beta1: 0.9 });
 * let state = opt.init(params);
 * state = advance(opt, state, grads);
 * const next = setHyperparams(opt, state, { learningRate: 5e-4 });  // old lr tensor is yours to dispose
 * ```
 */
export function injectHyperparams<O extends object>(
  factory: (options: O) => TransformationOptimizer<unknown>,
  injectOptions: InjectHyperparamsOptions = {},
): (options?: O) => InjectedOptimizer {
  if (typeof factory !== 'function') {
    throw new LoptError('INVALID_OPTION', 'injectHyperparams needs an optimizer factory such as adam.', { option: 'factory' });
  }
  const staticArgs = new Set([...ALWAYS_STATIC, ...(injectOptions.staticArgs ?? [])]);
  return (options?: O) => {
    const opts = (options ?? {}) as Record<string, unknown>;
    // Validate once with the plain options (ranges, unknown names).
    const plain = factory(opts as O);
    const numeric: Record<string, number> = {};
    const schedules: Record<string, Schedule> = {};
    const passthrough: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(opts)) {
      if (typeof v === 'number' && !staticArgs.has(k)) numeric[k] = v;
      else if (typeof v === 'function' && !staticArgs.has(k)) schedules[k] = v as Schedule;
      else passthrough[k] = v;
    }
    for (const k of STATIC_BY_NAME[plain.name] ?? []) {
      if (k in numeric) {
        passthrough[k] = numeric[k];
        delete numeric[k];
      }
    }
    const names = [...Object.keys(numeric), ...Object.keys(schedules)].sort();
    const build = (hyper: { [name: string]: tf.Scalar }) => factory({ ...passthrough, ...hyper } as O);
    const initialValues = (step: number): Record<string, number> => {
      const out: Record<string, number> = { ...numeric };
      for (const [k, s] of Object.entries(schedules)) out[k] = evalSchedule(k, s, step);
      return out;
    };
    const toTensors = (values: Record<string, number>) => {
      const out: { [name: string]: tf.Scalar } = {};
      for (const k of names) out[k] = tf.scalar(values[k] as number, 'float32');
      return out;
    };
    const tx = {
      init(params: TensorTree): InjectHyperparamsState {
        const hyperparams = toTensors(initialValues(0));
        return { count: counter(0), hyperparams, inner: build(hyperparams).transformation.init(params) as TensorTree };
      },
      update(updates: TensorTree, state: InjectHyperparamsState, params: TensorTree, ctx?: Parameters<TransformationOptimizer['update']>[2]) {
        const step = readCount(state.count);
        const hyperparams: { [name: string]: tf.Scalar } = {};
        for (const k of names) {
          const s = schedules[k];
          const current = state.hyperparams[k];
          if (s) hyperparams[k] = tf.scalar(evalSchedule(k, s, step), 'float32');
          else if (current === undefined || !isTensor(current)) {
            throw new LoptError('TREE_MISMATCH', `Injected hyperparameter '${k}' is missing from the state.`, { path: `hyperparams.${k}` });
          } else hyperparams[k] = current;
        }
        const out = build(hyperparams).transformation.update(updates, state.inner, params, ctx);
        return { updates: out.updates, state: { count: counter(step + 1), hyperparams, inner: out.state as TensorTree } };
      },
    };
    const opt = optimizerFrom(tx, plain.name, { config: { ...plain.config, injected: names } });
    return {
      ...opt,
      hyperparamNames: names,
      validateHyperparams(values: Readonly<Record<string, number>>) {
        for (const k of Object.keys(values)) {
          if (!names.includes(k)) {
            throw new LoptError('INVALID_OPTION', `'${k}' is not an injected hyperparameter; injected: ${names.join(', ')}.`, { option: k });
          }
        }
        factory({ ...passthrough, ...numeric, ...values } as O);
      },
    };
  };
}

/** The current hyperparameter values of an {@link injectHyperparams} state, as numbers. */
export function getHyperparams(state: OptState<InjectHyperparamsState>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, t] of Object.entries(state.state.hyperparams)) out[k] = (t.dataSync() as ArrayLike<number>)[0] as number;
  return out;
}

/**
 * Returns a new state with some injected hyperparameters replaced (new scalar tensors);
 * the given state is not modified or disposed (the replaced tensors remain the caller's).
 * Values are validated by the wrapped factory: unknown names and out-of-range or
 * non-finite values throw `LoptError('INVALID_OPTION')` naming the option.
 */
export function setHyperparams(
  opt: InjectedOptimizer,
  state: OptState<InjectHyperparamsState>,
  values: Readonly<Record<string, number>>,
): OptState<InjectHyperparamsState> {
  opt.validateHyperparams(values);
  const hyperparams = { ...state.state.hyperparams };
  for (const [k, v] of Object.entries(values)) hyperparams[k] = tf.scalar(checkNumber(k, v), 'float32');
  return { ...state, state: { ...state.state, hyperparams } };
}
