import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  collectTensors,
  disposeReplaced,
  key,
  treeLeaves,
  treePaths,
  treeStructure,
  treeUnflatten,
  type LearnedOptimizer,
  type OptState,
  type Optimizer,
  type TensorTree,
  tidy,
} from '@lopt/core';
import { buildFromRecipe, decodeRecipe, encodeRecipe, inferLearnedRecipe, inferOptimizerRecipe, type TfjsOptimizerRecipe } from './tfjs-recipe.js';
import { THETA_PREFIX, misfit, pairSavedStates, parseSavedStates, restoredState, type SavedVariableState } from './tfjs-restore.js';

/** Marks state tensors as kept, so an enclosing `tf.tidy` (model.fit runs steps in one) does not dispose them. */
function keepAll(state: unknown): void {
  for (const t of collectTensors(state)) tf.keep(t);
}

type NamedTensor = { name: string; tensor: tf.Tensor };
type NamedTensorMap = { [name: string]: tf.Tensor };

function isOptimizer(x: unknown): x is Optimizer<unknown> {
  return typeof (x as Optimizer<unknown> | undefined)?.init === 'function' && typeof (x as Optimizer<unknown>).update === 'function';
}
function isLearned(x: unknown): x is LearnedOptimizer {
  return typeof (x as LearnedOptimizer | undefined)?.init === 'function' && typeof (x as LearnedOptimizer).optimizer === 'function';
}

/** Copies theta (kept, owned by the tfjs optimizer). */
function ownTheta(theta: TensorTree): TensorTree {
  return treeUnflatten(treeStructure(theta), treeLeaves(theta).map((t) => tf.keep(tf.clone(t))));
}

/** What a {@link LoptTfjsOptimizer} wraps: a lopt optimizer, or a learned optimizer and its theta. */
export type TfjsOptimizerSource = Optimizer<unknown> | { readonly learned: LearnedOptimizer; readonly theta: TensorTree };

/**
 * A `tf.Optimizer` that runs a lopt {@link Optimizer}, made by {@link toTfjsOptimizer}.
 *
 * State is kept **per variable, keyed by the variable's name**: each variable gets its own
 * lopt state the first time a gradient for it arrives, so gradient maps in any key order
 * or with any subset of variables update the right moments (unlike the built-in tfjs
 * optimizers, which key slots by position, tfjs#8379). Transformations that couple leaves
 * (global-norm clipping, grafting) therefore act per variable here.
 *
 * `getWeights()` returns `[iter, ...]` (the tfjs convention: the iteration counter first),
 * then a learned optimizer's theta as `lopt.theta/<path>`, then for every variable (in the
 * order it was first updated) a `<variable>/iteration` int32 scalar and every state leaf
 * named `<variable>/<state path>`. `setWeights` restores them; on the next `applyGradients`
 * each saved state goes to the variable of the same name (states of other registered variables
 * wait for their variables' first gradients), and states whose names match no variable being
 * optimized (a model loaded in the same process gets `_1`-suffixed names) are mapped by order
 * onto the variables without state when their number and shapes agree, as `tf.train.*` does;
 * otherwise it throws `LoptError('CHECKPOINT_MISMATCH')`.
 *
 * Save and load: `getConfig()` names the registry spec and options the optimizer was built
 * from, and the class is registered with tfjs serialization as `LoptOptimizer`, so
 * `model.save(handler, { includeOptimizer: true })` then `tf.loadLayersModel(handler)` rebuilds
 * it through the `@lopt/core` registry (call `registerAll()` of `@lopt/optimizers`, and of
 * `@lopt/learned` for learned optimizers, before loading). An optimizer that no registered
 * spec rebuilds exactly (a composition, a schedule) makes `getConfig()` throw a `LoptError`
 * saying how to make it saveable.
 */
export class LoptTfjsOptimizer extends tf.Optimizer {
  /** The class name tfjs serialization reports. */
  static get className(): string {
    return 'LoptOptimizer';
  }

  private lopt: Optimizer<unknown> | undefined;
  private readonly recipe: TfjsOptimizerRecipe | undefined;
  private readonly learned: LearnedOptimizer | undefined;
  private theta: TensorTree | undefined;
  private readonly states = new Map<string, OptState<unknown>>();
  private pending: SavedVariableState[] | undefined;
  private currentLoss: tf.Scalar | undefined;

