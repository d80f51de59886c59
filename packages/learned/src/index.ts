/**
 * `@lopt/learned`: learned-optimizer architectures. Each factory returns a
 * `LearnedOptimizer`: `init(key)` gives the meta-parameters theta (a tensor tree),
 * `optimizer(theta)` an ordinary `Optimizer` any training loop can use.
 * @packageDocumentation
 */
export type { LearnedArchitecture } from './types.js';
export { learnableSgd, learnableSgdm, learnableAdam } from './learnable.js';
export type { LearnableSgdConfig, LearnableSgdTheta, LearnableSgdmConfig, LearnableSgdmTheta, LearnableAdamConfig, LearnableAdamTheta } from './learnable.js';
export { mlpLOpt } from './mlp-lopt.js';
export type { MlpLOptConfig, MlpLOptTheta, MlpLOptState } from './mlp-lopt.js';
export { adafacMlpLOpt } from './adafac-mlp-lopt.js';
export type { AdafacMlpLOptConfig } from './adafac-mlp-lopt.js';
export type { AdafacDecayConfig, AdafacTheta, AdafacState } from './adafac-features.js';
export { mlpNomLOpt, NOMINAL_ESTIMATORS } from './mlp-nom-lopt.js';
export type { MlpNomLOptConfig, NominalEstimator } from './mlp-nom-lopt.js';
export { dmdLOpt } from './dmd-lopt.js';
export type { DmdLOptConfig, DmdLOptTheta, DmdLOptState } from './dmd-lopt.js';
export { dmdFeatures, dmdFeaturesNoGrad, DMD_FEATURES, DMD_CLIP } from './dmd-features.js';
export { traceUpdates } from './analysis/trace.js';
export type { TraceOptions, UpdateTrace } from './analysis/trace.js';
export { fitMomentum } from './analysis/fit-momentum.js';
export type { FitMomentumOptions, MomentumFit } from './analysis/fit-momentum.js';
export { fitLearningRateSchedule, SCHEDULE_TEMPLATES } from './analysis/fit-schedule.js';
export type { FitScheduleOptions, ScheduleFit } from './analysis/fit-schedule.js';
export { fitClipping } from './analysis/fit-clipping.js';
export type { ClippingFit } from './analysis/fit-clipping.js';
export { fitBehaviour, behaviourTable } from './analysis/behaviour.js';
export type { BehaviourFit, BehaviourRow } from './analysis/behaviour.js';
export { rnnMlpLOpt } from './rnn-mlp-lopt.js';
export type { RnnMlpLOptConfig, RnnMlpLOptTheta, RnnMlpLOptState } from './rnn-mlp-lopt.js';
export { nnAdam } from './nn-adam.js';
export type { NnAdamConfig, NnAdamTheta, NnAdamState } from './nn-adam.js';
export { lstmL2L } from './lstm-l2l.js';
export type { LstmL2LConfig, LstmL2LTheta, LstmL2LState, L2LLstmLayer } from './lstm-l2l.js';
export {
  TIMESCALES,
  tanhEmbedding,
  sinEmbedding,
  secondMomentNormalize,
  factoredDims,
  decayToParam,
  paramToDecay,
  updateMomentum,
  updateRms,
  updateFactored,
  initFactored,
} from './common.js';
export type { FactoredSlot, FactoredUpdate, FusedMode, DenseParams, LstmCarry, LstmParams } from './common.js';
export { fusedAdafacAvailable } from './adafac-fused.js';
export { ARCHITECTURES, RUNTIME_CONFIG_KEYS } from './architectures.js';
export type { ArchitectureEntry, ArchitectureFactory } from './architectures.js';
export { saveLearnedOptimizer, loadLearnedOptimizer, LEARNED_OPTIMIZER_KIND } from './checkpoint.js';
export type { LoadedLearnedOptimizer, LoadLearnedOptimizerOptions } from './checkpoint.js';
export { celo } from './celo.js';
export type { CeloConfig, CeloTheta, CeloState } from './celo.js';
export { celoAdam, checkLinearScheduleConfig, linearScheduleAdam } from './celo-adam.js';
export type { CeloAdamConfig, CeloAdamTheta, CeloAdamState, AdamStepInputs, AdamMoments, ScheduledAdamSettings, LinearScheduleTheta, LinearScheduleConfig, AdamSchedule } from './celo-adam.js';
export { scheduleAdam, scheduleLogMult } from './schedule-adam.js';
export { controlAdam, controlInputs, controlStep, stepAgreement, CONTROL_INPUTS, LOG_MULT_BOUND } from './control-adam.js';
export type { ControlAdamConfig, ControlAdamTheta, ControlAdamSchedule } from './control-adam.js';
export type { ScheduleAdamConfig, ScheduleAdamTheta, ScheduleAdamState } from './schedule-adam.js';
export { celo2 } from './celo2.js';
export type { Celo2Config, Celo2Theta, Celo2Slot } from './celo2.js';
export type { Celo2Routing, Celo2Route } from './celo2-routing.js';
export type { CeloRnnParams, CeloLstmInit, CeloSchedulerState, HaikuLinear, LossBuffer } from './celo-scheduler.js';
export type { CeloStackMlp } from './celo-mlp.js';
export { pretrained, pretrainedOptimizer, PRETRAINED_NAMES } from './pretrained/pretrained.js';
export type { Pretrained, PretrainedOptimizerOptions } from './pretrained/pretrained.js';
export { PRETRAINED_SOURCES } from './pretrained/sources.js';
export type { PretrainedName, PretrainedSource } from './pretrained/sources.js';
export { registerAll } from './register.js';
export { readFlaxMsgpack } from './formats/flax.js';
export { readTorchStateDict } from './formats/torch.js';
export type { RawTensor, RawTree, ReadLimits } from './formats/raw-tree.js';
export { referenceCheckpointToTheta } from './formats/reference-checkpoint.js';
export type { ReferenceTheta } from './formats/reference-checkpoint.js';
export type { ReferenceArchitecture, ReferenceFormat } from './formats/reference-layouts.js';
export { updateResponse, updateResponseDuringTraining, DEFAULT_GRADIENT_GRID } from './analysis/update-response.js';
export type { UpdateResponse, UpdateResponseOptions, TrainingResponse, TrainingResponseOptions, ResponseSnapshot } from './analysis/update-response.js';
