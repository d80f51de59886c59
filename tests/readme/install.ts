// What a README tells a user to install (its `npm install` / `pnpm add` lines) against what
// its runnable snippets import and what the listed lopt packages need as peers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageOf, requiredPeers, type WorkspacePackage } from '../install/manifests.ts';
import type { Snippet } from './extract.ts';

/** An install command in a ```sh block: `npm install ...`, `npm i ...`, `pnpm add ...`, `yarn add ...`. */
const INSTALL = /^\s*(?:npm\s+(?:install|i)|pnpm\s+add|yarn\s+add)\s+(.*)$/;

/** The packages named by the install lines of a Markdown text (global installs and flags skipped). */
export function installedPackages(markdown: string): Set<string> {
  const out = new Set<string>();
  let inShell = false;
  for (const line of markdown.split(/\r?\n/)) {
    if (/^\s*```/.test(line)) {
      inShell = !inShell && /^\s*```(sh|bash|shell|console)\s*$/.test(line);
      continue;
    }
    const m = inShell ? INSTALL.exec(line.replace(/#.*$/, '')) : null;
    if (m === null) continue;
    const words = (m[1] as string).trim().split(/\s+/);
    if (words.includes('-g') || words.includes('--global')) continue;
    for (const w of words) if (w !== '' && !w.startsWith('-')) out.add(packageName(w));
  }
  return out;
}

/** `@scope/name/sub` -> `@scope/name`; `name/sub` -> `name`; drops an `@version`. */
export function packageName(specifier: string): string {
  return packageOf(specifier).replace(/(.)@.*$/, '$1');
}

/** The packages a snippet imports (bare specifiers; `node:` built-ins and relative paths skipped). */
export function importedPackages(code: string): Set<string> {
  const out = new Set<string>();
  for (const m of code.matchAll(/(?:\bfrom\s+|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)) {
    const spec = m[1] as string;
    if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) continue;
    out.add(packageName(spec));
  }
  return out;
}

/**
 * What a README's install lines miss: packages its runnable snippets import, and required
 * peers of the lopt packages it lists. Empty when the README has no install line.
 */
export function missingFromInstall(root: string, file: string, snippets: readonly Snippet[], packages: readonly WorkspacePackage[]): string[] {
  const listed = installedPackages(readFileSync(join(root, file), 'utf8'));
  if (listed.size === 0) return [];
  const missing: string[] = [];
  for (const s of snippets) {
    if (s.file !== file || s.mode !== 'run') continue;
    for (const p of importedPackages(s.code)) if (!listed.has(p)) missing.push(`${p} (imported by the snippet at ${file}:${s.line})`);
  }
  for (const p of listed) {
    const manifest = packages.find((w) => w.manifest.name === p)?.manifest;
    for (const peer of manifest ? requiredPeers(manifest) : []) if (!listed.has(peer)) missing.push(`${peer} (a peer dependency of ${p})`);
  }
  return [...new Set(missing)];
}