  /**
   * Wraps `source` (see {@link toTfjsOptimizer}). `recipe` says how to rebuild it on load;
   * without one it is inferred when saving, from the optimizer's registered name and JSON config.
   */
  constructor(source: TfjsOptimizerSource, recipe?: TfjsOptimizerRecipe) {
    super();
    if (isOptimizer(source)) {
      this.lopt = source;
      this.recipe = recipe;
    } else if (isLearned((source as { learned?: unknown } | undefined)?.learned)) {
      const { learned, theta } = source as { learned: LearnedOptimizer; theta: TensorTree | undefined };
      this.learned = learned;
      this.recipe = recipe;
      if (theta === undefined && recipe !== undefined) return; // rebuilt by fromConfig: theta arrives with setWeights
      if (theta === undefined || treeLeaves(theta).length === 0) throw new LoptError('INVALID_OPTION', 'toTfjsOptimizer: theta has no tensors.', { option: 'theta' });
      this.theta = ownTheta(theta);
      this.lopt = learned.optimizer(this.theta);
    } else {
      throw new LoptError('INVALID_OPTION', 'toTfjsOptimizer needs a lopt Optimizer, a registered optimizer name, or { learned, theta }.', { option: 'optimizer' });
    }
  }

  /** Rebuilds a saved optimizer from its `getConfig()` through the `@lopt/core` registry (tfjs-layers calls this on load). */
  static override fromConfig<T extends tf.serialization.Serializable>(_cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T {
    const recipe = decodeRecipe(config);
    const built = buildFromRecipe(recipe);
    if (recipe.kind === 'optimizer') return new LoptTfjsOptimizer(built as Optimizer<unknown>, recipe) as unknown as T;
    // Its theta arrives with the optimizer weights (setWeights).
    return new LoptTfjsOptimizer({ learned: built as LearnedOptimizer } as unknown as TfjsOptimizerSource, recipe) as unknown as T;
  }

  /** The wrapped lopt optimizer. Throws while a learned optimizer loaded from a model still waits for its theta. */
  get optimizer(): Optimizer<unknown> {
    if (this.lopt === undefined) {
      throw new LoptError(
        'CHECKPOINT_MISMATCH',
        `Learned optimizer '${this.learned?.name}' was rebuilt from a saved config without its meta-parameters (theta). ` +
          'They travel in the optimizer weights: load the model with tf.loadLayersModel from artifacts saved with { includeOptimizer: true }, ' +
          'or compile with toTfjsOptimizer({ learned, theta }) (theta from loadLearnedOptimizer of its checkpoint).',
        { path: `${THETA_PREFIX}*` },
      );
    }
    return this.lopt;
  }

  /** Names of the variables this optimizer holds state for, in the order they were first updated. */
  get variableNames(): string[] {
    return [...this.states.keys()];
  }

  /** The lopt state of one variable (its `params` are not meaningful outside `applyGradients`). */
  stateOf(variableName: string): OptState<unknown> | undefined {
    return this.states.get(variableName);
  }

  /**
   * `tf.Optimizer.minimize`, but the loss value is also passed to the lopt optimizer as
   * `ctx.loss` (learned optimizers such as Celo read it), so `model.fit` can drive them.
   */
  override minimize(f: () => tf.Scalar, returnCost = false, varList?: tf.Variable[]): tf.Scalar | null {
    const { value, grads } = this.computeGradients(f, varList);
    this.currentLoss = value;
    try {
      this.applyGradients(grads);
    } finally {
      this.currentLoss = undefined;
      tf.dispose(Object.values(grads));
    }
    if (returnCost) return value;
    value.dispose();
    return null;
  }

  /** Applies one update to every variable named in `variableGradients` (a map or a list). */
  override applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
    const pairs = (Array.isArray(variableGradients) ? variableGradients.map((v) => [v.name, v.tensor] as const) : Object.entries(variableGradients)).filter(
      (p): p is readonly [string, tf.Tensor] => p[1] != null,
    );
    const variables = pairs.map(([name, grad]) => [name, this.checkedVariable(name, grad), grad] as const);
    this.bindPending(variables.map(([name]) => name).filter((name) => !this.states.has(name)));
    for (const [name, variable, grad] of variables) this.step(name, variable, grad);
    this.incrementIterations();
  }

  private checkedVariable(name: string, grad: tf.Tensor): tf.Variable {
    const variable = tf.engine().registeredVariables[name];
    if (!variable) {
      throw new LoptError('TREE_MISMATCH', `No variable named '${name}' is registered with the tfjs engine.`, { path: name });
    }
    if (!tf.util.arraysEqual(variable.shape, grad.shape)) {
      throw new LoptError('SHAPE_MISMATCH', `Gradient for '${name}' has shape [${grad.shape}] but the variable has [${variable.shape}].`, { path: name });
    }
    return variable;
  }

