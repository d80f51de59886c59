// `pnpm typecheck` step: typechecks every ```ts block of the READMEs and CONTRIBUTING.md under
// `strict` against the workspace sources (the same check as the readme test project, without
// running them), printing each diagnostic at its Markdown line; exits 1 when any fails.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allSnippets } from './extract.ts';
import { typecheckSnippets } from './typecheck.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const snippets = allSnippets(root);
const failed = [...typecheckSnippets(root, snippets).values()].flat();
for (const d of failed) console.error(`${d.where} ${d.message}`);
console.log(`README snippets: ${snippets.length} typechecked, ${failed.length} diagnostic(s)`);
if (failed.length > 0) process.exit(1);
