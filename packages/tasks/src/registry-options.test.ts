import { describe, expect, it } from 'vitest';
import { create, list } from '@lopt/core';
import { MAX_DIM } from './common.js';
import { registerAll } from './registry.js';

registerAll();

/** The top-level names in a description's `options { a, b: { c }, d }` (nested braces and brackets skipped). */
function topLevelOptionNames(description: string): string[] {
  const start = description.indexOf('options {');
  if (start < 0) return [];
  const names: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of description.slice(start + 'options {'.length)) {
    if (depth === 0 && (ch === ',' || ch === '}')) {
      names.push((current.split(':')[0] as string).trim());
      current = '';
      if (ch === '}') break;
      continue;
    }
    if (ch === '{' || ch === '[') depth++;
    if (ch === '}' || ch === ']') depth--;
    current += ch;
  }
  return names.filter((n) => n !== '');
}

describe('registered task factories refuse options they do not know (issue 14, item 8)', () => {
  it('an unknown key, a misspelt key and __proto__ are errors naming the key; known keys still work', () => {
    expect(() => create('task', 'quadraticTask', { bogus: 1 })).toThrow(/quadraticTask: unknown option 'bogus'\. Known options: dim\./);
    expect(() => create('task-family', 'fixedDimQuadraticFamily', { dims: 4 })).toThrow(/fixedDimQuadraticFamily: unknown option 'dims'\. Known options: dim, maxCondition\./);
    expect(() => create('task', 'quadraticTask', JSON.parse('{"__proto__": {"dim": 3}}') as Record<string, unknown>)).toThrow(/'__proto__' is not allowed/);
    const task = create('task', 'quadraticTask', { dim: 3 });
    expect(task.name).toBe('quadratic-3');
  });

  it("every registered task and family lists its options in its description, and those are the ones it accepts", () => {
    for (const kind of ['task', 'task-family'] as const) {
      for (const { name, description } of list(kind)) {
        const named = topLevelOptionNames(description);
        // Each key the description names passes the key check (it may still fail on its value: undefined is the default).
        for (const key of named) {
          try {
            create(kind, name, { [key]: undefined });
          } catch (e) {
            expect((e as Error).message, `${kind} ${name}: ${key}`).not.toMatch(/unknown option/);
          }
        }
      }
    }
  });

  it(`dimensions above MAX_DIM (${MAX_DIM}) are refused before anything is allocated`, () => {
    expect(() => create('task', 'quadraticTask', { dim: 1e12 })).toThrow(/Option 'dim' must be an integer >= 1 <= 1000000, got 1000000000000/);
    expect(() => create('task', 'rosenbrockTask', { dim: MAX_DIM + 1 })).toThrow(/'dim'/);
    expect(create('task', 'quadraticTask', { dim: MAX_DIM }).name).toBe(`quadratic-${MAX_DIM}`);
  });
});
