// Every ```ts block of README.md, CONTRIBUTING.md and each package's and app's README is a
// checked example: typechecked under `strict` against the workspace packages, and run (unless
// marked `<!-- snippet: typecheck-only -->` on the line above it) in its own Node process with
// a time limit. Failures name the Markdown file and line. A README's install line installs
// what its runnable snippets import, and the peers of the lopt packages it lists.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { allSnippets, markdownFiles, snippetId, type Snippet } from './extract.ts';
import { benchTableBlocks, benchTableSources, renderBenchTables } from './bench-tables.ts';
import { workspacePackages } from '../install/manifests.ts';
import { installedPackages, missingFromInstall } from './install.ts';
import { runSnippet } from './run.ts';
import { typecheckSnippets, type SnippetDiagnostic } from './typecheck.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** A snippet that runs longer than this is not "short": mark it typecheck-only. */
const RUN_LIMIT_MS = 90_000;

const snippets = allSnippets(root);
const where = (s: Snippet) => `${s.file}:${s.line}`;

describe('README snippets typecheck under strict', () => {
  let diagnostics: Map<string, SnippetDiagnostic[]>;
  beforeAll(() => {
    diagnostics = typecheckSnippets(root, snippets);
  });

  it('finds the snippets of every README', () => {
    const files = new Set(snippets.map((s) => s.file));
    for (const f of ['README.md', 'packages/core/README.md', 'packages/optimizers/README.md', 'packages/tasks/README.md']) {
      expect(files, `no \`\`\`ts block found in ${f}`).toContain(f);
    }
  });

  it.each(snippets.map((s) => [where(s), s] as const))('%s', (_name, s) => {
    const found = (diagnostics.get(snippetId(s)) ?? []).map((d) => `${d.where} ${d.message}`);
    expect(found, `the snippet at ${where(s)} does not typecheck:\n${found.join('\n')}`).toEqual([]);
  });
});

describe('README snippets run', () => {
  const runnable = snippets.filter((s) => s.mode === 'run');
  it.each(runnable.map((s) => [where(s), s] as const))(
    '%s',
    async (_name, s) => {
      const r = await runSnippet(root, s, RUN_LIMIT_MS);
      const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-25).join('\n');
      expect(r.timedOut, `the snippet at ${where(s)} ran past ${RUN_LIMIT_MS / 1000} s: make it shorter or mark it <!-- snippet: typecheck-only -->`).toBe(false);
      expect(r.code, `the snippet at ${where(s)} exited with code ${r.code}:\n${tail}`).toBe(0);
    },
    RUN_LIMIT_MS + 30_000,
  );
});

describe('README install lines', () => {
  const packages = workspacePackages(root);
  const withInstall = markdownFiles(root).filter((f) => installedPackages(readFileSync(join(root, f), 'utf8')).size > 0);

  it('every package README has an install line', () => {
    for (const { dir, kind } of packages) {
      if (kind === 'library') expect(withInstall, `${dir}/README.md has no npm install / pnpm add line`).toContain(`${dir}/README.md`);
    }
  });

  it.each(withInstall)('%s installs what its examples import', (file) => {
    const missing = missingFromInstall(root, file, snippets, packages);
    expect(missing, `the install line of ${file} misses:\n${missing.join('\n')}`).toEqual([]);
  });
});

describe('README benchmark tables', () => {
  const withTables = markdownFiles(root).filter((f) => benchTableSources(readFileSync(join(root, f), 'utf8')).length > 0);

  it('the tasks and optimizers READMEs quote committed benchmark results', () => {
    expect(withTables).toEqual(expect.arrayContaining(['packages/optimizers/README.md', 'packages/tasks/README.md']));
  });

  it.each(withTables)('%s matches its results files (pnpm docs:bench-tables rewrites it)', (file) => {
    const text = readFileSync(join(root, file), 'utf8');
    const expected = benchTableBlocks(renderBenchTables(root, text));
    expect(benchTableBlocks(text), `the benchmark tables of ${file} differ from their results files: run pnpm docs:bench-tables`).toEqual(expected);
  });
});
