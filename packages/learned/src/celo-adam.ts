import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, treeFlatten, treeUnflatten, type Key, type OptState, type Optimizer, type TensorTree, type UpdateContext, tidy } from '@lopt/core';
import { checkCeloCommon } from './celo.js';
import { checkNumSteps, initScheduler, initSchedulerState, schedulerStep, type CeloLstmInit, type CeloRnnParams, type CeloSchedulerState } from './celo-scheduler.js';
import { checkAdamDecays, checkGrads, checkKnownOptions, requireLoss, type AdamDecays } from './common.js';
import type { LearnedArchitecture } from './types.js';

/** Configuration of {@link celoAdam}; defaults are the reference's `get_optimizer('celo_adam')`. */
export type CeloAdamConfig = {
  /** Step multiplier (Adam's base learning rate). Default 1e-3. */
  readonly stepMult: number;
  /** First-moment decay. Default 0.9. */
  readonly beta1: number;
  /** Second-moment decay. Default 0.999. */
  readonly beta2: number;
  /** Epsilon added to the root. Default 1e-8 (a further 1e-10 sits inside the root, as the reference). */
  readonly epsilon: number;
  /** LSTM width of the scheduler. Default 64. */
  readonly lstmHiddenSize: number;
  /** Expected training length, when fixed at construction (else given to `optimizer` or `init`). */
  readonly numSteps?: number;
};

/** Meta-parameters of {@link celoAdam}: the tree of the reference's `theta.state` (scheduler only). */
export type CeloAdamTheta = {
  /** The learned initial LSTM state. */
  lstm_init_state: CeloLstmInit;
  /** The scheduler (no control head). */
  rnn_params: CeloRnnParams;
};

/** Adam's moments in the state of a learned-schedule Adam ({@link scheduledAdamOptimizer}). */
export type AdamMoments = {
  /** First moments (params leaf order). */
  m: tf.Tensor[];
  /** Second moments. */
  v: tf.Tensor[];
};

/** State of the optimizer {@link celoAdam} builds: Adam's moments, the loss buffer and the LSTM state. */
export type CeloAdamState = AdamMoments & {
  /** Loss buffer and LSTM state. */
  sched: CeloSchedulerState;
};

/** The Adam settings of a learned-schedule Adam besides its base learning rate (`scheduleAdam`, `controlAdam`). */
export type ScheduledAdamSettings = {
  /** First-moment decay. Default 0.9. */
  readonly beta1: number;
  /** Second-moment decay. Default 0.999. */
  readonly beta2: number;
  /** Epsilon added to the root. Default 1e-8. */
  readonly epsilon: number;
  /** Expected training length, when fixed at construction (else given to `optimizer` or `init`). */
  readonly numSteps?: number;
};

/** The configuration of a linear learned-schedule Adam ({@link linearScheduleAdam}): its Adam settings and base learning rate `stepMult`. */
export type LinearScheduleConfig = ScheduledAdamSettings & {
  /** Adam's base learning rate. Default 3e-3. */
  readonly stepMult: number;
};

/**
 * Validates the {@link LinearScheduleConfig} options of the architecture `name`: `stepMult`
 * (default 3e-3, positive), the moment decays, `epsilon` (default 1e-8) and `numSteps` if given.
 */
export function checkLinearScheduleConfig(name: string, options: Partial<LinearScheduleConfig>): LinearScheduleConfig {
  return {
    stepMult: checkNumber('stepMult', options.stepMult ?? 3e-3, { greaterThan: 0 }),
    ...checkAdamDecays(options),
    epsilon: checkNumber('epsilon', options.epsilon ?? 1e-8, { min: 0 }),
    ...(options.numSteps !== undefined ? { numSteps: checkNumSteps(name, options.numSteps) } : {}),
  };
}

/** Meta-parameters of a linear learned schedule: the log learning-rate multiplier is `w . x + b` over its inputs `x`. */
export type LinearScheduleTheta = {
  /** Weights `[inputs]`. */
  w: tf.Tensor1D;
  /** Bias `[]` (the log multiplier at zero inputs). */
  b: tf.Scalar;
};

