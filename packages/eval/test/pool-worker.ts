// Worker module of the pool tests: starts the backend the tests use, then serves runs of baselines.
import { initBackend } from '@lopt/backend';
import { baselineResolver } from '../src/run.ts';
import { serveRuns } from '../src/pool.ts';

await initBackend({ backend: (process.env.LOPT_BACKEND as 'wasm' | 'cpu' | undefined) ?? 'wasm' });
serveRuns(baselineResolver);
