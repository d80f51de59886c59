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
export { SMALL_V1, MEDIUM_V1, DEMO_V1, DEMO_LEARNING_RATES, SUITES, getSuite, validateSuite, buildSuiteTask, suiteEvalEvery } from './suite.js';
export type { Suite, SuiteTask, SuiteTaskSource } from './suite.js';
export { ADAM_BASELINE, ADAMW_COSINE_BASELINE, SGDM_BASELINE, BASELINES, getBaseline } from './baselines.js';
export type { Baseline, Hyperparams, SearchDimension, SearchSpace } from './baselines.js';
export { validateSpace, gridTrials, randomTrials, searchTrials, bestTrial } from './search.js';
export type { SearchMethod, ScoredTrial } from './search.js';
export { claimVerdict, pairedLogRatios } from './claim.js';
export type { ClaimOutcome, ClaimOptions, ClaimVerdict } from './claim.js';
export { successiveHalving, randomSearch, halvingRungs } from './halving.js';
export type { HalvingOptions, HalvingTrial, HalvingResult, TrialEvaluator, RandomSearchOptions } from './halving.js';
export { encodeRecord, decodeRecord } from './record.js';
export type { RunRecord } from './record.js';
export { baselineResolver, baselineRef, executeRun } from './run.js';
export type { OptimizerRef, RunRequest, OptimizerResolver, ResolvedOptimizer } from './run.js';
export { memoryCache, runCacheKey, readCached, writeCached, EVAL_LOPT_VERSION, EVAL_PROTOCOL_VERSION } from './cache.js';
export type { RunCache } from './cache.js';
export { serialExecutor } from './executor.js';
export type { RunExecutor } from './executor.js';
export { runSuite } from './runner.js';
export type { SuiteRunOptions, SuiteProgress, SuiteResult, SuiteRow, TaskTuning, TunableCandidate } from './runner.js';
export { summarizeSuite, meanCurve, pairedRatios } from './summary.js';
export type { SuiteSummary, RowSummary, TaskCell, SummaryOptions } from './summary.js';
