import * as tf from '@tensorflow/tfjs-core';
import {
  LoptError,
  checkNumber,
  treeLeaves,
  treeMapWithPath,
  treePaths,
  treeZerosLike,
  type DenseLayerRef,
  type DenseLayerStatistics,
  type OptState,
  type Optimizer,
  type TensorTree,
  type UpdateContext,
  tidy,
} from '@lopt/core';
import { checkKnownOptions, checkLearningRate, counter, learningRateAt, readCount, type LearningRate } from '../hyper.js';

/**
 * A per-layer curvature preconditioner for {@link layerwiseOptimizer}: running statistics of a
 * dense layer (from its inputs with a homogeneous 1 appended when it has a bias, and its
 * per-example output gradients), their damped inverses, and how they act on the layer's
 * `[in (+1), out]` gradient.
 */
export interface LayerPreconditioner {
  /** Shapes of the running statistics of a layer with `rows` (inputs + bias) and `cols` (outputs). */
  statShapes(rows: number, cols: number): Record<string, number[]>;
  /** This batch's statistics: `a` is `[N, rows]`, `g` the per-example output gradients `[N, cols]`. */
  batchStatistics(a: tf.Tensor2D, g: tf.Tensor2D): Record<string, tf.Tensor>;
  /** Damped inverses of the (bias-corrected) statistics, computed on the host. */
  inverses(stats: Record<string, tf.Tensor>, damping: number): Record<string, tf.Tensor>;
  /** The preconditioned gradient of one layer. */
  apply(v: tf.Tensor2D, inverses: Record<string, tf.Tensor>): tf.Tensor2D;
}

/** Options shared by the layerwise curvature optimizers (`kfac`, `foof`, `mbf`). */
export interface LayerwiseOptions {
  /** Step size or schedule. */
  readonly learningRate?: LearningRate;
  /** Heavy-ball momentum `m = mu m + d`. Default 0.9. */
  readonly momentum?: number;
  /** Tikhonov damping. */
  readonly damping?: number;
  /** Decay of the running statistics (bias-corrected, so the first step uses that batch's). Default 0.95. */
  readonly statDecay?: number;
  /** Update the statistics every this many steps. Default 1. */
  readonly statisticsInterval?: number;
  /** Recompute the inverses every this many steps. Default 10. */
  readonly inverseInterval?: number;
  /** L2 weight decay added to every gradient. Default 0. */
  readonly weightDecay?: number;
  /** Scale the preconditioned layers' step so that `lr^2 <d, g>` stays below this (Ba et al. 2017); 0 turns it off. */
  readonly klClip?: number;
  /** The dense layers; default: every rank-2 leaf `X.w` with its sibling `X.b` as bias. */
  readonly layers?: readonly DenseLayerRef[];
}

interface Settings {
  readonly lr: LearningRate;
  readonly momentum: number;
  readonly damping: number;
  readonly decay: number;
  readonly statEvery: number;
  readonly invEvery: number;
  readonly wd: number;
  readonly klClip: number;
}

/** State of a layerwise curvature optimizer: counter, momentum per leaf, and per layer its statistics and inverses. */
export type LayerwiseState = {
  count: tf.Scalar;
  momentum: TensorTree;
  layers: { stats: Record<string, tf.Tensor>; inverses: Record<string, tf.Tensor> }[];
};

const KEYS = ['learningRate', 'momentum', 'damping', 'statDecay', 'statisticsInterval', 'inverseInterval', 'weightDecay', 'klClip', 'layers'];

function settings(where: string, o: LayerwiseOptions, defaults: { learningRate: number; damping: number; klClip: number }): Settings {
  checkKnownOptions(where, o, KEYS);
  return {
    lr: checkLearningRate('learningRate', o.learningRate ?? defaults.learningRate),
    momentum: checkNumber('momentum', o.momentum ?? 0.9, { min: 0, lessThan: 1 }),
    damping: checkNumber('damping', o.damping ?? defaults.damping, { greaterThan: 0 }),
    decay: checkNumber('statDecay', o.statDecay ?? 0.95, { min: 0, lessThan: 1 }),
    statEvery: checkNumber('statisticsInterval', o.statisticsInterval ?? 1, { min: 1, integer: true }),
    invEvery: checkNumber('inverseInterval', o.inverseInterval ?? 10, { min: 1, integer: true }),
    wd: checkNumber('weightDecay', o.weightDecay ?? 0, { min: 0 }),
    klClip: checkNumber('klClip', o.klClip ?? defaults.klClip, { min: 0 }),
  };
}

