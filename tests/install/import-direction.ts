// The one direction of imports (../shared/DESIGN.md section 1), checked on every published
// package's non-test sources: core <- everything; optimizers <- learned, safeguard, estimators,
// eval; tasks <- eval; tasks, learned and estimators never import one another; apps may import
// anything. Used by `pnpm lint` (check-import-direction.ts) and by its test.
import type { WorkspacePackage } from './manifests.ts';

/** The lopt packages each package's sources may import (apps: any). */
export const ALLOWED_LOPT_IMPORTS: Readonly<Record<string, readonly string[]>> = {
  '@lopt/core': [],
  '@lopt/backend': ['@lopt/core'],
  '@lopt/optimizers': ['@lopt/core'],
  '@lopt/learned': ['@lopt/core', '@lopt/optimizers'],
  '@lopt/tasks': ['@lopt/core'],
  '@lopt/estimators': ['@lopt/core', '@lopt/optimizers'],
  '@lopt/safeguard': ['@lopt/core', '@lopt/optimizers'],
  '@lopt/testkit': ['@lopt/core'],
  '@lopt/eval': ['@lopt/core', '@lopt/optimizers', '@lopt/tasks'],
};

/** One import against the direction: who imports what. */
export interface ImportViolation {
  readonly from: string;
  readonly imports: string;
}

/** Every `@lopt/*` import of a library that its row of {@link ALLOWED_LOPT_IMPORTS} does not list (an unlisted library may import only core). */
export function importDirectionViolations(packages: readonly WorkspacePackage[]): ImportViolation[] {
  const out: ImportViolation[] = [];
  for (const p of packages) {
    if (p.kind === 'app') continue;
    const allowed = ALLOWED_LOPT_IMPORTS[p.manifest.name] ?? ['@lopt/core'];
    for (const i of [...p.imports].sort()) {
      if (i.startsWith('@lopt/') && i !== p.manifest.name && !allowed.includes(i)) out.push({ from: p.manifest.name, imports: i });
    }
  }
  return out;
}
