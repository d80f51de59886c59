import { registerAll as registerEstimators } from '@lopt/estimators';
import { registerAll as registerLearned } from '@lopt/learned';
import { registerAll as registerOptimizers } from '@lopt/optimizers';
import { registerAll as registerSafeguard } from '@lopt/safeguard';
import { registerAll as registerTasks } from '@lopt/tasks';

/**
 * Registers the built-ins of every library package the CLI ships with (each package's
 * idempotent `registerAll()`), so `create(kind, name)` finds them. Imported statically: a
 * missing or broken package is a build error, not a run-time surprise.
 */
export function registerLibraries(): void {
  registerOptimizers();
  registerTasks();
  registerLearned();
  registerEstimators();
  registerSafeguard();
}
