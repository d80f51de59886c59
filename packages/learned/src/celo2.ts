import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, checkOneOf, split, treeFlatten, treeUnflatten, type Key, type OptState, type Optimizer, type TensorTree, tidy } from '@lopt/core';
import { newtonSchulzChecked, newtonSchulzConfig, type NewtonSchulzConfig } from '@lopt/optimizers';
import { adafacDecayConfig, initAdafacState, type AdafacDecayConfig, type AdafacState } from './adafac-features.js';
import { asAtLeast1d, celoFeatures, celoGroupWidths, celoNormalize, type CeloDecays } from './celo-features.js';
import { runCeloMlp } from './celo-mlp.js';
import { decayTensors } from './celo.js';
import { routeCelo2, type Celo2Route, type Celo2Routing } from './celo2-routing.js';
import { checkBool, checkGrads, checkKnownOptions, initDense, type DenseParams, type FactoredSlot } from './common.js';
import type { LearnedArchitecture } from './types.js';

/** Configuration of {@link celo2}; defaults are the references' (ALGORITHMS.md 4, PROVENANCE.md). */
export type Celo2Config = AdafacDecayConfig & {
  /** Learning rate (JAX `step_mult`, PyLO `lr`). Default 1e-3. */
  readonly learningRate: number;
  /** Weight decay. Default 0. Applied as the chosen reference does (see `routing`). */
  readonly weightDecay: number;
  /** Newton–Schulz orthogonalization of the learned step of tensors of rank >= 2. Default true. */
  readonly orthogonalize: boolean;
  /**
   * Which tensors go to the Adam branch, and which Adam: `'pylo'` (default; PyLO `Celo2_naive`
   * at faf6fcb, the code the weights ship with): bias-corrected AdamW for rank <= 1, `embed`
   * names and the first and last matrix (leaf order), decoupled weight decay after the
   * learned step. `'regex'` (the JAX Celo repository): Adam without bias correction for
   * paths matching `regex1d`, at `mult1d * learningRate`, decay on p before the step.
   */
  readonly routing: Celo2Routing;
  /** `'regex'` routing: pattern searched in the `/`-joined leaf path. Default `.*bias.*|.*embed.*` (the JAX class default; meta-training used `/b$`). */
  readonly regex1d: string;
  /** `'pylo'` routing: also send leaves whose path contains `embed` to AdamW. Default true. */
  readonly embedByName: boolean;
  /** Multiplier of the Adam branch's learning rate. Default 20 with `'regex'` routing, 1 with `'pylo'`. */
  readonly mult1d: number;
  /** Adam branch first-moment decay. Default 0.9. */
  readonly adamBeta1: number;
  /** Adam branch second-moment decay. Default 0.95. */
  readonly adamBeta2: number;
  /** Adam branch epsilon. Default 1e-8 (inside the root with `'regex'`, outside with `'pylo'`). */
  readonly adamEpsilon: number;
  /** Multiplier inside the exponential of the magnitude output. Default 0 (magnitude unused). */
  readonly expMult: number;
  /** Multiplier of the unit-RMS learned step. Default 1. */
  readonly rmsMult: number;
  /** Newton–Schulz coefficients. Default `[3.4445, -4.7750, 2.0315]`. */
  readonly nsCoeffs: readonly [number, number, number];
  /** Newton–Schulz iterations. Default 5. */
  readonly nsIters: number;
  /** Newton–Schulz epsilon. Default 1e-8. */
  readonly nsEps: number;
  /** Hidden width of the per-element MLP (2 hidden layers). Default 8. */
  readonly hiddenSize: number;
};

/** Meta-parameters of {@link celo2}: PyLO's flat state_dict names, weights stored (out, in). */
export type Celo2Theta = Record<string, tf.Tensor>;

/** Per-leaf state of the optimizer {@link celo2} builds: Adam moments or learned accumulators. */
export type Celo2Slot = { adamM: tf.Tensor; adamV: tf.Tensor } | { m: tf.Tensor; rms: tf.Tensor; fac: FactoredSlot };

