// One copy of tfjs-core in any install: lopt's libraries take tfjs-core, tfjs and each other as
// peer dependencies, only @lopt/backend depends on a tfjs backend package, and an app (the CLI)
// depends on every peer its lopt dependencies need, at the versions the workspace tests with.
// (The slow end-to-end proof, packing and installing the CLI globally, is `pnpm check:install`.)
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requiredPeers, sourceImports, workspacePackages } from './manifests.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const packages = workspacePackages(root);
const libraries = packages.filter((p) => p.kind === 'library');
const apps = packages.filter((p) => p.kind === 'app');
const catalog = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
const catalogVersion = (name: string) => new RegExp(`"${name}": (\\S+)`).exec(catalog)?.[1];
/** The tfjs packages whose copies must be shared: tfjs-core holds the engine and the platform. */
const SHARED = ['@tensorflow/tfjs-core', '@tensorflow/tfjs'];
const isTfjs = (name: string) => name.startsWith('@tensorflow/');

describe('sourceImports', () => {
  it('finds static, side-effect and dynamic imports and drops subpaths, relative paths and built-ins', () => {
    const imports = sourceImports(join(root, 'packages', 'backend', 'src'));
    expect(imports).toContain('@tensorflow/tfjs'); // `import '@tensorflow/tfjs';`
    expect(imports).toContain('@tensorflow/tfjs-backend-wasm');
    expect(sourceImports(join(root, 'packages', 'core', 'src'))).not.toContain('@lopt/backend'); // only quoted in a message
    expect([...imports].some((i) => i.startsWith('.') || i.startsWith('node:'))).toBe(false);
  });
});

describe('dependency kinds of the tfjs and lopt packages', () => {
  it('finds every library and the CLI', () => {
    expect(libraries.map((p) => p.manifest.name)).toEqual(expect.arrayContaining(['@lopt/core', '@lopt/backend', '@lopt/optimizers', '@lopt/tasks']));
    expect(apps.map((p) => p.manifest.name)).toContain('@lopt/cli');
  });

  it.each(libraries.map((p) => [p.manifest.name, p] as const))('%s takes tfjs-core, tfjs and lopt packages as peers', (_name, p) => {
    const deps = Object.keys(p.manifest.dependencies ?? {});
    expect(deps.filter((d) => SHARED.includes(d) || d.startsWith('@lopt/')), `${p.dir}/package.json: move these to peerDependencies`).toEqual([]);
    const undeclaredPeers = [...p.imports].filter((i) => (SHARED.includes(i) || i.startsWith('@lopt/') || i.startsWith('@tensorflow/tfjs-node')) && i !== p.manifest.name && p.manifest.peerDependencies?.[i] === undefined);
    expect(undeclaredPeers, `${p.dir}: sources import these without a peerDependencies entry`).toEqual([]);
  });

  it.each(libraries.map((p) => [p.manifest.name, p] as const))('%s declares every package its sources import', (_name, p) => {
    const declared = new Set([...Object.keys(p.manifest.dependencies ?? {}), ...Object.keys(p.manifest.peerDependencies ?? {})]);
    const undeclared = [...p.imports].filter((i) => i !== p.manifest.name && !declared.has(i));
    expect(undeclared, `${p.dir}: imported but neither a dependency nor a peer dependency`).toEqual([]);
  });

  it('only @lopt/backend depends on a tfjs backend package, at the workspace tfjs version', () => {
    for (const p of libraries) {
      const backends = Object.entries(p.manifest.dependencies ?? {}).filter(([d]) => isTfjs(d));
      if (p.manifest.name !== '@lopt/backend') expect(backends, `${p.dir} depends on a tfjs package`).toEqual([]);
      for (const [d, v] of backends) expect([d, v]).toEqual([d, 'catalog:']);
    }
  });

  it('tfjs-node and tfjs-node-gpu are optional peers (their install downloads libtensorflow)', () => {
    for (const p of packages) {
      for (const d of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
        expect(p.manifest.dependencies?.[d], `${p.dir}: ${d} must not be a dependency`).toBeUndefined();
        if (p.manifest.peerDependencies?.[d] !== undefined) expect(p.manifest.peerDependenciesMeta?.[d]?.optional, `${p.dir}: ${d} must be an optional peer`).toBe(true);
      }
    }
  });

  it('every tfjs peer range is the same and admits the version the workspace tests with', () => {
    const ranges = new Set(libraries.flatMap((p) => Object.entries(p.manifest.peerDependencies ?? {}).filter(([d]) => SHARED.includes(d)).map(([, r]) => r)));
    const tested = catalogVersion('@tensorflow/tfjs-core');
    expect(tested).toMatch(/^\d+\.\d+\.\d+$/);
    expect([...ranges]).toEqual([`^${tested}`]);
  });

  it.each(apps.map((p) => [p.manifest.name, p] as const))('%s depends on every required peer of its lopt dependencies', (_name, app) => {
    const deps = app.manifest.dependencies ?? {};
    const missing: string[] = [];
    for (const lib of libraries) {
      if (deps[lib.manifest.name] === undefined) continue;
      for (const peer of requiredPeers(lib.manifest)) if (deps[peer] === undefined) missing.push(`${peer} (peer of ${lib.manifest.name})`);
    }
    expect(missing, `${app.dir}/package.json: add these to dependencies, else npm installs a copy per package`).toEqual([]);
    for (const d of SHARED) expect([d, deps[d]]).toEqual([d, 'catalog:']);
  });
});