/**
 * One bias-corrected Adam step of one tensor at step `n` (1-based) with learning rate `lr`, as
 * Celo-Adam's reference: the gradient clipped to ±1000, `p - mh * lr / (eps + sqrt(vh + 1e-10))`.
 * Shared by {@link celoAdam} and the learned-schedule Adam of lopt's own optimizer.
 */
export function adamLeafStep(p: tf.Tensor, grad: tf.Tensor, m0: tf.Tensor, v0: tf.Tensor, lr: tf.Scalar, n: number, cfg: { readonly beta1: number; readonly beta2: number; readonly epsilon: number }): { p: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  const { beta1, beta2 } = cfg;
  const g = tf.clipByValue(grad, -1000, 1000);
  const m = tf.add(tf.mul(beta1, m0), tf.mul(1 - beta1, g));
  const v = tf.add(tf.mul(beta2, v0), tf.mul(1 - beta2, tf.square(g)));
  const mh = tf.div(m, 1 - beta1 ** n);
  const vh = tf.div(v, 1 - beta2 ** n);
  return { p: tf.sub(p, tf.mul(mh, tf.div(lr, tf.add(cfg.epsilon, tf.sqrt(tf.add(vh, 1e-10)))))), m, v };
}

/** {@link adamLeafStep} on every leaf of `params` with the moments in leaf order; the new params (same structure) and moments. */
export function adamTreeStep(
  params: TensorTree,
  grads: TensorTree,
  moments: { readonly m: readonly tf.Tensor[]; readonly v: readonly tf.Tensor[] },
  at: { readonly lr: tf.Scalar; readonly n: number },
  cfg: AdamDecays & { readonly epsilon: number },
): { params: TensorTree; m: tf.Tensor[]; v: tf.Tensor[] } {
  const { leaves, structure } = treeFlatten(params);
  const gl = treeFlatten(grads).leaves;
  const out = leaves.map((p, i) => adamLeafStep(p, gl[i] as tf.Tensor, moments.m[i] as tf.Tensor, moments.v[i] as tf.Tensor, at.lr, at.n, cfg));
  return { params: treeUnflatten(structure, out.map((o) => o.p)), m: out.map((o) => o.m), v: out.map((o) => o.v) };
}

/**
 * Celo-Adam (the Adam-based variant of Celo, Moudgil et al. 2025): bias-corrected Adam whose
 * learning rate `stepMult * lr_mult` a learned LSTM scheduler sets every step from the
 * fraction of training done and ten loss EMAs (ALGORITHMS.md section 3):
 * `p <- p - mh * stepMult * lr_mult / (eps + sqrt(vh + 1e-10))`, gradients clipped to ±1000.
 * Needs `ctx.loss` at every step and `numSteps`. Theta: 36,865 meta-parameters
 * (`pretrained('celo-adam')` loads the published ones). State: 2 slots per parameter.
 */
export function celoAdam(options: Partial<CeloAdamConfig> = {}): LearnedArchitecture<CeloAdamTheta, CeloAdamConfig> {
  checkKnownOptions('celoAdam', options, ['stepMult', 'beta1', 'beta2', 'epsilon', 'lstmHiddenSize', 'numSteps']);
  const config: CeloAdamConfig = {
    stepMult: checkNumber('stepMult', options.stepMult ?? 1e-3),
    ...checkAdamDecays(options),
    epsilon: checkNumber('epsilon', options.epsilon ?? 1e-8, { min: 0 }),
    ...checkCeloCommon('celoAdam', options),
  };
  return {
    name: 'celoAdam',
    config,
    stateSlotsPerParameter: 2,
    hyperparameterPaths: () => [],
    init: (k: Key): CeloAdamTheta => initScheduler(k, config.lstmHiddenSize, false),
    optimizer(theta: CeloAdamTheta, optOpts: { numSteps?: number } = {}): Optimizer {
      return scheduledAdamOptimizer<{ sched: CeloSchedulerState }>('celoAdam', config, {
        defaultSteps: optOpts.numSteps ?? config.numSteps,
        lossUse: 'its scheduler reads loss EMAs',
        initSchedule: (numSteps) => ({ sched: initSchedulerState(numSteps, theta.lstm_init_state) }),
        schedule: (prev, loss, iteration) => {
          const { lrMult, next } = schedulerStep(theta.rnn_params, prev.sched, loss, iteration);
          return { lrMult, next: { sched: next } };
        },
      });
    },
  };
}

