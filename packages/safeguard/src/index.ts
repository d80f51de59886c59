/**
 * `@lopt/safeguard`: wrappers that put any optimizer (typically a learned one) behind a
 * trusted fallback, so that the combination keeps converging: the loss guard LGL2O
 * ({@link lossGuarded}), GL2O / Safe-L2O ({@link safeguarded}) and a cheap
 * {@link divergenceGuard}. Each is an ordinary `Optimizer` whose state records how often
 * each branch was taken and how many extra evaluations safety cost ({@link guardStats}).
 * @packageDocumentation
 */
export { lossGuarded } from './lossGuarded.js';
export type { LossGuardedOptions } from './lossGuarded.js';
export { safeguarded, MU_UPDATES } from './safeguarded.js';
export type { MuUpdate, SafeguardedOptions, SafeguardedState } from './safeguarded.js';
export { divergenceGuard } from './divergenceGuard.js';
export type { DivergenceGuardOptions, OnNonFinite } from './divergenceGuard.js';
export { gradientNormResidual } from './residual.js';
export { guardStats, GUARD_STAT_NAMES, LEADER_LEARNED, LEADER_FALLBACK } from './stats.js';
export type { GuardCounts, GuardReport, GuardStatName, GuardStatsTree } from './stats.js';
export type { AdvancePolicy, EvalInfo, GuardState, LossFn, ResidualFn } from './types.js';
export { registerAll, GUARDS } from './register.js';
export type { GuardName } from './register.js';
