import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoptError } from '@lopt/core';
import type { RunCache } from './cache.js';

/** Name of the file that marks a directory as a lopt run cache. */
export const CACHE_MANIFEST = 'lopt-eval-cache.json';
const MANIFEST = { format: 'lopt-eval-cache', version: 1 };

function checkManifest(path: string): void {
  let parsed: { format?: unknown; version?: unknown } | undefined;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  if (parsed?.format !== MANIFEST.format || parsed.version !== MANIFEST.version) {
    throw new LoptError('IO_ERROR', `The cache manifest ${path} is corrupt or of another format (expected ${JSON.stringify(MANIFEST)}). Delete the cache directory or choose another one.`, { option: 'cache' });
  }
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/**
 * A {@link RunCache} in directory `dir` (created with a manifest if missing): one JSON file
 * per run, named by the sha256 of its cache key, written atomically, so a process killed
 * mid-write leaves no partial entry. A directory whose manifest is unreadable is refused
 * (`LoptError('IO_ERROR')`); single corrupt entries are returned as stored and rejected by
 * the reader's checks, which recompute them.
 */
export function fileCache(dir: string): RunCache {
  if (typeof dir !== 'string' || dir.length === 0) throw new LoptError('INVALID_OPTION', "Option 'dir' must be a directory path.", { option: 'cache' });
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new LoptError('IO_ERROR', `The cache path ${dir} is a file, not a directory.`, { option: 'cache' });
  const runs = join(dir, 'runs');
  try {
    mkdirSync(runs, { recursive: true });
  } catch (e) {
    throw new LoptError('IO_ERROR', `Cannot create the cache directory ${runs}: ${(e as Error).message}`, { option: 'cache', cause: e });
  }
  const manifest = join(dir, CACHE_MANIFEST);
  if (existsSync(manifest)) checkManifest(manifest);
  else atomicWrite(manifest, `${JSON.stringify(MANIFEST)}\n`);
  const file = (key: string) => join(runs, `${createHash('sha256').update(key).digest('hex').slice(0, 40)}.json`);
  return {
    get: (key) => (existsSync(file(key)) ? readFileSync(file(key), 'utf8') : undefined),
    set: (key, text) => atomicWrite(file(key), text),
  };
}
