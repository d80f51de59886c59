import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FUNCTION_LENGTH_EXEMPTIONS, longFunctions, longFunctionsInSource, partitionExempt } from './function-length.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const planted: string[] = [];
afterAll(() => planted.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Runs the `pnpm lint` step on a tree holding one package source file with `text`. */
function lintTree(file: string, text: string): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'lopt-fnlen-'));
  planted.push(dir);
  mkdirSync(join(dir, 'packages', 'x', 'src', dirname(file)), { recursive: true });
  writeFileSync(join(dir, 'packages', 'x', 'src', file), text);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'check-function-length.ts'), '--root', dir], { cwd: root, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const body = (n: number): string => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join('\n');

describe('the function-length check', () => {
  it('reports a planted 81-line function with its name, first line and length, and not an 80-line one', () => {
    const text = `// header\nexport function short(): void {\n${body(78)}\n}\nexport function tooLong(): void {\n${body(79)}\n}\n`;
    expect(longFunctionsInSource('packages/x/src/a.ts', text)).toEqual([{ file: 'packages/x/src/a.ts', name: 'tooLong', line: 82, lines: 81 }]);
  });

  it('names arrows by their variable and methods by their key, and counts nested functions on their own', () => {
    const text = `const factory = () => ({\n  update(s: number) {\n${body(10)}\n    return s;\n  },\n});\n`;
    const found = longFunctionsInSource('f.ts', text, 5);
    expect(found.map((f) => [f.name, f.line, f.lines])).toEqual([
      ['factory', 1, 15],
      ['update', 2, 13],
    ]);
  });

  it('lets only the listed functions through', () => {
    const found = [
      { file: 'packages/estimators/src/truncated-pes.ts', name: 'estimate', line: 1, lines: 100 },
      { file: 'packages/estimators/src/truncated-pes.ts', name: 'other', line: 1, lines: 100 },
    ];
    const { exempt, offending } = partitionExempt(found, ['packages/estimators/src/truncated-pes.ts#estimate']);
    expect(exempt.map((f) => f.name)).toEqual(['estimate']);
    expect(offending.map((f) => f.name)).toEqual(['other']);
  });

  it('the lint step fails (exit 1) on a planted 81-line function, naming it, and passes an 80-line one and kernel code', () => {
    const long = lintTree('a.ts', `export function tooLong(): void {\n${body(79)}\n}\n`);
    expect(long.status, long.out).toBe(1);
    expect(long.out).toContain('packages/x/src/a.ts:1 tooLong 81 lines');
    const fits = lintTree('a.ts', `export function fits(): void {\n${body(78)}\n}\n`);
    expect(fits.status, fits.out).toBe(0);
    expect(fits.out).toContain('function length: 0 function(s) over 80 lines');
    const kernel = lintTree('kernels/k.ts', `export function kernel(): void {\n${body(79)}\n}\n`);
    expect(kernel.status, kernel.out).toBe(0);
  });

  it('holds for the workspace with no exemptions left', () => {
    expect(FUNCTION_LENGTH_EXEMPTIONS).toEqual([]);
    expect(longFunctions(root)).toEqual([]);
  });
});
