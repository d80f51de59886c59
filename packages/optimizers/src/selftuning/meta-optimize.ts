import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  assertSameStructure,
  checkNumber,
  checkOneOf,
  treeLeaves,
  treeMap,
  treePaths,
  treeUnflatten,
  treeFlatten,
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
import type { TransformationOptimizer } from '../transformation.js';
import { adam } from '../optimizers/adam.js';
import { lion } from '../optimizers/lion.js';
import { rmsprop } from '../optimizers/rms.js';
import { sgd } from '../optimizers/sgd.js';
import { checkRebuilt, isTransformationOptimizer, rebuildPlain } from './rebuild.js';
import type { SelfTuningOptimizer, TrajectoryOptions } from './hypergradient.js';
import { checkTrajectoryLength, emptyTrajectory, readTrajectoryBuffer, recordTrajectory, type HyperparamTrajectory } from './trajectory.js';

/** Step-size blocks of {@link metaOptimize}. */
export type StepSizeBlocks = 'scalar' | 'layer' | 'tensor';

/** The meta-algorithms {@link metaOptimize} builds by name. */
export type MetaAlgorithm = 'lion' | 'adam' | 'rmsprop' | 'sgd' | 'fixed';

/** Base optimizers {@link metaOptimize} supports (the paper's SGD, SGDm, RMSProp, AdamW, Lion; Adam is AdamW without decay). */
export const META_OPTIMIZE_BASES = ['sgd', 'rmsprop', 'adam', 'adamw', 'lion'] as const;

/** Options of {@link metaOptimize}. */
export interface MetaOptimizeOptions {
  /**
   * The meta-algorithm that updates the log step sizes `beta` from `z = <H, grad>` (per
   * block): a name (`lion` default, as the paper's released optimizer; `adam`, `rmsprop`,
   * `sgd`, or `fixed` for no meta update) built with `metaStepSize`, or any lopt Optimizer
   * over the `[numBlocks]` tensor `beta`.
   */
  readonly metaOptimizer?: MetaAlgorithm | Optimizer<unknown>;
  /** Meta step size of a named meta-algorithm. Default 1e-3 (the paper's package). */
  readonly metaStepSize?: number;
  /** Discount of the trace, in [0, 1]. Default 0.9999 (the paper's package); 0 gives one-step hypergradient descent. */
  readonly gamma?: number;
  /**
   * One step size for all parameters (`scalar`, default), one per layer (`layer`: leaves
   * that share a parent node, e.g. `layer00.w` and `layer00.b`), or one per tensor (`tensor`).
   */
  readonly blocks?: StepSizeBlocks;
  /** Initial step size, > 0. Default: the base optimizer's learning rate. */
  readonly alpha0?: number;
  /** Rows of step-size trajectory kept in the state; 0 turns it off. Default 1024. */
  readonly trajectoryLength?: number;
}

/**
 * State of {@link metaOptimize}:
 * - `count`: updates so far (int32 scalar);
 * - `base`: the base transformation's state (run with learning rate 1);
 * - `beta`: log step size per block, `[numBlocks]`;
 * - `meta`: the meta-algorithm's state (empty for `fixed`);
 * - `trace`: the trace `H`, one tensor per parameter;
 * - `z`: the last meta-gradient `<H, grad>` per block;
 * - `trajectory`: `exp(beta)` used at each recorded step (absent when turned off).
 */
export type MetaOptimizeState = {
  count: tf.Scalar;
  base: TensorTree;
  beta: tf.Tensor1D;
  meta: TensorTree;
  trace: TensorTree;
  z: tf.Tensor1D;
  trajectory?: tf.Tensor2D;
};

/** The optimizer returned by {@link metaOptimize}. */
export interface MetaOptimizeOptimizer extends SelfTuningOptimizer<MetaOptimizeState> {
  /** The block names of these params, in column order of `beta`. */
  blockNames(params: TensorTree): string[];
}

