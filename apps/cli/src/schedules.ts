import { CliError } from './errors.js';
import { libraryFunction } from './packages.js';

/** Schedules of @lopt/optimizers that JSON options can name (`{ "schedule": "cosineDecay", ... }`). */
export const SCHEDULES = ['linear', 'polynomial', 'exponentialDecay', 'cosineDecay', 'warmupCosineDecay', 'warmupConstant', 'piecewiseConstant'] as const;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * Replaces every option value of the form `{ "schedule": "<name>", ...options }` by the
 * schedule function `<name>(options)` of @lopt/optimizers, so configs and optimizer specs
 * can give a learning rate as a schedule, e.g.
 * `"learningRate": { "schedule": "cosineDecay", "initValue": 0.01, "decaySteps": 300 }`.
 */
export async function resolveSchedules(options: Readonly<Record<string, unknown>>, where: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (isPlainObject(v) && typeof v.schedule === 'string') {
      const { schedule, ...rest } = v;
      if (!(SCHEDULES as readonly string[]).includes(schedule as string)) {
        throw new CliError(`${where}: option '${k}' names an unknown schedule '${String(schedule)}'.`, `Schedules: ${SCHEDULES.join(', ')} (options as in @lopt/optimizers).`);
      }
      const fn = await libraryFunction<(o: Record<string, unknown>) => unknown>('@lopt/optimizers', schedule as string, `The schedule of option '${k}'`);
      try {
        out[k] = fn(rest);
      } catch (e) {
        const { withContext } = await import('./errors.js');
        throw withContext(e, `${where}: schedule of option '${k}'`);
      }
    } else {
      out[k] = v;
    }
  }
  return out;
}