  /** The optimizer's initial state for a variable (a template for restoring; the caller disposes it). */
  private template(name: string): TensorTree {
    const variable = tf.engine().registeredVariables[name] as tf.Variable;
    return tidy(() => this.optimizer.init({ [name]: variable }).state as TensorTree);
  }

  /** Attaches states restored by `setWeights` to the variables now being optimized (see the class docs). */
  private bindPending(names: readonly string[]): void {
    if (this.pending === undefined) return;
    const templates = new Map<string, TensorTree>();
    const templateOf = (n: string): TensorTree => templates.get(n) ?? (templates.set(n, this.template(n)).get(n) as TensorTree);
    try {
      const { pairs, later } = pairSavedStates(this.pending, names, templateOf);
      for (const [name, saved] of pairs) {
        const why = misfit(saved, templateOf(name));
        if (why !== undefined) throw new LoptError('CHECKPOINT_MISMATCH', `Restored optimizer state for '${name}' does not fit it: ${why}.`, { path: name });
      }
      for (const [name, saved] of pairs) this.states.set(name, restoredState(saved, templateOf(name)));
      for (const saved of pairs.values()) tf.dispose(saved.leaves.map((w) => w.tensor));
      this.pending = later.length > 0 ? later : undefined;
    } finally {
      for (const t of templates.values()) tf.dispose(treeLeaves(t));
    }
  }

  private step(name: string, variable: tf.Variable, grad: tf.Tensor): void {
    const opt = this.optimizer;
    let old = this.states.get(name);
    if (!old) {
      const init = tidy<{ state: unknown; iteration: number }>(() => {
        const s = opt.init({ [name]: variable });
        return { state: s.state, iteration: s.iteration };
      });
      keepAll(init.state);
      old = { params: {}, state: init.state, iteration: init.iteration };
    }
    const prev = old;
    const nextState = tidy<{ state: unknown; iteration: number }>(() => {
      const ctx = this.currentLoss === undefined ? undefined : { loss: this.currentLoss };
      const next = opt.update({ params: { [name]: variable }, state: prev.state, iteration: prev.iteration }, { [name]: grad }, ctx);
      const value = (next.params as Record<string, tf.Tensor>)[name];
      if (!value) throw new LoptError('INTERNAL', `Optimizer '${opt.name}' returned no parameter '${name}'.`);
      if (value !== variable) variable.assign(value);
      return { state: next.state, iteration: next.iteration };
    });
    keepAll(nextState.state);
    disposeReplaced(prev.state, nextState.state);
    this.states.set(name, { params: {}, state: nextState.state, iteration: nextState.iteration });
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [await this.saveIterations()];
    if (this.theta !== undefined) {
      const paths = treePaths(this.theta);
      treeLeaves(this.theta).forEach((t, i) => out.push({ name: `${THETA_PREFIX}${paths[i]}`, tensor: t }));
    }
    for (const [name, s] of this.states) {
      out.push({ name: `${name}/iteration`, tensor: tf.scalar(s.iteration, 'int32') });
      const tree = s.state as TensorTree;
      const paths = treePaths(tree);
      treeLeaves(tree).forEach((t, i) => out.push({ name: `${name}/${paths[i]}`, tensor: t }));
    }
    for (const saved of this.pending ?? []) {
      out.push({ name: `${saved.name}/iteration`, tensor: tf.scalar(saved.iteration, 'int32') }, ...saved.leaves);
    }
    return out;
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const theta = rest.filter((w) => w.name.startsWith(THETA_PREFIX));
    const saved = await parseSavedStates(rest.filter((w) => !w.name.startsWith(THETA_PREFIX)));
    if (this.learned !== undefined && (theta.length > 0 || this.theta === undefined)) this.restoreTheta(theta);
    const kept = saved.map((g) => ({ ...g, leaves: g.leaves.map((w) => ({ name: w.name, tensor: tf.keep(tf.clone(w.tensor)) })) }));
    this.disposeStates();
    this.pending = kept;
  }

