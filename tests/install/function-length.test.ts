import { describe, expect, it } from 'vitest';
import { FUNCTION_LENGTH_EXEMPTIONS, longFunctionsInSource, partitionExempt } from './function-length.ts';

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
    const { exempt, offending } = partitionExempt(found);
    expect(exempt.map((f) => f.name)).toEqual(['estimate']);
    expect(offending.map((f) => f.name)).toEqual(['other']);
    expect(FUNCTION_LENGTH_EXEMPTIONS.every((e) => e.startsWith('packages/estimators/src/'))).toBe(true);
  });
});
