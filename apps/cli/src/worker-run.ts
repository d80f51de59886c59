import { LoptError } from '@lopt/core';
import { redactUrl, runRedisWorker } from '@lopt/estimators/node';
import { configPlugins, loadConfig } from './config.js';
import { startCommand, type CommonOptions } from './context.js';
import { buildComponents } from './metatrain.js';
import { gateConfigPlugins } from './plugins.js';
import { checkRedisUrl } from './scale-options.js';

/** Options of {@link runWorker} (from `lopt worker`). */
export interface WorkerCommand {
  readonly common: CommonOptions;
  readonly redis: string;
  readonly config?: string;
  readonly preset?: string;
  readonly run?: string;
  readonly id?: string;
}

/** Resolves when the process gets SIGINT or SIGTERM. */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/**
 * `lopt worker`: rebuilds the learner's estimators from the same config (`--config`/`--preset`;
 * the learner does not ship code or config through Redis, so a worker runs exactly what its
 * own machine's config says, and the learner's estimate checks refuse a mismatch), then serves
 * estimate jobs of run `--run` (default the config name) until Ctrl-C or SIGTERM.
 */
export async function runWorker(cmd: WorkerCommand): Promise<void> {
  const redis = checkRedisUrl('--redis', cmd.redis);
  if (cmd.config !== undefined && cmd.preset !== undefined) throw new LoptError('INVALID_OPTION', "Options '--config' and '--preset' exclude each other: pass the one the learner was given.", { option: '--preset' });
  const spec = cmd.config ?? cmd.preset;
  if (spec === undefined) throw new LoptError('INVALID_OPTION', "Option '--config' (or '--preset') is required: a worker rebuilds the learner's estimators from the same config.", { option: '--config' });
  const loaded = loadConfig(spec);
  const where = loaded.source.startsWith('preset:') ? loaded.source : `file '${loaded.source}'`;
  const plugins = gateConfigPlugins(configPlugins(loaded), where, Boolean(cmd.common.allowPlugins), cmd.common.plugin ?? [], process.cwd());
  const ctx = await startCommand('worker', cmd.common, plugins);
  const { estimators } = await buildComponents(loaded.config);
  const run = cmd.run ?? loaded.config.name;
  const stopped = stopSignal();
  const handle = await runRedisWorker({ redis, run, estimators, ...(cmd.id !== undefined ? { id: cmd.id } : {}) });
  ctx.log(`worker ${handle.id} ready: run '${run}' on ${redactUrl(redis)}, ${estimators.length} estimator(s); Ctrl-C stops it`);
  const sig = await stopped;
  await handle.close();
  ctx.log(`worker ${handle.id} stopped (${sig}): ${handle.stats.done} estimates done, ${handle.stats.skipped} skipped as stale, ${handle.stats.failed} failed`);
}
