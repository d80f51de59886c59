/**
 * `@lopt/testkit`: conformance suites that every built-in optimizer, task and estimator
 * runs, and that a contributed one can run against itself, plus numeric test helpers.
 * @packageDocumentation
 */
export { expectClose, expectTreeClose, leakCheck } from './assertions.js';
export type { CloseOptions } from './assertions.js';
export { checkTaskInit, checkTaskData, checkTaskLoss, checkTaskGradients, checkTaskNoLeak, checkTaskConformance, describeTaskConformance, sampleTrainBatch } from './task-suite.js';
export type { TaskConformanceOptions, FiniteDifferenceOptions, GradientCheckReport } from './task-suite.js';
export { checkEstimatorOutputs, checkEstimatorDeterminism, checkEstimatorPurity, checkEstimatorNoLeak, checkEstimatorAgreement, describeEstimatorConformance, type EstimatorConformanceOptions, type EstimatorUnderTest } from './estimator-suite.js';
export { checkOptimizerInit, checkOptimizerShapes, checkOptimizerPurity, checkOptimizerNoLeak, checkOptimizerResume, checkOptimizerRejectsMismatch, conformanceGradients, describeOptimizerConformance, type OptimizerConformanceOptions } from './optimizer-suite.js';
