// Rebuilds the fused AdafacMLPLOpt kernel: compiles assembly/adafac.ts with the shared
// scripts/build-wasm-kernel.mjs and writes src/adafac-wasm-binary.ts (base64, so the package's
// main entry stays browser-safe: no file reads at run time).
// Usage: pnpm --filter @lopt/learned build:wasm
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
execFileSync(
  process.execPath,
  [
    join(root, '..', '..', 'scripts', 'build-wasm-kernel.mjs'),
    ...['--entry', 'assembly/adafac.ts', '--out', 'src/adafac-wasm-binary.ts', '--const', 'ADAFAC_WASM_BASE64'],
    ...['--doc', 'The fused AdafacMLPLOpt kernel (WebAssembly with SIMD, imported memory), base64-encoded.'],
  ],
  { cwd: root, stdio: 'inherit' },
);
