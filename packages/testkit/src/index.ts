/**
 * `@lopt/testkit`: conformance suites that every built-in optimizer, task and estimator
 * runs, and that a contributed one can run against itself, plus numeric test helpers.
 * @packageDocumentation
 */
export { expectClose, expectTreeClose, leakCheck } from './assertions.js';
export type { CloseOptions } from './assertions.js';
