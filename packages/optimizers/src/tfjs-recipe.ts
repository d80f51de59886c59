import type * as tf from '@tensorflow/tfjs-core';
import { LoptError, create, has, type LearnedOptimizer, type Optimizer } from '@lopt/core';

/**
 * How a {@link LoptTfjsOptimizer} is rebuilt when a tfjs-layers model is loaded: a name in the
 * `@lopt/core` registry (`kind` `optimizer` or `learned-optimizer`) and the JSON options its
 * factory gets. A learned optimizer's meta-parameters (theta) travel in the optimizer weights.
 */
export interface TfjsOptimizerRecipe {
  /** The registry kind the spec is registered under. */
  readonly kind: 'optimizer' | 'learned-optimizer';
  /** The registered name, e.g. `adam` or `nnAdam`. */
  readonly spec: string;
  /** JSON options passed to the registered factory. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** Version of the recipe stored in a saved model's `optimizer_config`. */
const RECIPE_VERSION = 1;

/** A JSON copy of `value` (undefined entries dropped), or undefined when it holds anything JSON cannot carry exactly. */
function jsonCopy(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (Array.isArray(value)) {
    const items = value.map(jsonCopy);
    return items.every((v, i) => v !== undefined || value[i] === undefined) ? items : undefined;
  }
  if (typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined) continue;
    const copy = jsonCopy(v);
    if (copy === undefined) return undefined;
    out[k] = copy;
  }
  return out;
}

function configOf(x: { config?: unknown }): Record<string, unknown> | undefined {
  const copy = x.config === undefined ? undefined : jsonCopy(x.config);
  return copy !== undefined && typeof copy === 'object' && !Array.isArray(copy) && copy !== null ? (copy as Record<string, unknown>) : undefined;
}

/**
 * The recipe of a lopt optimizer when it can be rebuilt exactly: its `name` is a registered
 * optimizer, its `config` is plain JSON, and the registry's factory given that config builds an
 * optimizer with the same config. Otherwise a sentence saying why not.
 */
export function inferOptimizerRecipe(opt: Optimizer<unknown>): TfjsOptimizerRecipe | string {
  if (!has('optimizer', opt.name)) return `no optimizer named '${opt.name}' is registered (call registerAll() from @lopt/optimizers first)`;
  const omits = (opt as { configOmits?: readonly string[] }).configOmits ?? [];
  if (omits.length > 0) return `its option${omits.length > 1 ? 's' : ''} ${omits.map((k) => `'${k}'`).join(', ')} cannot be stored as JSON (a schedule, a mask or a tensor)`;
  const options = configOf(opt as { config?: unknown });
  if (options === undefined) return `its config is not plain JSON`;
  let rebuilt: Record<string, unknown> | undefined;
  try {
    rebuilt = configOf(create('optimizer', opt.name, options) as { config?: unknown });
  } catch (e) {
    return `the registered '${opt.name}' rejects its config (${(e as Error).message})`;
  }
  return JSON.stringify(rebuilt) === JSON.stringify(options) ? { kind: 'optimizer', spec: opt.name, options } : `the registered '${opt.name}' given its config builds a different optimizer`;
}

/** The recipe of a registered learned-optimizer architecture (its JSON `config`), or a sentence saying why there is none. */
export function inferLearnedRecipe(learned: LearnedOptimizer): TfjsOptimizerRecipe | string {
  if (!has('learned-optimizer', learned.name)) return `no learned optimizer named '${learned.name}' is registered (call registerAll() from @lopt/learned first)`;
  const options = configOf(learned);
  return options === undefined ? 'its config is not plain JSON' : { kind: 'learned-optimizer', spec: learned.name, options };
}

/**
 * The `getConfig()` of a lopt tfjs optimizer: readable top-level fields (`name` and the numeric
 * options), plus the exact recipe as JSON in `lopt.name`. tfjs-layers camel-cases every key and
 * string value of a loaded `optimizer_config` except string values under a `name` key, so the
 * recipe lives there to survive the round trip unchanged.
 */
export function encodeRecipe(name: string, recipe: TfjsOptimizerRecipe): tf.serialization.ConfigDict {
  const out: tf.serialization.ConfigDict = { name };
  for (const [k, v] of Object.entries(recipe.options)) {
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') out[k] = v;
  }
  out['lopt'] = { name: JSON.stringify({ version: RECIPE_VERSION, ...recipe }) };
  return out;
}

function invalid(message: string): LoptError {
  return new LoptError('CHECKPOINT_INVALID', `Saved optimizer_config of LoptOptimizer: ${message}`, { path: 'optimizer_config.config.lopt' });
}

/** Reads the recipe back from a loaded `optimizer_config` (see {@link encodeRecipe}); throws `LoptError` naming what is wrong. */
export function decodeRecipe(config: tf.serialization.ConfigDict): TfjsOptimizerRecipe {
  const holder = config['lopt'] as { name?: unknown } | undefined;
  if (typeof holder?.name !== 'string') throw invalid('it has no lopt recipe (was it saved by @lopt/optimizers 0.1 or edited?).');
  let parsed: unknown;
  try {
    parsed = JSON.parse(holder.name);
  } catch {
    throw invalid('the recipe is not valid JSON.');
  }
  const r = parsed as Partial<TfjsOptimizerRecipe> & { version?: unknown };
  if (r.version !== RECIPE_VERSION) throw invalid(`recipe version ${String(r.version)} is not ${RECIPE_VERSION}.`);
  if (r.kind !== 'optimizer' && r.kind !== 'learned-optimizer') throw invalid(`kind ${JSON.stringify(r.kind)} is not 'optimizer' or 'learned-optimizer'.`);
  if (typeof r.spec !== 'string') throw invalid('spec is not a string.');
  if (typeof r.options !== 'object' || r.options === null || Array.isArray(r.options)) throw invalid('options is not an object.');
  return { kind: r.kind, spec: r.spec, options: r.options };
}

/** Builds what a recipe names through the `@lopt/core` registry, saying which `registerAll()` is missing when the name is unknown. */
export function buildFromRecipe(recipe: TfjsOptimizerRecipe): Optimizer<unknown> | LearnedOptimizer {
  if (!has(recipe.kind, recipe.spec)) {
    const pkg = recipe.kind === 'optimizer' ? '@lopt/optimizers' : '@lopt/learned';
    throw new LoptError(
      'UNKNOWN_NAME',
      `The saved model's optimizer is the ${recipe.kind} '${recipe.spec}', which is not registered: call registerAll() from ${pkg} (or register your own '${recipe.spec}') before tf.loadLayersModel.`,
      { option: recipe.kind },
    );
  }
  return create(recipe.kind, recipe.spec, recipe.options) as Optimizer<unknown> | LearnedOptimizer;
}
