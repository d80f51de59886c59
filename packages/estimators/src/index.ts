/**
 * `@lopt/estimators`: truncated unrolls of learned optimizers over task families, gradient
 * estimators for meta-training (TBPTT, truncated ES, PES, full ES) and the meta-trainer.
 * Node-only checkpoint files live in `@lopt/estimators/node`.
 * @packageDocumentation
 */
export { constantTruncation, logUniformTruncation, neverEnding, checkTruncationSchedule } from './truncation.js';
export type { TruncationSchedule, TruncationState } from './truncation.js';
export { batchTheta, unbatchTheta, checkTruncatedStep, initAtTheta, unrollStateInit, maskedMeanPerTask, unrollAll } from './truncated-step.js';
export type {
  BatchedTheta,
  TruncatedStep,
  TruncatedStepInitOptions,
  TruncatedUnrollOptions,
  TruncatedUnrollOut,
  TruncatedUnrollItem,
} from './truncated-step.js';
export { lOptTruncatedStep, emptyUnrollTimings } from './lopt-truncated-step.js';
export type { UnrollTimings, LOptTruncatedStepOptions, LOptTruncatedState, LOptTaskState, MetaLossKind } from './lopt-truncated-step.js';
export { packState, unpackState, cloneState, disposeExcept } from './state.js';
export type { PackedJson } from './state.js';
export { samplePerturbations, perturb, antitheticThetas, weightedTaskMean, parseESOptions } from './common.js';
export type { EstimatorBaseOptions, ESOptions, ParsedESOptions } from './common.js';
export { tbptt } from './tbptt.js';
export type { TbpttOptions, TbpttState } from './tbptt.js';
export { truncatedES } from './truncated-es.js';
export type { TruncatedESOptions, TruncatedESState } from './truncated-es.js';
export { truncatedPES, pesCoefficients, pesTensorStep } from './truncated-pes.js';
export type { TruncatedPESOptions, TruncatedPESState, PESCoefficients } from './truncated-pes.js';
export { fullES } from './full-es.js';
export type { FullESOptions, FullESState, FullESLossType } from './full-es.js';
export { metaTrain } from './meta-train.js';
export type { MetaTrainMetrics, MetaTrainOptions, MetaTrainResult } from './meta-train.js';
export { memoryCheckpointStore, metaTrainCheckpointStep, META_TRAIN_CHECKPOINT_KIND } from './meta-train-checkpoint.js';
export type { CheckpointStore, MetaTrainCheckpointOptions } from './meta-train-checkpoint.js';
export { checkEstimate, encodeEstimate, decodeEstimate, encodeTheta, decodeTheta } from './estimate-source.js';
export type { EstimateSource, CollectedEstimates, WorkerEstimate, EstimateRejection } from './estimate-source.js';
export { registerAll } from './registry.js';
