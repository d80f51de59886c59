import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  assertSameStructure,
  requireBackend,
  treeMap,
  type GradientTransformation,
  type OptState,
  type Optimizer,
  type OptimizerInitOptions,
  type TensorTree,
  type UpdateContext,
  hasInitAndUpdate,
  tidy,
} from '@lopt/core';

/** The state of a stateless transformation: an empty tree (it serializes to nothing). */
export type EmptyState = { [name: string]: never };

/**
 * An {@link Optimizer} built from a {@link GradientTransformation} by {@link optimizerFrom}.
 * It keeps the transformation (so wrappers such as `injectHyperparams` and `masked` can
 * reuse it) and the JSON configuration it was built from.
 */
export interface TransformationOptimizer<S = TensorTree> extends Optimizer<S> {
  /** The transformation whose updates are added to the parameters. */
  readonly transformation: GradientTransformation<S>;
  /** The JSON-able options the optimizer was built with (schedules and tensors are omitted). */
  readonly config: Readonly<Record<string, unknown>>;
  /**
   * Names of options it was built with that `config` omits because JSON cannot carry them
   * (schedules, mask trees or predicates, tensors), sorted. Empty when `config` is complete,
   * which is when the registered factory rebuilds the optimizer from `config` alone.
   */
  readonly configOmits: readonly string[];
}

/** Options of {@link optimizerFrom}. */
export interface OptimizerFromOptions {
  /** JSON-able options to report as the optimizer's configuration. */
  readonly config?: Readonly<Record<string, unknown>>;
}

function jsonConfig(config: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config ?? {})) {
    if (v === undefined || typeof v === 'function' || (typeof v === 'object' && v !== null && !Array.isArray(v))) continue;
    out[k] = v;
  }
  return out;
}

/**
 * Turns a gradient transformation into an {@link Optimizer}: `init` builds the
 * transformation state, `update` checks that `grads` has the structure and shapes of the
 * parameters (`LoptError` `TREE_MISMATCH`/`SHAPE_MISMATCH` naming the path), transforms
 * them, and adds the result to the parameters (`params + updates`, as optax's
 * `apply_updates`). The math runs in `tf.tidy`; inputs are never mutated or disposed.
 *
 * @example
 * ```ts
 * const opt = optimizerFrom(chain(clipByGlobalNorm(1), scaleByAdam(), scaleByLearningRate(1e-3)), 'clippedAdam');
 * let state = opt.init(params);
 * state = advance(opt, state, grads);
 * ```
 */
export function optimizerFrom<S>(
  transformation: GradientTransformation<S>,
  name: string,
  options: OptimizerFromOptions = {},
): TransformationOptimizer<S> {
  if (!hasInitAndUpdate(transformation)) {
    throw new LoptError('INVALID_OPTION', "optimizerFrom needs a GradientTransformation with 'init' and 'update'.", {
      option: 'transformation',
    });
  }
  if (typeof name !== 'string' || name === '') {
    throw new LoptError('INVALID_OPTION', 'optimizerFrom needs a non-empty name.', { option: 'name' });
  }
  const config = Object.freeze(jsonConfig(options.config));
  const configOmits = Object.freeze(
    Object.entries(options.config ?? {})
      .filter(([k, v]) => v !== undefined && !(k in config))
      .map(([k]) => k)
      .sort(),
  );
  return {
    name,
    transformation,
    config,
    configOmits,
    init(params: TensorTree, _opts?: OptimizerInitOptions): OptState<S> {
      requireBackend(`${name}.init`);
      const state = tidy<S>(() => transformation.init(params));
      return { params, state, iteration: 0 };
    },
    update(state: OptState<S>, grads: TensorTree, ctx?: UpdateContext): OptState<S> {
      assertSameStructure(state.params, grads, { names: ['params', 'grads'], checkShapes: true });
      return tidy<OptState<S>>(() => {
        const out = transformation.update(grads, state.state, state.params, ctx);
        const params = treeMap((p, u) => tf.add(p, u as tf.Tensor), state.params, out.updates);
        return { params, state: out.state, iteration: state.iteration + 1 };
      });
    },
  };
}

/** A transformation that returns the updates unchanged (optax `identity`). */
export function identity(): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update: (updates, state) => ({ updates, state }),
  };
}

/**
 * Applies transformations in order, each to the previous one's updates (optax `chain`).
 * The state is the array of the transformations' states, in order.
 *
 * @example
 * ```ts
 * const adamw = chain(scaleByAdam(), addDecayedWeights(1e-4), scaleByLearningRate(1e-3));
 * ```
 */
export function chain(...transformations: GradientTransformation<unknown>[]): GradientTransformation<TensorTree[]> {
  transformations.forEach((t, i) => {
    if (!hasInitAndUpdate(t)) {
      throw new LoptError('INVALID_OPTION', `chain: argument ${i} is not a GradientTransformation.`, {
        option: `transformations.${i}`,
      });
    }
  });
  return {
    init: (params) => transformations.map((t) => t.init(params) as TensorTree),
    update(updates, state, params, ctx) {
      if (!Array.isArray(state) || state.length !== transformations.length) {
        throw new LoptError(
          'TREE_MISMATCH',
          `chain: expected a state array of ${transformations.length} entries, got ${Array.isArray(state) ? state.length : typeof state}.`,
          { path: '<root>' },
        );
      }
      let u = updates;
      const next: TensorTree[] = [];
      transformations.forEach((t, i) => {
        const out = t.update(u, state[i], params, ctx);
        u = out.updates;
        next.push(out.state as TensorTree);
      });
      return { updates: u, state: next };
    },
  };
}
