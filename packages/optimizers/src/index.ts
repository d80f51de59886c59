/**
 * `@lopt/optimizers`: hand-designed optimizers for lopt as composable, optax-style gradient
 * transformations, plus schedules, wrappers and a drop-in `tf.Optimizer` adapter.
 *
 * State convention: every transformation's state is a plain tensor tree (objects and
 * arrays of tensors); step counters are int32 scalar tensors inside it (`count`), so an
 * optimizer state checkpoints with `serializeTree({ params, state })`, with
 * `OptState.iteration` carried in the checkpoint metadata.
 * @packageDocumentation
 */
export { optimizerFrom, chain, identity } from './transformation.js';
export type { EmptyState, TransformationOptimizer, OptimizerFromOptions } from './transformation.js';
export type { Hyper, LearningRate, Schedule } from './hyper.js';

// transformations
export { scale, scaleBySchedule, scaleByLearningRate } from './transforms/scale.js';
export type { ScheduleState, ScaleByLearningRateOptions } from './transforms/scale.js';
export { scaleByAdam, biasCorrectedMu } from './transforms/adam.js';
export type { ScaleByAdamOptions, ScaleByAdamState } from './transforms/adam.js';
export { scaleByBelief, scaleByRAdam, scaleByYogi, scaleByAmsgrad, scaleByAdamax, scaleByLion } from './transforms/adam_variants.js';
export type {
  ScaleByRAdamOptions,
  ScaleByYogiOptions,
  ScaleByAmsgradState,
  ScaleByLionOptions,
  ScaleByLionState,
} from './transforms/adam_variants.js';
export { scaleByRms, scaleByStddev, scaleByRss, scaleByAdadelta } from './transforms/rms.js';
export type {
  ScaleByRmsOptions,
  ScaleByRmsState,
  ScaleByStddevState,
  ScaleByRssOptions,
  ScaleByRssState,
  ScaleByAdadeltaOptions,
  ScaleByAdadeltaState,
} from './transforms/rms.js';
export { scaleByFactoredRms, clipByBlockRms, scaleByParamBlockRms, emaTransform, factoredDims } from './transforms/factored.js';
export type { ScaleByFactoredRmsOptions, ScaleByFactoredRmsState, FactoredLeafState, EmaOptions, EmaState } from './transforms/factored.js';
export { scaleByTrustRatio } from './transforms/trust_ratio.js';
export type { ScaleByTrustRatioOptions } from './transforms/trust_ratio.js';
export { trace, addDecayedWeights } from './transforms/momentum.js';
export type { TraceOptions, TraceState, AddDecayedWeightsOptions } from './transforms/momentum.js';
export { clip, clipByGlobalNorm } from './transforms/clip.js';
export { newtonSchulz, newtonSchulzChecked, newtonSchulzConfig, scaleByNewtonSchulz, NEWTON_SCHULZ_COEFFS } from './transforms/newton_schulz.js';
export type { NewtonSchulzOptions, NewtonSchulzConfig } from './transforms/newton_schulz.js';
export { masked } from './transforms/masked.js';
export type { Mask, MaskTree } from './transforms/masked.js';
export { injectHyperparams, getHyperparams, setHyperparams } from './inject.js';
export type { InjectHyperparamsState, InjectHyperparamsOptions, InjectedOptimizer, OptimizerFactory } from './inject.js';