function parentPath(path: string): string {
  const i = path.lastIndexOf('.');
  return i < 0 ? '<root>' : path.slice(0, i);
}

function blockLayout(params: TensorTree, blocks: StepSizeBlocks): { names: string[]; index: number[] } {
  const paths = treePaths(params);
  if (blocks === 'scalar') return { names: ['alpha'], index: paths.map(() => 0) };
  const keys = blocks === 'tensor' ? paths : paths.map(parentPath);
  const names: string[] = [];
  const index = keys.map((k) => {
    let i = names.indexOf(k);
    if (i < 0) i = names.push(k) - 1;
    return i;
  });
  return { names, index };
}

function namedMeta(name: MetaAlgorithm, eta: number): Optimizer<unknown> | undefined {
  switch (name) {
    case 'lion':
      // The paper's meta-Lion: sign(c m + (1 - c) z) with c = 0.9, m an EMA of z with 0.99.
      return lion({ learningRate: eta, beta1: 0.9, beta2: 0.99, weightDecay: 0 });
    case 'adam':
      return adam({ learningRate: eta });
    case 'rmsprop':
      // z / sqrt(v^ + 1e-10) with a bias-corrected EMA of z^2, as the paper's RMSProp meta update.
      return rmsprop({ learningRate: eta, decay: 0.99, epsilon: 1e-10, biasCorrection: true });
    case 'sgd':
      return sgd({ learningRate: eta });
    case 'fixed':
      return undefined;
  }
}

/**
 * MetaOptimize (Sharifnassab, Salehkaleybar & Sutton, ICML 2025), the Hessian-free
 * variant: step sizes `alpha = exp(beta)` per block, tuned online to reduce the discounted
 * future loss. With the base update `w <- w - delta`, `delta = alpha (u + kappa w)` (`u`
 * the base direction: SGD `g`, SGD with momentum the trace, RMSProp `g / sqrt(v^)`, AdamW
 * `m^ / (sqrt(v^) + eps)`, Lion the sign; `kappa` the base's weight decay), each step:
 *
 * 1. `z = <H, g>` per block, an estimate of `d f_t / d beta` (H approximates
 *    `sum_tau gamma^(t-tau) dw_t/dbeta_tau`);
 * 2. `beta <- beta - metaStep(z)` (the meta-algorithm; skipped on the first step);
 * 3. the base update with `alpha = exp(beta)`;
 * 4. `H <- gamma (1 - kappa alpha) H - delta`.
 *
 * Sign and trace follow the paper and its experiment code (`HF.py`): H traces `-delta`
 * (the derivative of w w.r.t. beta) and beta descends `z`. The packaged
 * `MetaOptimize_AdamW_Lion_hg` instead adds `alpha g / (sqrt(v^) + eps)` (raw g) and
 * ascends; we do not follow it. The meta step comes before the base step that uses it (as
 * IDBD, Baydin's hypergradient descent and Chandra et al.), so the step size used at step
 * t already reflects g_t; HF.py applies it one step later. With `gamma = 0`, an SGD base
 * and the `sgd` meta-algorithm this is exactly hypergradient descent on log alpha:
 * `log alpha <- log alpha + eta alpha g_t . g_{t-1}` (tested against {@link hypergradient}).
 *
 * `base` is a plain built-in optimizer (`sgd`, `sgd` with momentum, `rmsprop` without
 * momentum, `adam`, `adamw`, `lion`); its learning rate is the default `alpha0`, and it is
 * rebuilt with learning rate 1 (checked at `init` to scale exactly).
 *
 * @example
 * ```ts
 * const opt = metaOptimize(adamw({ learningRate: 1e-3, weightDecay: 0.1 }), { metaOptimizer: 'lion', metaStepSize: 1e-3, gamma: 0.9999, blocks: 'layer' });
 * ```
 */
