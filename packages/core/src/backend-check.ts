import * as tf from '@tensorflow/tfjs-core';
import { LoptError } from './errors.js';

/** What tfjs-core throws when a tensor is made before any backend is registered. */
const NO_BACKEND = /No backend found in registry/;

/**
 * Throws `LoptError('BACKEND_UNAVAILABLE')` naming `initBackend()` when no TensorFlow.js
 * backend is registered, instead of tfjs-core's bare `No backend found in registry.`
 * Called at lopt's entry points that make the first tensors of a program (`advance`, the
 * key-based samplers, optimizer `init`), so a script that forgot to start a backend is told
 * how to. Cheap once a backend is running; a registered backend that is not started yet is
 * started here, as the first tensor op would.
 *
 * @param where - the function the user called, named in the message (e.g. `adam.init`).
 * @throws LoptError `BACKEND_UNAVAILABLE` when no backend is registered.
 */
export function requireBackend(where: string): void {
  try {
    tf.backend();
  } catch (error) {
    if (error instanceof Error && NO_BACKEND.test(error.message)) {
      throw new LoptError(
        'BACKEND_UNAVAILABLE',
        `${where}: no TensorFlow.js backend is registered. Start one before using lopt: ` +
          "`await initBackend()` from '@lopt/backend' (or import '@tensorflow/tfjs'). If you did, " +
          'two copies of @tensorflow/tfjs-core are installed (see `npm ls @tensorflow/tfjs-core`); ' +
          'lopt packages take it as a peer dependency so that one copy is shared.',
        { cause: error },
      );
    }
    throw error;
  }
}