/** The dense layers of a parameter tree: the given ones (validated), or every rank-2 `X.w` with its `X.b`. */
export function denseLayersOf(params: TensorTree, given: readonly DenseLayerRef[] | undefined): { ref: DenseLayerRef; rows: number; cols: number }[] {
  const paths = treePaths(params);
  const leaves = treeLeaves(params);
  const shapeOf = new Map(paths.map((p, i) => [p, (leaves[i] as tf.Tensor).shape]));
  const refs =
    given ??
    paths
      .filter((p, i) => (leaves[i] as tf.Tensor).rank === 2 && (p.endsWith('.w') || p === 'w'))
      .map((w) => {
        const b = `${w.slice(0, -1)}b`;
        const bShape = shapeOf.get(b);
        return bShape !== undefined && bShape.length === 1 && bShape[0] === (shapeOf.get(w) as number[])[1] ? { weight: w, bias: b } : { weight: w };
      });
  return refs.map((ref, i) => {
    const w = shapeOf.get(ref.weight);
    if (w === undefined || w.length !== 2) throw new LoptError('INVALID_OPTION', `layers[${i}].weight '${ref.weight}' is not a rank-2 parameter.`, { option: `layers.${i}.weight` });
    if (ref.bias !== undefined) {
      const b = shapeOf.get(ref.bias);
      if (b === undefined || b.length !== 1 || b[0] !== w[1]) throw new LoptError('INVALID_OPTION', `layers[${i}].bias '${ref.bias}' is not a [${w[1]}] parameter.`, { option: `layers.${i}.bias` });
    }
    return { ref, rows: (w[0] as number) + (ref.bias !== undefined ? 1 : 0), cols: w[1] as number };
  });
}

/** The statistics of one layer for this batch's context entry. */
function layerContext(ctx: UpdateContext | undefined, ref: DenseLayerRef, name: string): DenseLayerStatistics {
  const found = ctx?.layers?.find((l) => l.weight === ref.weight);
  if (found === undefined) {
    throw new LoptError(
      'MISSING_CONTEXT',
      `${name} needs ctx.layers with the inputs and output gradients of layer '${ref.weight}' (use valueAndLayerGrads from @lopt/core with a task that reports its layers).`,
      { path: ref.weight },
    );
  }
  return found;
}

/** `[a, 1]` when the layer has a bias. */
function homogeneous(inputs: tf.Tensor2D, bias: boolean): tf.Tensor2D {
  return bias ? (tf.concat([inputs, tf.ones([inputs.shape[0], 1])], 1) as tf.Tensor2D) : inputs;
}

interface Plan {
  readonly layers: { ref: DenseLayerRef; rows: number; cols: number }[];
}

function stepStatistics(p: LayerPreconditioner, plan: Plan, state: LayerwiseState, ctx: UpdateContext | undefined, name: string, s: Settings, step: number) {
  return plan.layers.map((l, i) => {
    const prev = state.layers[i] as LayerwiseState['layers'][number];
    if (step % s.statEvery !== 0) return prev.stats;
    const c = layerContext(ctx, l.ref, name);
    const n = c.inputs.shape[0];
    const batch = p.batchStatistics(homogeneous(c.inputs, l.ref.bias !== undefined), tf.mul(c.outputGrads, n) as tf.Tensor2D);
    const out: Record<string, tf.Tensor> = {};
    for (const k of Object.keys(batch)) out[k] = tf.add(tf.mul(s.decay, prev.stats[k] as tf.Tensor), tf.mul(1 - s.decay, batch[k] as tf.Tensor));
    return out;
  });
}

/**
 * Builds a layerwise curvature optimizer: every dense layer's `[W; b]` gradient is
 * preconditioned by `p` (statistics averaged with bias correction, inverses refreshed every
 * `inverseInterval` steps from the statistics then), other leaves take the plain gradient;
 * L2 decay, optional KL clipping of the preconditioned part, heavy-ball momentum, and
 * `p -= lr m`. `update` needs `ctx.layers` (see `valueAndLayerGrads`).
 */