export function metaOptimize(base: Optimizer<unknown>, options: MetaOptimizeOptions = {}): MetaOptimizeOptimizer {
  if (typeof options !== 'object' || options === null) {
    throw new LoptError('INVALID_OPTION', 'metaOptimize: options must be an object.', { option: 'options' });
  }
  checkKnownOptions('metaOptimize', options, ['metaOptimizer', 'metaStepSize', 'gamma', 'blocks', 'alpha0', 'trajectoryLength']);
  const plain = checkMetaBase(base);
  const gamma = checkNumber('gamma', options.gamma ?? 0.9999, { min: 0, max: 1 });
  const blocks = checkOneOf('blocks', options.blocks ?? 'scalar', ['scalar', 'layer', 'tensor'] as const);
  const eta = checkNumber('metaStepSize', options.metaStepSize ?? 1e-3, { min: 0 });
  const capacity = checkTrajectoryLength(options.trajectoryLength);
  const lr0 = plain.config.learningRate;
  const alpha0 = checkNumber('alpha0', options.alpha0 ?? lr0, { greaterThan: 0 });
  const kappa = typeof plain.config.weightDecay === 'number' ? plain.config.weightDecay : 0;
  const { meta, metaName } = resolveMeta(options.metaOptimizer ?? 'lion', eta);
  const plan: MetaPlan = {
    gamma,
    kappa,
    blocks,
    meta,
    unit: rebuildPlain(plain, 'base', (factory, config) => factory({ ...config, learningRate: 1 })),
    // With one step size the base step can run as the plain optimizer with learning rate
    // alpha (a number), so fused kernels apply (Adam/AdamW); the trace then takes
    // -delta = w' - w, whose float32 rounding (~1e-7 |w|) only touches the meta-gradient.
    stepWith: rebuildPlain(plain, 'base', (factory, config) => (alpha: number) => factory({ ...config, learningRate: alpha })),
  };
  const config = Object.freeze({ base: plain.name, baseConfig: { ...plain.config }, metaOptimizer: metaName, metaStepSize: eta, gamma, blocks, alpha0, kappa, trajectoryLength: capacity });
  let checked = false;

  return {
    name: `metaOptimize(${plain.name})`,
    config,
    blockNames: (params) => blockLayout(params, blocks).names,
    trajectoryNames: (params) => blockLayout(params, blocks).names,
    init(params: TensorTree, opts?: OptimizerInitOptions): OptState<MetaOptimizeState> {
      if (!checked) {
        checkRebuilt(plain, plan.unit, params, 'base', typeof lr0 === 'number' ? lr0 : 1);
        checked = true;
      }
      const { names } = blockLayout(params, blocks);
      return tidy(() => ({ params, state: initMetaState(plan, params, names.length, { alpha0, capacity, opts }), iteration: 0 }));
    },
    update(state: OptState<MetaOptimizeState>, grads: TensorTree, ctx?: UpdateContext): OptState<MetaOptimizeState> {
      assertSameStructure(state.params, grads, { names: ['params', 'grads'], checkShapes: true });
      const count = readCount(state.state.count, 'count');
      const layout = blockLayout(state.params, blocks);
      return tidy(() => {
        const s = state.state;
        const z = blockInnerProducts(grads, s.trace, layout);
        const { beta, metaState } = metaStep(plan, s, z, count, layout.names);
        const alpha = tf.exp(beta);
        const stepped = blocks === 'scalar' ? scalarBaseStep(plan, state, grads, ctx, alpha) : blockBaseStep(plan, state, grads, ctx, { alpha, layout });
        const next: MetaOptimizeState = { count: counter(count + 1), base: stepped.base, beta, meta: metaState, trace: stepped.trace, z };
        if (s.trajectory !== undefined) next.trajectory = recordTrajectory(s.trajectory, count, alpha as tf.Tensor1D);
        return { params: stepped.params, state: next, iteration: state.iteration + 1 };
      });
    },
    trajectory(state: OptState<MetaOptimizeState>, topts: TrajectoryOptions = {}): HyperparamTrajectory {
      if ((topts.level ?? 0) !== 0) {
        throw new LoptError('INVALID_OPTION', 'metaOptimize has a single level of step sizes.', { option: 'level' });
      }
      if (state.state.trajectory === undefined) {
        throw new LoptError('INVALID_OPTION', 'This metaOptimize optimizer keeps no trajectory (trajectoryLength: 0).', { option: 'trajectoryLength' });
      }
      return readTrajectoryBuffer(state.state.trajectory, readCount(state.state.count), blockLayout(state.params, blocks).names);
    },
  };
}