  /** Rebuilds a learned optimizer's theta from `lopt.theta/<path>` weights, checked against the architecture's own theta. */
  private restoreTheta(weights: readonly NamedTensor[]): void {
    const learned = this.learned as LearnedOptimizer;
    const template = tidy((): TensorTree => learned.init(key(0)));
    try {
      const byName = new Map(weights.map((w) => [w.name.slice(THETA_PREFIX.length), w.tensor]));
      const paths = treePaths(template);
      const leaves = treeLeaves(template).map((like, i) => {
        const t = byName.get(paths[i]!);
        if (t === undefined || !tf.util.arraysEqual(t.shape, like.shape)) {
          const got = t === undefined ? 'is missing' : `is [${t.shape.join(', ')}], expected [${like.shape.join(', ')}]`;
          throw new LoptError('CHECKPOINT_MISMATCH', `Theta of learned optimizer '${learned.name}': weight '${THETA_PREFIX}${paths[i]}' ${got}.`, { path: `${THETA_PREFIX}${paths[i]}` });
        }
        return t;
      });
      if (byName.size !== leaves.length) {
        const extra = [...byName.keys()].find((p) => !paths.includes(p));
        throw new LoptError('CHECKPOINT_MISMATCH', `Theta of learned optimizer '${learned.name}': weight '${THETA_PREFIX}${extra}' is not part of its theta.`, { path: `${THETA_PREFIX}${extra}` });
      }
      const theta = ownTheta(treeUnflatten(treeStructure(template), leaves));
      if (this.theta !== undefined) tf.dispose(treeLeaves(this.theta));
      this.theta = theta;
      this.lopt = learned.optimizer(theta);
    } finally {
      tf.dispose(treeLeaves(template));
    }
  }

  override getConfig(): tf.serialization.ConfigDict {
    const name = this.learned?.name ?? this.optimizer.name;
    const recipe = this.recipe ?? (this.learned !== undefined ? inferLearnedRecipe(this.learned) : inferOptimizerRecipe(this.optimizer));
    if (typeof recipe === 'string') {
      throw new LoptError(
        'INVALID_OPTION',
        `Optimizer '${name}' cannot be saved with a model: ${recipe}. ` +
          "Build it from a registered name and JSON options, e.g. toTfjsOptimizer('adam', { learningRate: 1e-3 }), register a factory for it, or save with { includeOptimizer: false }.",
        { option: 'optimizer' },
      );
    }
    return encodeRecipe(name, recipe);
  }

  override dispose(): void {
    this.disposeStates();
    if (this.theta !== undefined) tf.dispose(treeLeaves(this.theta));
    this.theta = undefined;
    super.dispose();
  }

  private disposePending(): void {
    for (const saved of this.pending ?? []) tf.dispose(saved.leaves.map((w) => w.tensor));
    this.pending = undefined;
  }

  private disposeStates(): void {
    for (const s of this.states.values()) tf.dispose(treeLeaves(s.state as TensorTree));
    this.states.clear();
    this.disposePending();
  }
}

/** Registers {@link LoptTfjsOptimizer} with tfjs serialization as `LoptOptimizer` (idempotent), so `tf.loadLayersModel` finds it. */
export function registerTfjsOptimizer(): void {
  tf.serialization.registerClass(LoptTfjsOptimizer);
}

/**
 * Wraps a lopt optimizer as a `tf.Optimizer`, so it drops into `model.compile({ optimizer })`
 * and `model.fit` of `@tensorflow/tfjs-layers`, and into `optimizer.minimize(f)`. Give it a lopt
 * optimizer, a registered optimizer name and options (`toTfjsOptimizer('adam', { learningRate:
 * 1e-3 })`, resolved through the `@lopt/core` registry), or a learned optimizer and its theta
 * (`{ learned, theta }`; theta is copied and saved with the optimizer weights). Also registers
 * the class with tfjs serialization. See {@link LoptTfjsOptimizer} for how state is kept and saved.
 *
 * @example
 * ```ts
 * model.compile({ optimizer: toTfjsOptimizer(adamw({ learningRate: 1e-3 })), loss: 'meanSquaredError' });
 * await model.fit(xs, ys, { epochs: 10 });
 * ```
 */
export function toTfjsOptimizer(source: TfjsOptimizerSource | string, options: Readonly<Record<string, unknown>> = {}): LoptTfjsOptimizer {
  registerTfjsOptimizer();
  if (typeof source !== 'string') return new LoptTfjsOptimizer(source);
  const recipe: TfjsOptimizerRecipe = { kind: 'optimizer', spec: source, options: { ...options } };
  return new LoptTfjsOptimizer(buildFromRecipe(recipe) as Optimizer<unknown>, recipe);
}
