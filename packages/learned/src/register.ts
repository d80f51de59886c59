import { register } from '@lopt/core';
import { ARCHITECTURES } from './architectures.js';

/**
 * Registers every built-in architecture under kind `learned-optimizer` with its factory
 * name (`learnableSgd`, `learnableSgdm`, `learnableAdam`, `mlpLOpt`, `adafacMlpLOpt`,
 * `mlpNomLOpt`, `rnnMlpLOpt`, `nnAdam`, `lstmL2L`, `celo`, `celoAdam`, `celo2`, `dmdLOpt`). Idempotent.
 */
export function registerAll(): void {
  for (const [name, entry] of Object.entries(ARCHITECTURES)) register('learned-optimizer', name, entry.factory, entry.description);
}