/** What {@link metaOptimize}'s steps need, resolved from its options. */
interface MetaPlan {
  readonly gamma: number;
  readonly kappa: number;
  readonly blocks: StepSizeBlocks;
  /** The meta-algorithm (`undefined` for `fixed`). */
  readonly meta: Optimizer<unknown> | undefined;
  /** The base rebuilt with learning rate 1. */
  readonly unit: TransformationOptimizer<unknown>;
  /** The base rebuilt with a numeric learning rate (the one-step-size fast path). */
  readonly stepWith: (alpha: number) => Optimizer<unknown>;
}

/** Throws unless `base` is a supported plain built-in (rmsprop without momentum); returns it typed. */
function checkMetaBase(base: Optimizer<unknown>): TransformationOptimizer<unknown> {
  if (!isTransformationOptimizer(base) || !(META_OPTIMIZE_BASES as readonly string[]).includes(base.name)) {
    throw new LoptError(
      'INVALID_OPTION',
      `Option 'base' must be one of the built-in optimizers ${META_OPTIMIZE_BASES.join(', ')} (e.g. adamw({ weightDecay: 0.1 })).`,
      { option: 'base' },
    );
  }
  if (base.name === 'rmsprop' && base.config.momentum !== undefined) {
    throw new LoptError('INVALID_OPTION', "Option 'base': rmsprop with momentum applies momentum after the step size; use it without.", {
      option: 'base',
    });
  }
  return base as TransformationOptimizer<unknown>;
}

/** The meta-algorithm of option `metaOptimizer`: a name built with step size `eta`, or an lopt Optimizer. */
function resolveMeta(metaSpec: unknown, eta: number): { meta: Optimizer<unknown> | undefined; metaName: string } {
  if (typeof metaSpec === 'string') {
    const metaName = checkOneOf('metaOptimizer', metaSpec, ['lion', 'adam', 'rmsprop', 'sgd', 'fixed'] as const);
    return { meta: namedMeta(metaName, eta), metaName };
  }
  if (hasInitAndUpdate(metaSpec)) return { meta: metaSpec as Optimizer<unknown>, metaName: (metaSpec as Optimizer<unknown>).name };
  throw new LoptError('INVALID_OPTION', "Option 'metaOptimizer' must be 'lion', 'adam', 'rmsprop', 'sgd', 'fixed' or an lopt Optimizer.", {
    option: 'metaOptimizer',
  });
}

/** The initial state: `beta = log alpha0` per block, zero trace and meta-gradient. */
function initMetaState(
  plan: MetaPlan,
  params: TensorTree,
  numBlocks: number,
  o: { readonly alpha0: number; readonly capacity: number; readonly opts: OptimizerInitOptions | undefined },
): MetaOptimizeState {
  const beta = tf.fill([numBlocks], Math.log(o.alpha0), 'float32') as tf.Tensor1D;
  const state: MetaOptimizeState = {
    count: counter(0),
    base: plan.unit.transformation.init(params) as TensorTree,
    beta,
    meta: plan.meta === undefined ? {} : (plan.meta.init(beta, o.opts).state as TensorTree),
    trace: treeZerosLike(params),
    z: tf.zeros([numBlocks], 'float32') as tf.Tensor1D,
  };
  if (o.capacity > 0) state.trajectory = emptyTrajectory(o.capacity, numBlocks);
  return state;
}

