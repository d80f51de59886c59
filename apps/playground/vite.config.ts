import { defineConfig } from 'vite';

// A static site: `vite build` writes dist/ (index.html, the page's small JS, the training
// worker's chunk with tfjs, the data files and the WASM binaries from public/).
export default defineConfig({
  base: './',
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096, reportCompressedSize: false },
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
});
