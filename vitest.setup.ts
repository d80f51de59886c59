// Test-only backend set-up: packages never pick a backend, test setup does (DESIGN.md section 1).
// LOPT_BACKEND chooses it (default: wasm, the embedded default backend).
import { initBackend } from '@lopt/backend';

await initBackend({ backend: (process.env.LOPT_BACKEND as 'wasm' | 'cpu' | undefined) ?? 'wasm' });