/** Step 1: `z = <H, g>` per block. */
function blockInnerProducts(grads: TensorTree, trace: TensorTree, layout: { names: string[]; index: number[] }): tf.Tensor1D {
  const h = treeLeaves(trace);
  const perLeaf = treeLeaves(grads).map((gi, i) => tf.sum(tf.mul(h[i] as tf.Tensor, gi)));
  return tf.stack(layout.names.map((_, b) => {
    const parts = perLeaf.filter((_, i) => layout.index[i] === b);
    return parts.length === 1 ? (parts[0] as tf.Tensor) : tf.addN(parts);
  })) as tf.Tensor1D;
}

/** Step 2: the meta step on `beta` (none on the first step, where H is still 0); throws on a non-finite `z`. */
function metaStep(plan: MetaPlan, s: MetaOptimizeState, z: tf.Tensor1D, count: number, names: readonly string[]): { beta: tf.Tensor1D; metaState: TensorTree } {
  if (count === 0 || plan.meta === undefined) return { beta: s.beta, metaState: s.meta };
  z.dataSync().forEach((v, b) => {
    if (!Number.isFinite(v)) {
      throw new LoptError('NON_FINITE', `metaOptimize: the meta-gradient of block '${names[b]}' is ${v} at step ${count}.`, { path: `z.${b}` });
    }
  });
  const next = plan.meta.update({ params: s.beta, state: s.meta, iteration: count - 1 }, z);
  return { beta: next.params as tf.Tensor1D, metaState: next.state as TensorTree };
}

/** What a base step (step 3) and the trace update (step 4) produce. */
interface BaseStep {
  readonly params: TensorTree;
  readonly base: TensorTree;
  readonly trace: TensorTree;
}

/** Steps 3-4 with one step size: the plain base with learning rate alpha (a number); the trace takes `w' - w`. */
function scalarBaseStep(plan: MetaPlan, state: OptState<MetaOptimizeState>, grads: TensorTree, ctx: UpdateContext | undefined, alpha: tf.Tensor): BaseStep {
  const s = state.state;
  const a = alpha.dataSync()[0] as number;
  const out = plan.stepWith(a).update({ params: state.params, state: s.base, iteration: readCount(s.count, 'count') }, grads, ctx);
  const decay = plan.gamma * (1 - plan.kappa * a);
  const trace = treeMap((p1, p0, hi) => {
    const step = tf.sub(p1, p0); // -delta
    return plan.gamma === 0 ? step : tf.add(tf.mul(hi as tf.Tensor, decay), step);
  }, out.params, state.params, s.trace);
  return { params: out.params, base: out.state as TensorTree, trace };
}

/** Steps 3-4 with a step size per block: the unit-learning-rate update scaled per leaf; `H <- gamma (1 - kappa alpha) H - delta`. */
function blockBaseStep(
  plan: MetaPlan,
  state: OptState<MetaOptimizeState>,
  grads: TensorTree,
  ctx: UpdateContext | undefined,
  at: { readonly alpha: tf.Tensor; readonly layout: { names: string[]; index: number[] } },
): BaseStep {
  const { index, names } = at.layout;
  const alphaLeaf = names.map((_, b) => tf.reshape(tf.slice(at.alpha, [b], [1]), []));
  const out = plan.unit.transformation.update(grads, state.state.base, state.params, ctx);
  const { leaves: p, structure } = treeFlatten(state.params);
  const u = treeLeaves(out.updates);
  const h = treeLeaves(state.state.trace);
  const newP: tf.Tensor[] = [];
  const newH: tf.Tensor[] = [];
  p.forEach((pi, i) => {
    const a = alphaLeaf[index[i] as number] as tf.Scalar;
    const step = tf.mul(u[i] as tf.Tensor, a); // -delta
    newP.push(tf.add(pi, step));
    const decay = tf.mul(plan.gamma, tf.sub(1, tf.mul(plan.kappa, a)));
    newH.push(plan.gamma === 0 ? step : tf.add(tf.mul(h[i] as tf.Tensor, decay), step));
  });
  return { params: treeUnflatten(structure, newP), base: out.state as TensorTree, trace: treeUnflatten(structure, newH) };
}
