// Rebuilds the fused Adam kernel: compiles assembly/adam.ts with the shared
// scripts/build-wasm-kernel.mjs and writes src/fused/adam-wasm-binary.ts.
// Usage: pnpm --filter @lopt/optimizers build:wasm
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
execFileSync(
  process.execPath,
  [join(root, '..', '..', 'scripts', 'build-wasm-kernel.mjs'), '--entry', 'assembly/adam.ts', '--out', 'src/fused/adam-wasm-binary.ts', '--const', 'ADAM_WASM_BASE64', '--doc', 'The fused Adam kernel (WebAssembly with SIMD, imported memory), base64-encoded.'],
  { cwd: root, stdio: 'inherit' },
);
