/**
 * `@lopt/eval/node`: Node-only parts of the evaluation protocol: the on-disk run cache and
 * a pool of worker processes that trains independent runs in parallel.
 * @packageDocumentation
 */
export { fileCache, CACHE_MANIFEST } from './file-cache.js';
export { processPool, serveRuns } from './pool.js';
export type { ProcessPoolOptions, PoolMessage } from './pool.js';