export function layerwiseOptimizer(
  name: string,
  p: LayerPreconditioner,
  options: LayerwiseOptions,
  defaults: { learningRate: number; damping: number; klClip: number },
): Optimizer<LayerwiseState> & { readonly config: Readonly<Record<string, unknown>> } {
  const s = settings(name, options, defaults);
  const planFor = (params: TensorTree): Plan => ({ layers: denseLayersOf(params, options.layers) });
  return {
    name,
    needsLayers: true,
    config: Object.freeze({ learningRate: typeof s.lr === 'number' ? s.lr : undefined, momentum: s.momentum, damping: s.damping, statDecay: s.decay, statisticsInterval: s.statEvery, inverseInterval: s.invEvery, weightDecay: s.wd, klClip: s.klClip }),
    init(params: TensorTree): OptState<LayerwiseState> {
      const pl = planFor(params);
      const layers = pl.layers.map((l) => {
        const shapes = p.statShapes(l.rows, l.cols);
        const stats: Record<string, tf.Tensor> = {};
        for (const [k, sh] of Object.entries(shapes)) stats[k] = tf.zeros(sh);
        return { inverses: p.inverses(stats, s.damping), stats };
      });
      return { params, state: { count: counter(0), layers, momentum: treeZerosLike(params) }, iteration: 0 };
    },
    update(state: OptState<LayerwiseState>, grads: TensorTree, ctx?: UpdateContext): OptState<LayerwiseState> {
      return tidy<OptState<LayerwiseState>>(() => {
        const pl = planFor(state.params);
        const step = readCount(state.state.count);
        const lr = learningRateAt('learningRate', s.lr, step);
        const stats = stepStatistics(p, pl, state.state, ctx, name, s, step);
        const corrected = 1 - s.decay ** (Math.floor(step / s.statEvery) + 1);
        const inverses = pl.layers.map((_, i) =>
          step % s.invEvery === 0 ? p.inverses(scaled(stats[i] as Record<string, tf.Tensor>, 1 / corrected), s.damping) : (state.state.layers[i] as LayerwiseState['layers'][number]).inverses,
        );
        const decayed = s.wd > 0 ? treeMapWithPath((_path, g, x) => tf.add(g, tf.mul(s.wd, x)), grads, state.params) : grads;
        const byPath = leavesByPath(decayed);
        const directions = preconditionedDirections(p, pl, byPath, inverses);
        const clip = klScale(pl, byPath, directions, lr, s.klClip);
        const momentum = treeMapWithPath((path, m, g) => tf.add(tf.mul(s.momentum, m), tf.mul(directions.get(path) ?? g, directions.has(path) ? clip : 1)), state.state.momentum, decayed);
        const params = treeMapWithPath((_path, x, m) => tf.sub(x, tf.mul(lr, m)), state.params, momentum);
        const layers = pl.layers.map((_, i) => ({ inverses: inverses[i] as Record<string, tf.Tensor>, stats: stats[i] as Record<string, tf.Tensor> }));
        return { params, state: { count: counter(step + 1), layers, momentum }, iteration: state.iteration + 1 };
      });
    },
  };
}

function scaled(stats: Record<string, tf.Tensor>, f: number): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(stats)) out[k] = tf.mul(v, f);
  return out;
}

/** The leaves of `tree` by path. */
function leavesByPath(tree: TensorTree): Map<string, tf.Tensor> {
  const leaves = treeLeaves(tree);
  return new Map(treePaths(tree).map((path, i) => [path, leaves[i] as tf.Tensor]));
}

/** The preconditioned gradient of every weight and bias leaf of the dense layers, by path. */
function preconditionedDirections(p: LayerPreconditioner, plan: Plan, byPath: Map<string, tf.Tensor>, inverses: Record<string, tf.Tensor>[]): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  plan.layers.forEach((l, i) => {
    const gw = byPath.get(l.ref.weight) as tf.Tensor2D;
    const v = l.ref.bias === undefined ? gw : (tf.concat([gw, tf.reshape(byPath.get(l.ref.bias) as tf.Tensor, [1, l.cols])], 0) as tf.Tensor2D);
    const d = p.apply(v, inverses[i] as Record<string, tf.Tensor>);
    const inRows = l.rows - (l.ref.bias === undefined ? 0 : 1);
    out.set(l.ref.weight, l.ref.bias === undefined ? d : tf.slice(d, [0, 0], [inRows, l.cols]));
    if (l.ref.bias !== undefined) out.set(l.ref.bias, tf.reshape(tf.slice(d, [inRows, 0], [1, l.cols]), [l.cols]));
  });
  return out;
}

/** KL clipping (Ba et al. 2017): `min(1, sqrt(klClip / (lr^2 sum <d, g>)))` over the preconditioned leaves. */
function klScale(plan: Plan, byPath: Map<string, tf.Tensor>, directions: Map<string, tf.Tensor>, lr: number | tf.Scalar, klClip: number): tf.Scalar | number {
  if (klClip === 0 || plan.layers.length === 0) return 1;
  let vg: tf.Tensor = tf.scalar(0);
  for (const [path, d] of directions) vg = tf.add(vg, tf.sum(tf.mul(d, byPath.get(path) as tf.Tensor)));
  const denom = tf.mul(tf.square(lr), tf.abs(vg));
  return tf.minimum(1, tf.sqrt(tf.div(klClip, tf.maximum(denom, 1e-30)))) as tf.Scalar;
}