/** What a learned Adam schedule may read of the step: the gradient and the moments before it, in params leaf order. */
export interface AdamStepInputs {
  /** This step's gradient leaves. */
  readonly grads: readonly tf.Tensor[];
  /** First moments before this step. */
  readonly m: readonly tf.Tensor[];
  /** Second moments before this step. */
  readonly v: readonly tf.Tensor[];
}

/** How {@link scheduledAdamOptimizer}'s learning-rate multiplier is scheduled. */
export interface AdamSchedule<Sched extends object> {
  /** `numSteps` when neither `init` nor the caller gives one. */
  readonly defaultSteps: number | undefined;
  /** Why the schedule needs `ctx.loss` (for the error message). */
  readonly lossUse: string;
  /** The schedule's state fields at the start of a run of `numSteps` steps. */
  readonly initSchedule: (numSteps: number) => Sched;
  /**
   * The multiplier of the base learning rate at `iteration` (0-based) and the next schedule state;
   * `step` holds this step's gradient leaves and the moments before it (params leaf order).
   */
  readonly schedule: (prev: Sched, loss: tf.Scalar, iteration: number, step: AdamStepInputs) => { lrMult: tf.Tensor; next: Sched };
}

/**
 * The architecture of an Adam whose learning rate a linear learned schedule sets (`scheduleAdam`,
 * `controlAdam`): theta `{ w: [inputs], b }`, zero at init, and the optimizer
 * {@link scheduledAdamOptimizer} with the schedule `schedule(theta)` (`numSteps` from the
 * optimizer's options, else the config's). State: 2 slots per parameter.
 */
export function linearScheduleAdam<Config extends LinearScheduleConfig, Sched extends object>(
  name: string,
  config: Config,
  inputs: number,
  schedule: (theta: LinearScheduleTheta) => Omit<AdamSchedule<Sched>, 'defaultSteps'>,
): LearnedArchitecture<LinearScheduleTheta, Config> {
  return {
    name,
    config,
    stateSlotsPerParameter: 2,
    hyperparameterPaths: () => [],
    init: (_k: Key): LinearScheduleTheta => ({ w: tf.zeros([inputs]) as tf.Tensor1D, b: tf.scalar(0) }),
    optimizer: (theta: LinearScheduleTheta, optOpts: { numSteps?: number } = {}): Optimizer =>
      scheduledAdamOptimizer<Sched>(name, config, { defaultSteps: optOpts.numSteps ?? config.numSteps, ...schedule(theta) }),
  };
}

/**
 * The optimizer of an Adam whose learning rate `stepMult * lrMult` a learned schedule sets
 * every step from the loss ({@link celoAdam}, `scheduleAdam`): state `{ m, v, ...schedule }`,
 * steps by {@link adamTreeStep}.
 */
export function scheduledAdamOptimizer<Sched extends object>(
  name: string,
  config: AdamDecays & { readonly epsilon: number; readonly stepMult: number },
  spec: AdamSchedule<Sched>,
): Optimizer {
  return {
    name,
    init(params: TensorTree, initOpts: { numSteps?: number } = {}): OptState {
      const numSteps = checkNumSteps(name, initOpts.numSteps ?? spec.defaultSteps);
      const leaves = treeFlatten(params).leaves;
      return { params, state: { m: leaves.map((p) => tf.zerosLike(p)), v: leaves.map((p) => tf.zerosLike(p)), ...spec.initSchedule(numSteps) }, iteration: 0 };
    },
    update(state: OptState, grads: TensorTree, ctx?: UpdateContext): OptState {
      checkGrads(state.params, grads, name);
      const loss = requireLoss(ctx, name, spec.lossUse);
      const prev = state.state as { m: tf.Tensor[]; v: tf.Tensor[] } & Sched;
      const n = state.iteration + 1;
      return tidy<OptState>(() => {
        const { lrMult, next } = spec.schedule(prev, loss, state.iteration, { grads: treeFlatten(grads).leaves, m: prev.m, v: prev.v });
        const out = adamTreeStep(state.params, grads, prev, { lr: tf.mul(lrMult, config.stepMult) as tf.Scalar, n }, config);
        return { params: out.params, state: { m: out.m, v: out.v, ...next }, iteration: n };
      });
    },
  };
}
