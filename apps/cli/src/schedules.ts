import { NAMED_SCHEDULES, isScheduleName, scheduleByName } from '@lopt/optimizers';
import { CliError, withContext } from './errors.js';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * Replaces every option value of the form `{ "schedule": "<name>", ...options }` by the
 * schedule `<name>(options)` of @lopt/optimizers (its `NAMED_SCHEDULES`), so configs and
 * optimizer specs can give a learning rate as a schedule, e.g.
 * `"learningRate": { "schedule": "cosineDecay", "initValue": 0.01, "decaySteps": 300 }`.
 */
export async function resolveSchedules(options: Readonly<Record<string, unknown>>, where: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (isPlainObject(v) && typeof v.schedule === 'string') {
      const { schedule, ...rest } = v;
      if (!isScheduleName(schedule)) {
        throw new CliError(`${where}: option '${k}' names an unknown schedule '${String(schedule)}'.`, `Schedules: ${Object.keys(NAMED_SCHEDULES).join(', ')} (options as in @lopt/optimizers).`);
      }
      try {
        out[k] = scheduleByName(schedule, rest);
      } catch (e) {
        throw withContext(e, `${where}: schedule of option '${k}'`);
      }
    } else {
      out[k] = v;
    }
  }
  return out;
}
