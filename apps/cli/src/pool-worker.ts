// A worker process of `lopt meta-train --workers N`: starts the backend the learner runs on,
// registers the libraries and the learner's plugins, rebuilds the estimators from the same
// config (LOPT_POOL_SETUP, written by scaleSource) and serves estimates to the learner's pool.
import { initBackend } from '@lopt/backend';
import { serveEstimates } from '@lopt/estimators/node';
import { validateConfig } from './config.js';
import { registerLibraries } from './libraries.js';
import { buildComponents } from './metatrain.js';
import { loadPlugins } from './plugins.js';
import type { PoolWorkerSetup } from './scale-options.js';

const setup = JSON.parse(process.env.LOPT_POOL_SETUP ?? '{}') as PoolWorkerSetup;
await initBackend({ backend: setup.backend });
registerLibraries();
await loadPlugins(setup.plugins ?? [], process.cwd());
const { estimators } = await buildComponents(validateConfig(setup.config, 'sent by the learner'));
serveEstimates(estimators);