// optimizers
export { sgd } from './optimizers/sgd.js';
export type { SgdOptions } from './optimizers/sgd.js';
export { adam, adamw } from './optimizers/adam.js';
export type { AdamOptions, AdamWOptions } from './optimizers/adam.js';
export { nadamw, amsgrad, adamax, radam, yogi, adabelief } from './optimizers/adaptive.js';
export type { AmsgradOptions, AdamaxOptions, RAdamOptions, YogiOptions, AdaBeliefOptions } from './optimizers/adaptive.js';
export type { LearningRateOption } from './optimizers/learning-rate-scaled.js';
export { rmsprop, adagrad, adadelta } from './optimizers/rms.js';
export type { RmspropOptions, AdagradOptions, AdadeltaOptions } from './optimizers/rms.js';
export { adafactor } from './optimizers/adafactor.js';
export type { AdafactorOptions } from './optimizers/adafactor.js';
export { lion } from './optimizers/lion.js';
export type { LionOptions } from './optimizers/lion.js';
export { lars, lamb } from './optimizers/trust.js';
export type { LarsOptions, LambOptions } from './optimizers/trust.js';
export { scheduleFreeSgd, scheduleFreeAdamw } from './optimizers/schedule_free.js';
export { muon, scaleByMuon, scaleByShape } from './optimizers/muon.js';
export type { MuonOptions, ScaleByMuonOptions, ScaleByMuonState } from './optimizers/muon.js';
export { mfac, scaleByMfac } from './curvature/mfac.js';
export { shampoo, scaleByShampoo } from './curvature/shampoo.js';
export type { ShampooOptions, ShampooState, ShampooLeafState } from './curvature/shampoo.js';
export { GRAFT_TYPES } from './curvature/grafting.js';
export { soap, scaleBySoap } from './curvature/soap.js';
export { kfac } from './curvature/kfac.js';
export type { KfacOptions } from './curvature/kfac.js';
export { foof } from './curvature/foof.js';
export type { FoofOptions } from './curvature/foof.js';
export { mbf } from './curvature/mbf.js';
export type { MbfOptions } from './curvature/mbf.js';
export { layerwiseOptimizer, denseLayersOf } from './curvature/layerwise.js';
export type { LayerPreconditioner, LayerwiseOptions, LayerwiseState } from './curvature/layerwise.js';
export type { SoapOptions, SoapState, SoapLeafState } from './curvature/soap.js';
export type { GraftType } from './curvature/grafting.js';
export type { MfacOptions, ScaleByMfacOptions, ScaleByMfacState } from './curvature/mfac.js';
export type { ScheduleFreeCommonOptions, ScheduleFreeSgdOptions, ScheduleFreeAdamwOptions } from './optimizers/schedule_free.js';

// schedules
export {
  constant,
  polynomial,
  linear,
  exponentialDecay,
  cosineDecay,
  warmupCosineDecay,
  warmupConstant,
  piecewiseConstant,
  sgdr,
  joinSchedules,
} from './schedules.js';
export type {
  PolynomialOptions,
  LinearOptions,
  ExponentialDecayOptions,
  CosineDecayOptions,
  WarmupCosineDecayOptions,
  WarmupConstantOptions,
  PiecewiseConstantOptions,
} from './schedules.js';
export { NAMED_SCHEDULES, scheduleByName, isScheduleName } from './named-schedules.js';
export type { ScheduleName } from './named-schedules.js';

// wrappers
export { lookahead, lookaheadSlowParams } from './wrappers/lookahead.js';
export type { LookaheadOptions, LookaheadState } from './wrappers/lookahead.js';
export { gradientAccumulation } from './wrappers/accumulation.js';
export type { GradientAccumulationOptions, GradientAccumulationState } from './wrappers/accumulation.js';
export { graft } from './wrappers/graft.js';
export type { GraftState } from './wrappers/graft.js';
export { gradientClip } from './wrappers/clip.js';
export { scheduleFree, scheduleFreeEvalParams } from './wrappers/schedule_free.js';
export type { ScheduleFreeOptions, ScheduleFreeState } from './wrappers/schedule_free.js';
export type { GradientClipOptions } from './wrappers/clip.js';

// self-tuning step sizes (hypergradient towers, MetaOptimize)
export { hypergradient, readTrajectory, TUNED_BETA2_EPSILON_ROOT } from './selftuning/hypergradient.js';
export type {
  HypergradientOptions,
  HypergradientOptimizer,
  HypergradientState,
  HypergradientPrevious,
  HypergradientMethod,
  SelfTuningOptimizer,
  TrajectoryOptions,
} from './selftuning/hypergradient.js';
export { metaOptimize, META_OPTIMIZE_BASES } from './selftuning/meta-optimize.js';
export type { MetaOptimizeOptions, MetaOptimizeOptimizer, MetaOptimizeState, MetaAlgorithm, StepSizeBlocks } from './selftuning/meta-optimize.js';
export { HYPER_SPACES } from './selftuning/spaces.js';
export type { HyperSpace } from './selftuning/spaces.js';
export type { HyperparamTrajectory } from './selftuning/trajectory.js';
export { REBUILDABLE_OPTIMIZERS } from './selftuning/rebuild.js';
export { registerSelfTuning, SELF_TUNING_NAMES } from './selftuning/register.js';

// registry
export { registerAll, OPTIMIZER_NAMES } from './register.js';
export { toTfjsOptimizer, LoptTfjsOptimizer, registerTfjsOptimizer } from './tfjs.js';
export type { TfjsOptimizerSource } from './tfjs.js';
export type { TfjsOptimizerRecipe } from './tfjs-recipe.js';