const GROUPS = 14;
const OPTIONS = ['learningRate', 'weightDecay', 'orthogonalize', 'routing', 'regex1d', 'embedByName', 'mult1d', 'adamBeta1', 'adamBeta2', 'adamEpsilon', 'expMult', 'rmsMult', 'nsCoeffs', 'nsIters', 'nsEps', 'hiddenSize', 'initialMomentumDecays', 'initialRmsDecays', 'initialAdafactorDecays'];

function checkRegex(value: unknown): string {
  const s = value ?? '.*bias.*|.*embed.*';
  try {
    if (typeof s !== 'string') throw new Error('not a string');
    new RegExp(s);
  } catch (e) {
    throw new LoptError('INVALID_OPTION', `Option 'regex1d' must be a valid regular expression string, got ${JSON.stringify(s)} (${(e as Error).message}).`, { option: 'regex1d' });
  }
  return s;
}

function celo2Config(options: Partial<Celo2Config>): Celo2Config {
  checkKnownOptions('celo2', options, OPTIONS);
  const routing = checkOneOf('routing', options.routing ?? 'pylo', ['pylo', 'regex'] as const);
  const ns = newtonSchulzConfig({ coeffs: options.nsCoeffs ?? [3.4445, -4.775, 2.0315], iterations: options.nsIters ?? 5, eps: options.nsEps ?? 1e-8 });
  return {
    ...adafacDecayConfig({ initialRmsDecays: [0.95], ...options }),
    learningRate: checkNumber('learningRate', options.learningRate ?? 1e-3, { min: 0 }),
    weightDecay: checkNumber('weightDecay', options.weightDecay ?? 0, { min: 0 }),
    orthogonalize: checkBool('orthogonalize', options.orthogonalize, true),
    routing,
    regex1d: checkRegex(options.regex1d),
    embedByName: checkBool('embedByName', options.embedByName, true),
    mult1d: checkNumber('mult1d', options.mult1d ?? (routing === 'regex' ? 20 : 1), { min: 0 }),
    adamBeta1: checkNumber('adamBeta1', options.adamBeta1 ?? 0.9, { min: 0, lessThan: 1 }),
    adamBeta2: checkNumber('adamBeta2', options.adamBeta2 ?? 0.95, { min: 0, lessThan: 1 }),
    adamEpsilon: checkNumber('adamEpsilon', options.adamEpsilon ?? 1e-8, { min: 0 }),
    expMult: checkNumber('expMult', options.expMult ?? 0),
    rmsMult: checkNumber('rmsMult', options.rmsMult ?? 1),
    nsCoeffs: ns.coeffs,
    nsIters: ns.iterations,
    nsEps: ns.eps,
    hiddenSize: checkNumber('hiddenSize', options.hiddenSize ?? 8, { integer: true, min: 1 }),
  };
}

/** The three dense layers (in, out) from PyLO's (out, in) weights. */
function celo2Layers(theta: Celo2Theta): DenseParams[] {
  const w0 = tf.concat(Array.from({ length: GROUPS }, (_, i) => tf.transpose(theta[`first_layer_weights.${i}`] as tf.Tensor)), 0) as tf.Tensor2D;
  return [
    { w: w0, b: theta.first_layer_bias as tf.Tensor1D },
    { w: tf.transpose(theta['hidden.weight'] as tf.Tensor) as tf.Tensor2D, b: theta['hidden.bias'] as tf.Tensor1D },
    { w: tf.transpose(theta['output.weight'] as tf.Tensor) as tf.Tensor2D, b: theta['output.bias'] as tf.Tensor1D },
  ];
}

/** A Haiku-style random theta in PyLO's layout. */
function initCelo2Theta(k: Key, widths: readonly number[], hidden: number): Celo2Theta {
  return tf.tidy(() => initCelo2ThetaUntidied(k, widths, hidden));
}

