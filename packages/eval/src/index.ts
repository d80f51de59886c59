/**
 * `@lopt/eval`: the lopt evaluation protocol. The one memory-safe inner training loop
 * (`trainOnTask`), statistics (paired differences, IQM with stratified bootstrap confidence
 * intervals, speedup to target, AlgoPerf performance profiles), baseline tuning over a
 * declared search space with a result cache, and versioned benchmark suites.
 * Node file I/O (the on-disk cache, the worker pool) lives in `@lopt/eval/node`.
 * @packageDocumentation
 */
export { trainOnTask, evaluateLoss } from './train.js';
export type { CurvePoint, TrainResult, TrainOptions, BatchHolder } from './train.js';
export { mean, std, pairedComparison } from './paired.js';
export type { PairedComparison } from './paired.js';
export { interquartileMean, percentile, stratifiedResample, stratifiedBootstrapCI } from './iqm.js';
export type { BootstrapOptions, ConfidenceInterval } from './iqm.js';
export { stepsToReach, speedupToTarget } from './speedup.js';
export type { LossCurve, Speedup } from './speedup.js';
export { performanceRatios, profileScores, performanceProfile } from './profile.js';
export type { PerformanceProfile } from './profile.js';
