import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, split, treeFlatten, treeUnflatten, type Key, type OptState, type Optimizer, type TensorTree, type UpdateContext, tidy } from '@lopt/core';
import { adafacDecayConfig, initAdafacState, type AdafacDecayConfig, type AdafacState } from './adafac-features.js';
import { asAtLeast1d, celoFeatures, celoGroupWidths, celoNormalize, type CeloDecays } from './celo-features.js';
import { celoStackLayers, initCeloStack, runCeloMlp, type CeloStackMlp } from './celo-mlp.js';
import { checkNumSteps, initScheduler, initSchedulerState, schedulerStep, type CeloLstmInit, type CeloRnnParams, type CeloSchedulerState } from './celo-scheduler.js';
import { checkGrads, checkKnownOptions, requireLoss, type FactoredSlot } from './common.js';
import type { LearnedArchitecture } from './types.js';

/** Configuration of {@link celo}; defaults are the reference's `get_optimizer('celo')`. */
export type CeloConfig = AdafacDecayConfig & {
  /** Step multiplier. Default 1e-3. */
  readonly stepMult: number;
  /** Multiplier inside the exponential of the magnitude output. Default 1e-3. */
  readonly expMult: number;
  /** Hidden width of the per-element MLP (2 hidden layers). Default 4. */
  readonly hiddenSize: number;
  /** LSTM width of the scheduler. Default 64. */
  readonly lstmHiddenSize: number;
  /** Expected training length, when fixed at construction (else given to `optimizer` or `init`). */
  readonly numSteps?: number;
};

/** Meta-parameters of {@link celo}: the tree of the reference's `theta.state`. */
export type CeloTheta = {
  /** The per-element MLP (`ff_mod_stack['~'].w0__0 .. w0__13, b0, w1, b1, w2, b2`). */
  ff_mod_stack: { '~': CeloStackMlp };
  /** The learned initial LSTM state. */
  lstm_init_state: CeloLstmInit;
  /** The scheduler. */
  rnn_params: CeloRnnParams;
};

/** State of the optimizer {@link celo} builds (params leaf order; rank-0 leaves as `[1]`). */
export type CeloState = {
  /** Momenta `[Km, ...shape]`. */
  mom: tf.Tensor[];
  /** Second moments `[Kr, ...shape]`. */
  rms: tf.Tensor[];
  /** Factored accumulators. */
  fac: FactoredSlot[];
  /** Loss buffer and LSTM state. */
  sched: CeloSchedulerState;
};

const GROUPS = 14;

/** Validates the options shared by Celo and Celo-Adam's scheduler. */
export function checkCeloCommon(name: string, options: { lstmHiddenSize?: unknown; numSteps?: unknown }): { lstmHiddenSize: number; numSteps?: number } {
  return {
    lstmHiddenSize: checkNumber('lstmHiddenSize', options.lstmHiddenSize ?? 64, { integer: true, min: 1 }),
    ...(options.numSteps !== undefined ? { numSteps: checkNumSteps(name, options.numSteps) } : {}),
  };
}

/** Constant decay tensors of a config. */
export function decayTensors(cfg: AdafacDecayConfig): CeloDecays {
  return {
    mom: tf.tensor1d(cfg.initialMomentumDecays as number[]),
    rms: tf.tensor1d(cfg.initialRmsDecays as number[]),
    fac: tf.tensor1d(cfg.initialAdafactorDecays as number[]),
  };
}

/** Zero accumulators for every leaf of `params` (rank-0 leaves as shape `[1]`). */
export function initCeloAccumulators(params: TensorTree, cfg: AdafacDecayConfig): AdafacState {
  return tidy((): AdafacState => initAdafacState(treeFlatten(params).leaves.map(asAtLeast1d), cfg));
}

/** One Celo step of one tensor (ALGORITHMS.md 2.5, item 5). */
function celoLeaf(p: tf.Tensor, g: tf.Tensor, slot: { m: tf.Tensor; rms: tf.Tensor; fac: FactoredSlot }, ctx: { layers: ReturnType<typeof celoStackLayers>; decays: CeloDecays; lrMult: tf.Scalar; cfg: CeloConfig }) {
  const p1 = asAtLeast1d(p);
  const f = celoFeatures(p1, asAtLeast1d(g), slot, ctx.decays, 'celo');
  const { direction, magnitude } = runCeloMlp(ctx.layers, celoNormalize(f.x, 'celo'));
  const scale = tf.sqrt(tf.add(tf.mean(tf.square(p)), 1e-9));
  const step = tf.mul(ctx.lrMult, tf.mul(tf.mul(direction, tf.mul(scale, tf.exp(tf.mul(ctx.cfg.expMult, magnitude)))), ctx.cfg.stepMult));
  return { p: tf.sub(p, tf.reshape(step, p.shape)), m: f.m, rms: f.rms, fac: f.fac };
}

