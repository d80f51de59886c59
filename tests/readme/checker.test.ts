// The snippet checker itself: extraction with line numbers and markers, typecheck diagnostics
// located in the Markdown file, failing and overlong runs, install-line parsing. Each case is
// built so that a checker that missed the problem would fail it.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { extractSnippets, snippetId } from './extract.ts';
import { importedPackages, installedPackages, packageName } from './install.ts';
import { runSnippet } from './run.ts';
import { typecheckSnippets } from './typecheck.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const md = [
  '# t', // 1
  '', // 2
  '```ts', // 3
  "import { key } from '@lopt/core';", // 4
  'const n: number = key(0);', // 5
  '```', // 6
  '', // 7
  '<!-- snippet: typecheck-only (browser) -->', // 8
  '', // 9
  '1. step', // 10
  '   ```ts', // 11
  '   const f = (p) => p;', // 12
  '   ```', // 13
  '```sh', // 14
  'npm install @lopt/core @tensorflow/tfjs-core@4.22.0 # comment @x/y', // 15
  'npm install -g @lopt/cli', // 16
  '```', // 17
].join('\n');

describe('extractSnippets', () => {
  it('finds ts blocks (also indented), their first code line and their mode', () => {
    const s = extractSnippets('x.md', md);
    expect(s.map((x) => [x.line, x.mode])).toEqual([
      [4, 'run'],
      [12, 'run'],
    ]);
    expect(s[1]?.code).toBe('const f = (p) => p;\n');
    expect(snippetId(s[0]!)).toBe('x.md_L4');
  });

  it('reads a marker on the nearest non-blank line above the fence', () => {
    const s = extractSnippets('y.md', '<!-- snippet: typecheck-only -->\n\n```ts\nlet a = 1;\n```\n');
    expect(s[0]?.mode).toBe('typecheck-only');
  });

  it('rejects an unknown marker and an unclosed block, naming file and line', () => {
    expect(() => extractSnippets('y.md', '<!-- snippet: typecheck-onyl -->\n```ts\nx\n```\n')).toThrow("y.md:2: unknown snippet marker 'typecheck-onyl'");
    expect(() => extractSnippets('z.md', 'a\n```ts\nx\n')).toThrow('z.md:2: the ```ts block is never closed');
  });
});

describe('typecheckSnippets', () => {
  it('reports errors under strict at their Markdown line and column', () => {
    const s = extractSnippets('x.md', md);
    const d = typecheckSnippets(root, s);
    expect(d.get('x.md_L4')).toEqual([{ where: 'x.md:5:7', message: expect.stringMatching(/^TS2322: Type 'Key' is not assignable to type 'number'/) as unknown }]);
    expect(d.get('x.md_L12')?.map((x) => [x.where, x.message.slice(0, 7)])).toEqual([['x.md:12:12', 'TS7006:']]);
  });
});

describe('runSnippet', () => {
  it('returns the exit code and output of a failing snippet', async () => {
    const r = await runSnippet(root, { file: 'f.md', line: 1, code: "console.log('out');\nthrow new Error('boom');\n", mode: 'run' }, 60_000);
    expect(r.code).not.toBe(0);
    expect(r.timedOut).toBe(false);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('boom');
  });

  it('kills a snippet that runs past its time limit', async () => {
    const r = await runSnippet(root, { file: 'f.md', line: 2, code: 'setInterval(() => {}, 1000);\n', mode: 'run' }, 3_000);
    expect(r.timedOut).toBe(true);
    expect(r.code).toBeNull();
    expect(r.ms).toBeGreaterThanOrEqual(3_000);
  });
});

describe('install lines', () => {
  it('lists the packages of local install commands in shell blocks, without versions, flags or comments', () => {
    expect([...installedPackages(md)]).toEqual(['@lopt/core', '@tensorflow/tfjs-core']);
  });

  it('names the packages a snippet imports', () => {
    const code = "import * as tf from '@tensorflow/tfjs';\nimport { a } from '@lopt/core/node';\nimport x from './x.js';\nimport 'node:fs';\nconst m = await import('fast-check');\n";
    expect([...importedPackages(code)].sort()).toEqual(['@lopt/core', '@tensorflow/tfjs', 'fast-check']);
    expect(packageName('@lopt/core@^0.1.0')).toBe('@lopt/core');
    expect(packageName('vitest@4')).toBe('vitest');
  });
});
