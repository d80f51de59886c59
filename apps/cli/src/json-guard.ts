import { FORBIDDEN_OPTION_KEYS } from '@lopt/core';
import { CliError } from './errors.js';

/** How deeply JSON from the user (configs, option values, run files) may nest. */
export const MAX_JSON_DEPTH = 32;

/**
 * Checks JSON from the user before anything walks it recursively: nesting at most
 * {@link MAX_JSON_DEPTH} levels (deeper input would overflow the stack of later steps), and
 * no `__proto__`, `constructor` or `prototype` keys. Iterative, so it cannot overflow
 * itself. Throws a {@link CliError} naming `where` and the path of the offending value.
 */
export function checkJsonValue(value: unknown, where: string): void {
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: value, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop() as { v: unknown; path: string; depth: number };
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_JSON_DEPTH) {
      throw new CliError(`${where} nests deeper than ${MAX_JSON_DEPTH} levels (at '${path || '(top level)'}').`, 'Flatten the value; no lopt option needs that much nesting.');
    }
    if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push({ v: x, path: `${path}[${i}]`, depth: depth + 1 }));
      continue;
    }
    for (const k of Object.keys(v)) {
      const at = path ? `${path}.${k}` : k;
      if (FORBIDDEN_OPTION_KEYS.includes(k)) {
        throw new CliError(`${where} has the key '${at}', which is not allowed.`, `Remove it; the keys ${FORBIDDEN_OPTION_KEYS.join(', ')} are refused everywhere.`);
      }
      stack.push({ v: (v as Record<string, unknown>)[k], path: at, depth: depth + 1 });
    }
  }
}
