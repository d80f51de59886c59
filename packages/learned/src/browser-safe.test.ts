import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = dirname(fileURLToPath(import.meta.url));

/** Every source file the main entry reaches through relative imports, with its bare imports. */
function reachable(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    // `from 'x'`, side-effect `import 'x'` and dynamic `import('x')`.
    const specs = [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1] as string);
    seen.set(file, specs.filter((s) => !s.startsWith('.')));
    for (const s of specs.filter((x) => x.startsWith('.'))) visit(resolve(dirname(file), s.replace(/\.js$/, '.ts')));
  };
  visit(entry);
  return seen;
}

describe('the main entry of @lopt/learned', () => {
  it('imports no Node built-in, directly or through its own modules (it must run in a browser)', () => {
    const files = reachable(join(src, 'index.ts'));
    expect([...files.keys()].some((f) => f.endsWith(join('formats', 'torch.ts')))).toBe(true);
    const nodeImports = [...files].flatMap(([f, specs]) => specs.filter((s) => s.startsWith('node:') || ['fs', 'path', 'crypto', 'os', 'zlib', 'child_process'].includes(s)).map((s) => `${f}: ${s}`));
    expect(nodeImports).toEqual([]);
  });
});
