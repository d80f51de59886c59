import type { LearnedOptimizer, TensorTree } from '@lopt/core';

/**
 * A learned-optimizer architecture of this package: a {@link LearnedOptimizer} whose
 * `config` is the full (defaults filled in) JSON configuration it was built from, plus
 * documentation of its per-parameter state.
 */
export interface LearnedArchitecture<Theta extends TensorTree = TensorTree, Config extends object = Record<string, unknown>>
  extends LearnedOptimizer<Theta> {
  /** The architecture name (the registry and checkpoint name). */
  readonly name: string;
  /** The full configuration (JSON). */
  readonly config: Readonly<Config> & Readonly<Record<string, unknown>>;
  /**
   * Accumulator slots the optimizer state keeps per parameter (scalars of state per scalar
   * of params, not counting per-row/per-column or per-tensor extras; see each factory).
   */
  readonly stateSlotsPerParameter: number;
  /** The theta leaves that are hyperparameters (see `LearnedOptimizer.hyperparameterPaths`); every built-in declares them, possibly none. */
  hyperparameterPaths(): readonly string[];
}
