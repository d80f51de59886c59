import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  collectTensors,
  disposeReplaced,
  isTensor,
  treeLeaves,
  treePaths,
  treeStructure,
  treeUnflatten,
  type OptState,
  type Optimizer,
  type TensorTree,
} from '@lopt/core';

/** Marks state tensors as kept, so an enclosing `tf.tidy` (model.fit runs steps in one) does not dispose them. */
function keepAll(state: unknown): void {
  for (const t of collectTensors(state)) tf.keep(t);
}

type NamedTensor = { name: string; tensor: tf.Tensor };
type NamedTensorMap = { [name: string]: tf.Tensor };

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
 * then for every variable (sorted by name) a `<variable>/iteration` int32 scalar and every
 * state leaf named `<variable>/<state path>`. `setWeights` restores them by name.
 */
export class LoptTfjsOptimizer extends tf.Optimizer {
  /** The class name tfjs serialization reports. */
  static get className(): string {
    return 'LoptOptimizer';
  }

  /** The wrapped lopt optimizer. */
  readonly optimizer: Optimizer<unknown>;
  private readonly states = new Map<string, OptState<unknown>>();
  private currentLoss: tf.Scalar | undefined;

  constructor(optimizer: Optimizer<unknown>) {
    super();
    if (typeof optimizer?.init !== 'function' || typeof optimizer.update !== 'function') {
      throw new LoptError('INVALID_OPTION', 'toTfjsOptimizer needs a lopt Optimizer.', { option: 'optimizer' });
    }
    this.optimizer = optimizer;
  }

  /** Names of the variables this optimizer holds state for, sorted. */
  get variableNames(): string[] {
    return [...this.states.keys()].sort();
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
    const pairs: [string, tf.Tensor | null | undefined][] = Array.isArray(variableGradients)
      ? variableGradients.map((v) => [v.name, v.tensor])
      : Object.entries(variableGradients);
    for (const [name, grad] of pairs) {
      if (grad == null) continue;
      const variable = tf.engine().registeredVariables[name];
      if (!variable) {
        throw new LoptError('TREE_MISMATCH', `No variable named '${name}' is registered with the tfjs engine.`, { path: name });
      }
      if (!tf.util.arraysEqual(variable.shape, grad.shape)) {
        throw new LoptError('SHAPE_MISMATCH', `Gradient for '${name}' has shape [${grad.shape}] but the variable has [${variable.shape}].`, {
          path: name,
        });
      }
      let old = this.states.get(name);
      if (!old) {
        const init = tf.tidy(() => {
          const s = this.optimizer.init({ [name]: variable });
          return { state: s.state, iteration: s.iteration } as unknown as tf.TensorContainer;
        }) as unknown as { state: unknown; iteration: number };
        keepAll(init.state);
        old = { params: {}, state: init.state, iteration: init.iteration };
      }
      const prev = old;
      const nextState = tf.tidy(() => {
        const ctx = this.currentLoss === undefined ? undefined : { loss: this.currentLoss };
        const next = this.optimizer.update({ params: { [name]: variable }, state: prev.state, iteration: prev.iteration }, { [name]: grad }, ctx);
        const value = (next.params as Record<string, tf.Tensor>)[name];
        if (!value) throw new LoptError('INTERNAL', `Optimizer '${this.optimizer.name}' returned no parameter '${name}'.`);
        if (value !== variable) variable.assign(value);
        return { state: next.state, iteration: next.iteration } as unknown as tf.TensorContainer;
      }) as unknown as { state: unknown; iteration: number };
      keepAll(nextState.state);
      disposeReplaced(prev.state, nextState.state);
      this.states.set(name, { params: {}, state: nextState.state, iteration: nextState.iteration });
    }
    this.incrementIterations();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [await this.saveIterations()];
    for (const name of this.variableNames) {
      const s = this.states.get(name) as OptState<unknown>;
      out.push({ name: `${name}/iteration`, tensor: tf.scalar(s.iteration, 'int32') });
      const tree = s.state as TensorTree;
      const paths = treePaths(tree);
      treeLeaves(tree).forEach((t, i) => out.push({ name: `${name}/${paths[i]}`, tensor: t }));
    }
    return out;
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const byName = new Map(rest.map((w) => [w.name, w.tensor]));
    const variables = Object.keys(tf.engine().registeredVariables);
    const owners = new Set<string>();
    for (const w of rest) {
      if (!w.name.endsWith('/iteration')) continue;
      const v = w.name.slice(0, -'/iteration'.length);
      owners.add(v);
    }
    const next = new Map<string, OptState<unknown>>();
    for (const name of owners) {
      if (!variables.includes(name)) {
        throw new LoptError('CHECKPOINT_MISMATCH', `Optimizer weights are for variable '${name}', which is not registered.`, { path: name });
      }
      const variable = tf.engine().registeredVariables[name] as tf.Variable;
      const template = tf.tidy(() => this.optimizer.init({ [name]: variable }).state as unknown as tf.TensorContainer) as unknown as TensorTree;
      const paths = treePaths(template);
      const templateLeaves = treeLeaves(template);
      const leaves = paths.map((p, i) => {
        const t = byName.get(`${name}/${p}`);
        const like = templateLeaves[i] as tf.Tensor;
        if (!t || !isTensor(t)) throw new LoptError('CHECKPOINT_MISMATCH', `Missing optimizer weight '${name}/${p}'.`, { path: `${name}/${p}` });
        if (!tf.util.arraysEqual(t.shape, like.shape) || t.dtype !== like.dtype) {
          throw new LoptError('CHECKPOINT_MISMATCH', `Optimizer weight '${name}/${p}' has shape [${t.shape}] ${t.dtype}, expected [${like.shape}] ${like.dtype}.`, {
            path: `${name}/${p}`,
          });
        }
        return tf.clone(t);
      });
      const structure = treeStructure(template);
      tf.dispose(templateLeaves);
      const it = byName.get(`${name}/iteration`) as tf.Tensor;
      leaves.forEach((t) => tf.keep(t));
      next.set(name, { params: {}, state: treeUnflatten(structure, leaves), iteration: (await it.data())[0] as number });
    }
    this.disposeStates();
    for (const [k, v] of next) this.states.set(k, v);
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config = (this.optimizer as { config?: Readonly<Record<string, unknown>> }).config ?? {};
    const out: tf.serialization.ConfigDict = { name: this.optimizer.name };
    for (const [k, v] of Object.entries(config)) {
      if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' || v === null) out[k] = v;
    }
    return out;
  }

  override dispose(): void {
    this.disposeStates();
    super.dispose();
  }

  private disposeStates(): void {
    for (const s of this.states.values()) tf.dispose(treeLeaves(s.state as TensorTree));
    this.states.clear();
  }
}

/**
 * Wraps a lopt optimizer as a `tf.Optimizer`, so it drops into `model.compile({ optimizer })`
 * and `model.fit` of `@tensorflow/tfjs-layers`, and into `optimizer.minimize(f)`.
 * See {@link LoptTfjsOptimizer} for how state is kept (by variable name).
 *
 * @example
 * ```ts
 * model.compile({ optimizer: toTfjsOptimizer(adamw({ learningRate: 1e-3 })), loss: 'meanSquaredError' });
 * await model.fit(xs, ys, { epochs: 10 });
 * ```
 */
export function toTfjsOptimizer(opt: Optimizer<unknown>): LoptTfjsOptimizer {
  return new LoptTfjsOptimizer(opt);
}
