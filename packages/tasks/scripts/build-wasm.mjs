// Rebuilds the fused MLP loss-and-gradient kernel: compiles assembly/mlp.ts with the shared
// scripts/build-wasm-kernel.mjs (shrink level 1: Math.exp/log without lookup tables) and
// writes src/fused/mlp-wasm-binary.ts.
// Usage: pnpm --filter @lopt/tasks build:wasm
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
execFileSync(
  process.execPath,
  [
    join(root, '..', '..', 'scripts', 'build-wasm-kernel.mjs'),
    ...['--entry', 'assembly/mlp.ts', '--out', 'src/fused/mlp-wasm-binary.ts', '--const', 'MLP_WASM_BASE64', '--shrink', '1'],
    ...['--doc', 'The fused MLP loss-and-gradient building blocks (WebAssembly with SIMD, imported memory), base64-encoded.'],
  ],
  { cwd: root, stdio: 'inherit' },
);
