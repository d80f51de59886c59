import { defineConfig } from 'tsup';

// The CLI is an application: one ESM entry with a shebang (tsup marks it executable).
// Every dependency stays external (tsup externalises `dependencies` by name).
export default defineConfig({
  entry: { cli: 'src/cli.ts', 'suite-worker': 'src/suite-worker.ts', 'pool-worker': 'src/pool-worker.ts' },
  format: ['esm'],
  dts: false,
  sourcemap: true,
  clean: true,
  splitting: true,
  target: 'node20',
  platform: 'node',
  tsconfig: 'tsconfig.json',
});