function initCelo2ThetaUntidied(k: Key, widths: readonly number[], hidden: number): Celo2Theta {
  const [k0, k1, k2] = split(k, 3) as [Key, Key, Key];
  const l0 = initDense(k0, widths.reduce((a, b) => a + b, 0), hidden);
  const l1 = initDense(k1, hidden, hidden);
  const l2 = initDense(k2, hidden, 3);
  const theta: Celo2Theta = {};
  let row = 0;
  widths.forEach((w, i) => {
    theta[`first_layer_weights.${i}`] = tf.transpose(tf.slice(l0.w, [row, 0], [w, hidden]));
    row += w;
  });
  theta.first_layer_bias = l0.b;
  theta['hidden.weight'] = tf.transpose(l1.w);
  theta['hidden.bias'] = l1.b;
  theta['output.weight'] = tf.transpose(l2.w);
  theta['output.bias'] = l2.b;
  return theta;
}

/** Mean over the last two axes (the only one for rank 1), kept for broadcasting. */
function meanLastTwo(x: tf.Tensor): tf.Tensor {
  return tf.mean(x, x.rank >= 2 ? [-2, -1] : [-1], true);
}

interface LearnedCtx {
  readonly layers: DenseParams[];
  readonly decays: CeloDecays;
  readonly cfg: Celo2Config;
  readonly ns: NewtonSchulzConfig;
}

/** The learned direction of one tensor (ALGORITHMS.md 4.1, 4.2): unit RMS per matrix slice. */
function learnedStep(p: tf.Tensor, g: tf.Tensor, slot: { m: tf.Tensor; rms: tf.Tensor; fac: FactoredSlot }, ctx: LearnedCtx) {
  const p1 = asAtLeast1d(p);
  const f = celoFeatures(p1, asAtLeast1d(tf.clipByValue(g, -1000, 1000)), slot, ctx.decays, 'celo2');
  const { direction, magnitude } = runCeloMlp(ctx.layers, celoNormalize(f.x, 'celo2'));
  let s = tf.reshape(ctx.cfg.expMult === 0 ? direction : tf.mul(direction, tf.exp(tf.mul(ctx.cfg.expMult, magnitude))), p1.shape);
  if (s.rank >= 2 && ctx.cfg.orthogonalize) s = newtonSchulzChecked(s, ctx.ns);
  s = tf.mul(tf.mul(s, tf.rsqrt(tf.add(1e-9, meanLastTwo(tf.square(s))))), ctx.cfg.rmsMult);
  return { s: tf.reshape(s, p.shape), slot: { m: f.m, rms: f.rms, fac: f.fac } };
}

function learnedLeaf(p: tf.Tensor, g: tf.Tensor, slot: { m: tf.Tensor; rms: tf.Tensor; fac: FactoredSlot }, ctx: LearnedCtx) {
  const { learningRate: lr, weightDecay: wd } = ctx.cfg;
  const { s, slot: next } = learnedStep(p, g, slot, ctx);
  let q = tf.sub(p, tf.mul(lr, s));
  if (wd > 0) q = tf.sub(q, tf.mul(lr * wd, ctx.cfg.routing === 'regex' ? p : q));
  return { p: q, slot: next };
}

/** The Adam branch of either reference (ALGORITHMS.md 4.3), raw gradient. */
function adamLeaf(p: tf.Tensor, g: tf.Tensor, slot: { adamM: tf.Tensor; adamV: tf.Tensor }, n: number, cfg: Celo2Config) {
  const { adamBeta1: b1, adamBeta2: b2, adamEpsilon: eps, weightDecay: wd } = cfg;
  const lr = cfg.learningRate * cfg.mult1d;
  const m = tf.add(tf.mul(b1, slot.adamM), tf.mul(1 - b1, g));
  const v = tf.add(tf.mul(b2, slot.adamV), tf.mul(1 - b2, tf.square(g)));
  if (cfg.routing === 'regex') {
    const u = tf.mul(m, tf.rsqrt(tf.add(v, eps)));
    return { p: tf.sub(tf.sub(p, tf.mul(lr, u)), tf.mul(wd * lr, p)), slot: { adamM: m, adamV: v } };
  }
  const decayed = wd > 0 ? tf.mul(p, 1 - lr * wd) : p;
  const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(1 - b2 ** n)), eps);
  return { p: tf.sub(decayed, tf.mul(lr / (1 - b1 ** n), tf.div(m, denom))), slot: { adamM: m, adamV: v } };
}

