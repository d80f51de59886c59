// `pnpm lint` step: fails (exit 1) when a package's sources import against the one direction of
// ../shared/DESIGN.md, naming each offending import.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importDirectionViolations } from './import-direction.ts';
import { workspacePackages } from './manifests.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const violations = importDirectionViolations(workspacePackages(root));
if (violations.length > 0) {
  for (const v of violations) console.error(`import direction: ${v.from} imports ${v.imports}, which DESIGN.md section 1 does not allow`);
  process.exit(1);
}
console.log('import direction: every package imports only what DESIGN.md section 1 allows');
