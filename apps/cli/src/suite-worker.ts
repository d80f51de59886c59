// A worker process of `lopt suite run --jobs N`: starts the backend the parent chose, registers
// the libraries and the parent's plugins, then trains the runs the parent sends.
import { initBackend, type BackendChoice } from '@lopt/backend';
import { serveRuns } from '@lopt/eval/node';
import { registerLibraries } from './libraries.js';
import { loadPlugins } from './plugins.js';
import { cliResolver } from './suite-optimizers.js';

await initBackend({ backend: (process.env.LOPT_BACKEND as BackendChoice | undefined) ?? 'auto' });
registerLibraries();
await loadPlugins(JSON.parse(process.env.LOPT_SUITE_PLUGINS ?? '[]') as string[], process.cwd());
serveRuns(cliResolver());
