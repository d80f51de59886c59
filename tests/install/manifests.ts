// Reads the workspace's package manifests and the bare imports of each package's sources:
// what dependency-kinds.test.ts checks the tfjs and lopt dependency kinds against.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The dependency fields of a package.json. */
export interface Manifest {
  readonly name: string;
  readonly private?: boolean;
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** A workspace package: where it is, its manifest, and the packages its sources import. */
export interface WorkspacePackage {
  readonly dir: string;
  readonly kind: 'library' | 'app';
  readonly manifest: Manifest;
  readonly imports: ReadonlySet<string>;
}

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
}

/** Non-test `.ts` files under `dir` (test files, `test-helpers*` and `test-utils/` left out). */
function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'test-utils' ? [] : sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.includes('test-helpers') ? [path] : [];
  });
}

/**
 * The bare packages imported by the sources in `dir`: `import`/`export ... from` statements
 * (at the start of a line, so strings and comments that quote an import do not count),
 * side-effect imports, and `import('...')` / `require('...')` with a literal name.
 */
export function sourceImports(dir: string): Set<string> {
  const out = new Set<string>();
  const pattern = /(?:^\s*(?:import|export)\b[^'"]*?\bfrom\s+|^\s*import\s+|\bimport\(\s*|\brequire\(\s*)['"]([^'"./][^'"]*)['"]/gm;
  for (const file of sourceFiles(dir)) {
    for (const m of readFileSync(file, 'utf8').matchAll(pattern)) {
      const spec = m[1] as string;
      if (!spec.startsWith('node:')) out.add(packageOf(spec));
    }
  }
  return out;
}

/** Every published package of the workspace (packages/* libraries and apps/*), private ones skipped. */
export function workspacePackages(root: string): WorkspacePackage[] {
  const out: WorkspacePackage[] = [];
  for (const [folder, kind] of [['packages', 'library'], ['apps', 'app']] as const) {
    for (const name of readdirSync(join(root, folder)).sort()) {
      const file = join(root, folder, name, 'package.json');
      if (!existsSync(file)) continue;
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
      if (manifest.private === true) continue;
      out.push({ dir: `${folder}/${name}`, kind, manifest, imports: sourceImports(join(root, folder, name, 'src')) });
    }
  }
  return out;
}

/** The non-optional peer dependencies of a manifest. */
export function requiredPeers(m: Manifest): string[] {
  return Object.keys(m.peerDependencies ?? {}).filter((p) => m.peerDependenciesMeta?.[p]?.optional !== true);
}
