import { Redis } from 'ioredis';
import { LoptError } from '@lopt/core';

/** The job data the learner puts on the queue: one estimate of estimator `index` at theta `version`. */
export interface EstimateJob {
  /** The learner's generation (a resumed learner starts a new one; older jobs are void). */
  readonly generation: number;
  /** Theta version (= the learner's outer step). */
  readonly version: number;
  /** Estimator index. */
  readonly index: number;
  /** The estimate's key, `keyToJSON` form. */
  readonly key: [number, number];
}

/** What a worker returns for a job: the encoded estimate (base64), or why it skipped the job. */
export type EstimateJobResult = { readonly estimate: string } | { readonly skipped: 'stale' };

/** Redis key names of a run. */
export interface RunKeys {
  readonly queue: string;
  readonly prefix: string;
  readonly generation: string;
  readonly current: string;
  theta(generation: number, version: number): string;
  worker(id: string): string;
  /** Sorted set of live worker ids, scored by the Redis time (ms) their heartbeat expires. */
  readonly live: string;
}

/** The Redis keys (and BullMQ queue name) of run `run`. */
export function runKeys(run: string): RunKeys {
  const base = `lopt:${run}`;
  return {
    queue: `estimates-${run}`,
    prefix: 'lopt-bull',
    generation: `${base}:generation`,
    current: `${base}:current`,
    theta: (g, v) => `${base}:theta:${g}:${v}`,
    worker: (id) => `${base}:worker:${id}`,
    live: `${base}:live`,
  };
}

/**
 * Lua for a heartbeat: `ZADD live <now + ttl> id` with the Redis server's clock, so workers on
 * machines with skewed clocks agree. KEYS[1] = live set; ARGV = id, ttl ms.
 */
export const HEARTBEAT_SCRIPT = `local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 10)
return now`;

/** Lua counting live workers: drops expired heartbeats (server clock), returns ZCARD. KEYS[1] = live set. */
export const LIVE_WORKERS_SCRIPT = `local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t[1] * 1000 + math.floor(t[2] / 1000))
return redis.call('ZCARD', KEYS[1])`;

/** The URL with its password replaced by `***` (for messages and logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparsable URL>';
  }
}

/** Checks a run name (letters, digits, `-`, `_`, `.`; it becomes part of Redis keys). */
export function checkRunName(run: unknown): string {
  if (typeof run !== 'string' || !/^[\w.-]{1,64}$/.test(run)) {
    throw new LoptError('INVALID_OPTION', `Option 'run' must be 1-64 letters, digits, '-', '_' or '.', got ${JSON.stringify(run)}.`, { option: 'run' });
  }
  return run;
}

/**
 * Opens a connection to `url` (`redis://[:password@]host:port[/db]` or `rediss://`), failing
 * with `LoptError('IO_ERROR')` naming the URL (password redacted) when Redis cannot be
 * reached or refuses the password within `timeoutMs`. Commands wait across reconnects
 * (`maxRetriesPerRequest: null`), so a restarted Redis resumes the run.
 */
export async function connectRedis(url: unknown, timeoutMs = 5000): Promise<Redis> {
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
    throw new LoptError('INVALID_OPTION', `Option 'redis' must be a redis:// or rediss:// URL, got ${JSON.stringify(typeof url === 'string' ? redactUrl(url) : url)}.`, { option: 'redis' });
  }
  const client = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, retryStrategy: (times) => Math.min(50 * times, 1000) });
  let lastError = '';
  client.on('error', (e: Error) => (lastError = e.message)); // reconnects are handled by the retry strategy
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref());
  try {
    await Promise.race([client.connect().then(() => client.ping()), timer]);
    return client;
  } catch (e) {
    client.disconnect();
    const why = [e instanceof Error ? e.message : String(e), lastError].filter((x, i, a) => x && a.indexOf(x) === i).join('; ');
    throw new LoptError('IO_ERROR', `Cannot use Redis at ${redactUrl(url)}: ${why}. Check the URL, that redis-server runs there, and its password.`, { option: 'redis', cause: e });
  }
}
