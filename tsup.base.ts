import type { Options } from 'tsup';

/**
 * Shared tsup settings for every published package: ESM + CJS + declarations.
 * Each package passes its entry points; workspace packages and tfjs stay external
 * (tsup externalises dependencies and peerDependencies by name).
 */
export function packageBuild(entry: Record<string, string> = { index: 'src/index.ts' }): Options {
  return {
    entry,
    format: ['esm', 'cjs'],
    dts: { compilerOptions: { paths: {} } },
    sourcemap: true,
    clean: true,
    splitting: false,
    target: 'es2022',
    tsconfig: 'tsconfig.json',
  };
}
