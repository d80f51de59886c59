// Writes the playground's static files that are generated, not committed: the data sets the
// page fetches lazily (MNIST and the text corpus as gzipped data files of @lopt/tasks) and the
// WASM backend's binaries (served next to the page so the worker can fetch them).
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { encodeMnistFile, encodeTextFile } from '@lopt/tasks';

const app = join(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = join(app, 'public', 'data');
const wasmDir = join(app, 'public', 'tfjs-wasm');
mkdirSync(dataDir, { recursive: true });
mkdirSync(wasmDir, { recursive: true });

function writeOnce(file: string, make: () => Uint8Array): void {
  if (existsSync(file)) return;
  const bytes = gzipSync(make(), { level: 9 });
  writeFileSync(file, bytes);
  console.log(`wrote ${file} (${(bytes.length / 1e6).toFixed(2)} MB)`);
}

writeOnce(join(dataDir, 'mnist.bin.gz'), () => encodeMnistFile());
writeOnce(join(dataDir, 'text.bin.gz'), () => encodeTextFile());

const require = createRequire(import.meta.url);
const wasmDist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
for (const name of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  copyFileSync(join(wasmDist, 'dist', name), join(wasmDir, name));
}