/**
 * Celo (Moudgil et al., "Celo: Training Versatile Learned Optimizers on a Compute Diet",
 * TMLR 2025): a per-element MLP 30 -> 4 -> 4 -> 3 over momentum, second-moment and
 * Adafactor-style features, driven by a learned LSTM scheduler that reads the fraction of
 * training done and ten loss EMAs, exactly as `../shared/pretrained/ALGORITHMS.md` section 2.
 * `p <- p - lr_mult * direction * rms(p) * exp(expMult * magnitude) * stepMult` for every
 * tensor. Needs `ctx.loss` at every step and `numSteps` (factory, `optimizer` or `init`).
 * Theta is the reference's tree (37,089 meta-parameters); `pretrained('celo')` loads the
 * published weights. State: 3 momenta, 1 second moment per element, factored accumulators.
 */
export function celo(options: Partial<CeloConfig> = {}): LearnedArchitecture<CeloTheta, CeloConfig> {
  checkKnownOptions('celo', options, ['stepMult', 'expMult', 'hiddenSize', 'lstmHiddenSize', 'numSteps', 'initialMomentumDecays', 'initialRmsDecays', 'initialAdafactorDecays']);
  const config: CeloConfig = {
    ...adafacDecayConfig({ initialRmsDecays: [0.999], ...options }),
    stepMult: checkNumber('stepMult', options.stepMult ?? 1e-3),
    expMult: checkNumber('expMult', options.expMult ?? 1e-3),
    hiddenSize: checkNumber('hiddenSize', options.hiddenSize ?? 4, { integer: true, min: 1 }),
    ...checkCeloCommon('celo', options),
  };
  const widths = celoGroupWidths(config.initialMomentumDecays.length, config.initialRmsDecays.length, config.initialAdafactorDecays.length);
  return {
    name: 'celo',
    config,
    stateSlotsPerParameter: config.initialMomentumDecays.length + config.initialRmsDecays.length,
    hyperparameterPaths: () => [],
    init(k: Key): CeloTheta {
      const [k0, k1] = split(k, 2) as [Key, Key];
      return { ff_mod_stack: { '~': initCeloStack(k0, widths, config.hiddenSize) }, ...initScheduler(k1, config.lstmHiddenSize, true) };
    },
    optimizer(theta: CeloTheta, optOpts: { numSteps?: number } = {}): Optimizer {
      const defaultSteps = optOpts.numSteps ?? config.numSteps;
      return {
        name: 'celo',
        init(params: TensorTree, initOpts: { numSteps?: number } = {}): OptState {
          const n = checkNumSteps('celo', initOpts.numSteps ?? defaultSteps);
          const acc = initCeloAccumulators(params, config);
          return { params, state: { ...acc, sched: initSchedulerState(n, theta.lstm_init_state) }, iteration: 0 };
        },
        update(state: OptState, grads: TensorTree, ctx?: UpdateContext): OptState {
          checkGrads(state.params, grads, 'celo');
          const loss = requireLoss(ctx, 'celo', 'its scheduler reads loss EMAs');
          const prev = state.state as CeloState;
          return tidy<OptState>(() => {
            const { leaves, structure } = treeFlatten(state.params);
            const gl = treeFlatten(grads).leaves.map((g) => tf.clipByValue(g, -1000, 1000));
            const { lrMult, control, next } = schedulerStep(theta.rnn_params, prev.sched, loss, state.iteration);
            // The MLP weights are the stack's mean weighted by the controls: member 0 times exactly 1.
            const layers = celoStackLayers(theta.ff_mod_stack['~'], GROUPS).map((l) => (control ? { w: tf.mul(l.w, control) as tf.Tensor2D, b: tf.mul(l.b, control) as tf.Tensor1D } : l));
            const shared = { layers, decays: decayTensors(config), lrMult, cfg: config };
            const out = leaves.map((p, i) => celoLeaf(p, gl[i] as tf.Tensor, { m: prev.mom[i] as tf.Tensor, rms: prev.rms[i] as tf.Tensor, fac: prev.fac[i] as FactoredSlot }, shared));
            return {
              params: treeUnflatten(structure, out.map((o) => o.p)),
              state: { mom: out.map((o) => o.m), rms: out.map((o) => o.rms), fac: out.map((o) => o.fac), sched: next },
              iteration: state.iteration + 1,
            };
          });
        },
      };
    },
  };
}
