import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ALLOWED_LOPT_IMPORTS, importDirectionViolations } from './import-direction.ts';
import { workspacePackages, type WorkspacePackage } from './manifests.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const library = (name: string, imports: string[]): WorkspacePackage => ({ dir: `packages/${name}`, kind: 'library', manifest: { name: `@lopt/${name}` }, imports: new Set(imports) });

describe('the one direction of imports', () => {
  it('holds for every package of the workspace', () => {
    expect(importDirectionViolations(workspacePackages(root))).toEqual([]);
  });

  it('names a planted violation: tasks importing learned, learned importing estimators', () => {
    const planted = [library('tasks', ['@lopt/core', '@lopt/learned']), library('learned', ['@lopt/optimizers', '@lopt/estimators']), library('eval', ['@lopt/tasks'])];
    expect(importDirectionViolations(planted)).toEqual([
      { from: '@lopt/tasks', imports: '@lopt/learned' },
      { from: '@lopt/learned', imports: '@lopt/estimators' },
    ]);
  });

  it('lets apps import anything and knows every workspace library', () => {
    expect(importDirectionViolations([{ dir: 'apps/cli', kind: 'app', manifest: { name: '@lopt/cli' }, imports: new Set(['@lopt/learned', '@lopt/estimators']) }])).toEqual([]);
    const libraries = workspacePackages(root).filter((p) => p.kind === 'library').map((p) => p.manifest.name).sort();
    expect(libraries).toEqual(Object.keys(ALLOWED_LOPT_IMPORTS).sort());
  });
});