/** Initial per-leaf slots for the given routes. */
function initSlots(leaves: readonly tf.Tensor[], routes: readonly Celo2Route[], cfg: AdafacDecayConfig): Celo2Slot[] {
  return tidy<Celo2Slot[]>(() => {
    const acc: AdafacState = initAdafacState(leaves.map(asAtLeast1d), cfg);
    return leaves.map((p, i) => (routes[i] === 'adam' ? { adamM: tf.zerosLike(p), adamV: tf.zerosLike(p) } : { m: acc.mom[i] as tf.Tensor, rms: acc.rms[i] as tf.Tensor, fac: acc.fac[i] as FactoredSlot }));
  });
}

/**
 * Celo2 ("Celo2: Towards Learned Optimization Free Lunch", arXiv 2602.19142): a per-element
 * MLP 30 -> 8 -> 8 -> 3 over momentum, second-moment and factored features whose direction
 * output is orthogonalized by Newton–Schulz (as in Muon) and scaled to unit RMS per matrix,
 * `p <- p - learningRate * step`; selected tensors (biases, embeddings, ...) take an Adam
 * branch instead, by the rule of the chosen reference (`routing`). Follows
 * `../shared/pretrained/ALGORITHMS.md` section 4. Needs neither `ctx.loss` nor `numSteps`
 * (bring your own learning-rate schedule). Theta: PyLO's 19 tensors, 347 meta-parameters
 * (`pretrained('celo2')` loads the published ones).
 */
export function celo2(options: Partial<Celo2Config> = {}): LearnedArchitecture<Celo2Theta, Celo2Config> {
  const config = celo2Config(options);
  const widths = celoGroupWidths(config.initialMomentumDecays.length, config.initialRmsDecays.length, config.initialAdafactorDecays.length);
  const regex = new RegExp(config.regex1d);
  const ns = newtonSchulzConfig({ coeffs: config.nsCoeffs, iterations: config.nsIters, eps: config.nsEps });
  return {
    name: 'celo2',
    config,
    // Adam-routed tensors keep 2 slots; learned ones Km + Kr (4) plus factored accumulators.
    stateSlotsPerParameter: 2,
    hyperparameterPaths: () => [],
    init: (k: Key): Celo2Theta => initCelo2Theta(k, widths, config.hiddenSize),
    optimizer(theta: Celo2Theta): Optimizer {
      return {
        name: 'celo2',
        init(params: TensorTree): OptState {
          const leaves = treeFlatten(params).leaves;
          return { params, state: initSlots(leaves, routeCelo2(params, leaves, config.routing, regex, config.embedByName), config), iteration: 0 };
        },
        update(state: OptState, grads: TensorTree): OptState {
          checkGrads(state.params, grads, 'celo2');
          const slots = state.state as Celo2Slot[];
          return tidy<OptState>(() => {
            const { leaves, structure } = treeFlatten(state.params);
            const gl = treeFlatten(grads).leaves;
            let ctx: LearnedCtx | undefined;
            const out = leaves.map((p, i) => {
              const slot = slots[i] as Celo2Slot;
              if ('adamM' in slot) return adamLeaf(p, gl[i] as tf.Tensor, slot, state.iteration + 1, config);
              ctx ??= { layers: celo2Layers(theta), decays: decayTensors(config), cfg: config, ns };
              return learnedLeaf(p, gl[i] as tf.Tensor, slot, ctx);
            });
            return { params: treeUnflatten(structure, out.map((o) => o.p)), state: out.map((o) => o.slot), iteration: state.iteration + 1 };
          });
        },
      };
    },
  };
}
