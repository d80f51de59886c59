import * as tf from '@tensorflow/tfjs-core';
import { isLoptError } from '@lopt/core';
import { version as LOPT_VERSION } from '../package.json';
import { decodeRecord, encodeRecord, type RunRecord } from './record.js';
import type { RunRequest } from './run.js';
import { suiteEvalEvery } from './suite.js';

/** Text store of run results (`memoryCache()` here; `fileCache(dir)` in `@lopt/eval/node`). */
export interface RunCache {
  /** The entry stored under `key`, or undefined. */
  get(key: string): string | undefined;
  /** Stores `text` under `key` (replacing any entry). */
  set(key: string, text: string): void;
}

/** The version of lopt whose results a cache entry holds (`@lopt/eval`'s; all packages share one version). */
export const EVAL_LOPT_VERSION: string = LOPT_VERSION;

/** Version of the evaluation protocol (training loop, keys, logging); part of every cache key. */
export const EVAL_PROTOCOL_VERSION = 1;

/** An in-memory {@link RunCache}. */
export function memoryCache(): RunCache {
  const map = new Map<string, string>();
  return { get: (k) => map.get(k), set: (k, t) => void map.set(k, t) };
}

/**
 * The cache key of a run: protocol and lopt version, tfjs backend (default: the active
 * one), task configuration and horizon, logging, optimizer id and seed.
 */
export function runCacheKey(request: RunRequest, backend: string = tf.getBackend()): string {
  const { task, evalBatches, optimizer, seed } = request;
  const source = { task: task.task, family: task.family, options: task.options, sample: task.sample };
  return [`lopt-eval/v${EVAL_PROTOCOL_VERSION}`, `lopt@${EVAL_LOPT_VERSION}`, `backend=${backend}`, `task=${JSON.stringify(source)}`, `steps=${task.steps}`, `evalEvery=${suiteEvalEvery(task)}`, `evalBatches=${evalBatches}`, `optimizer=${optimizer.id}`, `seed=${seed}`].join('|');
}

/**
 * The cached record of `request`, or undefined. An entry that does not parse or check
 * (see `decodeRecord`) is reported through `onCorrupt` and treated as missing: it is
 * recomputed, never trusted.
 */
export function readCached(cache: RunCache, cacheKey: string, onCorrupt?: (cacheKey: string, reason: string) => void): RunRecord | undefined {
  const text = cache.get(cacheKey);
  if (text === undefined) return undefined;
  try {
    return decodeRecord(text, cacheKey);
  } catch (e) {
    if (!isLoptError(e)) throw e;
    onCorrupt?.(cacheKey, e.message);
    return undefined;
  }
}

/** Stores `record` under `cacheKey`. */
export function writeCached(cache: RunCache, cacheKey: string, record: RunRecord): void {
  cache.set(cacheKey, encodeRecord(cacheKey, record));
}
