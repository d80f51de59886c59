/**
 * `@lopt/optimizers`: hand-designed optimizers for lopt as composable, optax-style gradient
 * transformations, plus schedules, wrappers and a drop-in `tf.Optimizer` adapter.
 * @packageDocumentation
 */
export { optimizerFrom, chain, identity } from './transformation.js';
export type { EmptyState, TransformationOptimizer, OptimizerFromOptions } from './transformation.js';
export type { Hyper, LearningRate, Schedule } from './hyper.js';
export { scale, scaleBySchedule, scaleByLearningRate } from './transforms/scale.js';
export type { ScheduleState, ScaleByLearningRateOptions } from './transforms/scale.js';
export { scaleByAdam } from './transforms/adam.js';
export type { ScaleByAdamOptions, ScaleByAdamState } from './transforms/adam.js';
export { trace, addDecayedWeights } from './transforms/momentum.js';
export type { TraceOptions, TraceState, AddDecayedWeightsOptions } from './transforms/momentum.js';
export { masked } from './transforms/masked.js';
export type { Mask, MaskTree } from './transforms/masked.js';
export { sgd } from './optimizers/sgd.js';
export type { SgdOptions } from './optimizers/sgd.js';
export { adam, adamw } from './optimizers/adam.js';
export type { AdamOptions, AdamWOptions } from './optimizers/adam.js';
