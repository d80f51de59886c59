import { fileURLToPath } from 'node:url';
import type { BackendName } from '@lopt/backend';
import { LoptError, type GradientEstimator } from '@lopt/core';
import type { EstimateSource } from '@lopt/estimators';
import { redisEstimateSource, workerPool } from '@lopt/estimators/node';

import type { RawScaleFlags } from './scale-flags.js';

/** Where `lopt meta-train` computes its estimates: in process, on a local pool, or on Redis workers. */
export type ScaleOptions =
  | { readonly kind: 'local' }
  | { readonly kind: 'pool'; readonly workers: number; readonly mode: 'sync' | 'async'; readonly staleness?: number; readonly metaBatch?: number }
  | { readonly kind: 'redis'; readonly redis: string; readonly run?: string; readonly staleness?: number; readonly metaBatch?: number };

function integer(option: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be an integer >= ${min}, got '${value}'.`, { option });
  }
  return n;
}

/**
 * Checks a Redis URL (`redis://` or `rediss://`, with a host) and returns it unchanged;
 * throws a LoptError naming `option` otherwise. The password is never put in the message.
 */
export function checkRedisUrl(option: string, value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
    const shown = url ? `${url.protocol}//${url.host}${url.pathname}` : value.replace(/:[^@/]*@/, ':***@');
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be a Redis URL such as redis://[:password@]host:6379[/db], got '${shown}'.`, { option });
  }
  return value;
}

/** Validates the scale-out flags (every failure is a LoptError naming the flag: exit code 2). */
export function parseScaleFlags(f: RawScaleFlags): ScaleOptions {
  const workers = integer('--workers', f.workers, 1);
  const staleness = integer('--staleness', f.staleness, 0);
  const metaBatch = integer('--meta-batch', f.metaBatch, 1);
  const tuning = { ...(staleness !== undefined ? { staleness } : {}), ...(metaBatch !== undefined ? { metaBatch } : {}) };
  if (f.redis !== undefined) {
    if (workers !== undefined) throw new LoptError('INVALID_OPTION', "Options '--redis' and '--workers' exclude each other: Redis workers are separate `lopt worker` processes.", { option: '--workers' });
    if (f.async) throw new LoptError('INVALID_OPTION', "Option '--async' belongs to --workers; a Redis run is always asynchronous (tune it with --staleness and --meta-batch).", { option: '--async' });
    return { kind: 'redis', redis: checkRedisUrl('--redis', f.redis), ...(f.run !== undefined ? { run: f.run } : {}), ...tuning };
  }
  if (f.run !== undefined) throw new LoptError('INVALID_OPTION', "Option '--run' needs --redis.", { option: '--run' });
  if (workers === undefined) {
    const stray = f.async ? '--async' : staleness !== undefined ? '--staleness' : metaBatch !== undefined ? '--meta-batch' : undefined;
    if (stray) throw new LoptError('INVALID_OPTION', `Option '${stray}' needs --workers or --redis.`, { option: stray });
    return { kind: 'local' };
  }
  if (!f.async && (staleness !== undefined || metaBatch !== undefined)) {
    throw new LoptError('INVALID_OPTION', `Option '${staleness !== undefined ? '--staleness' : '--meta-batch'}' needs --async (the synchronous pool uses every estimator at the current theta).`, { option: staleness !== undefined ? '--staleness' : '--meta-batch' });
  }
  return { kind: 'pool', workers, mode: f.async ? 'async' : 'sync', ...tuning };
}

/** What the pool's worker processes need to rebuild the learner's estimators. */
export interface PoolWorkerSetup {
  /** The validated config the learner runs (JSON). */
  readonly config: unknown;
  /** The backend the learner runs on (the workers start the same one). */
  readonly backend: BackendName;
  /** Plugin modules the learner loaded (already approved). */
  readonly plugins: readonly string[];
}

/**
 * The {@link EstimateSource} a scale option asks for (undefined: in-process). The pool's
 * workers run `pool-worker.js` next to this module, which rebuilds the estimators from the
 * same config; Redis workers are `lopt worker` processes.
 */
export function scaleSource(scale: ScaleOptions, estimators: readonly GradientEstimator[], setup: PoolWorkerSetup, runName: string): EstimateSource | undefined {
  if (scale.kind === 'local') return undefined;
  if (scale.kind === 'pool') {
    if (scale.workers > estimators.length) {
      throw new LoptError('INVALID_OPTION', `Option '--workers' (${scale.workers}) must be at most the number of estimators of the config (${estimators.length}): each worker process runs whole estimators.`, { option: '--workers' });
    }
    return workerPool({
      workers: scale.workers,
      estimators: estimators.length,
      script: fileURLToPath(new URL('./pool-worker.js', import.meta.url)),
      mode: scale.mode,
      ...(scale.staleness !== undefined ? { staleness: scale.staleness } : {}),
      ...(scale.metaBatch !== undefined ? { metaBatch: scale.metaBatch } : {}),
      execArgv: [],
      env: { ...process.env, LOPT_POOL_SETUP: JSON.stringify(setup) },
    });
  }
  return redisEstimateSource({
    redis: scale.redis,
    run: scale.run ?? runName,
    estimators: estimators.length,
    ...(scale.staleness !== undefined ? { staleness: scale.staleness } : {}),
    ...(scale.metaBatch !== undefined ? { metaBatch: scale.metaBatch } : {}),
  });
}
