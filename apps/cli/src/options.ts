import { CliError } from './errors.js';
import { FORBIDDEN_OPTION_KEYS } from '@lopt/core';
import { checkJsonValue } from './json-guard.js';

/** A JSON-like option value parsed from the command line. */
export type OptionValue = string | number | boolean | null | OptionValue[] | { [key: string]: OptionValue };

/**
 * Parses one command-line value: numbers (`1e-3`, `-2`), `true`/`false`/`null`, JSON
 * arrays and objects (`[32,32]`, `{"a":1}`), otherwise the string itself.
 */
export function parseValue(raw: string): OptionValue {
  const v = raw.trim();
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v === 'null') return null;
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(v) || /^[+-]?(Infinity)$/.test(v)) return Number(v);
  if (v.startsWith('[') || v.startsWith('{') || v.startsWith('"')) {
    let parsed: OptionValue;
    try {
      parsed = JSON.parse(v) as OptionValue;
    } catch {
      throw new CliError(`The value ${v.length > 60 ? `${v.slice(0, 57)}...` : v} looks like JSON but does not parse.`, 'Quote it for your shell and check brackets and commas, e.g. hidden=[32,32].');
    }
    checkJsonValue(parsed, `The option value ${v.length > 60 ? `${v.slice(0, 57)}...` : v}`);
    return parsed;
  }
  return v;
}

/**
 * Parses `key=value` pairs separated by `separator` into an options object. `where` names
 * what the options belong to in error messages.
 */
export function parseKeyValues(text: string, where: string, separator: RegExp = /[,;]/): Record<string, OptionValue> {
  const out: Record<string, OptionValue> = {};
  if (text.trim() === '') return out;
  for (const part of splitTopLevel(text, separator)) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? '' : part.slice(0, eq).trim();
    if (eq < 0 || !/^[A-Za-z_][\w]*$/.test(key)) {
      throw new CliError(`Cannot read '${part.trim()}' in the options of ${where}.`, 'Write options as key=value pairs, e.g. adam:learningRate=1e-3,beta1=0.9.');
    }
    if (FORBIDDEN_OPTION_KEYS.includes(key)) {
      throw new CliError(`The option name '${key}' in the options of ${where} is not allowed.`, `Remove it; the keys ${FORBIDDEN_OPTION_KEYS.join(', ')} are refused everywhere.`);
    }
    if (Object.hasOwn(out, key)) throw new CliError(`The option '${key}' is given twice in the options of ${where}.`, 'Give each option once.');
    out[key] = parseValue(part.slice(eq + 1));
  }
  return out;
}

/** Splits at separators outside brackets, braces, parentheses and quotes. */
export function splitTopLevel(text: string, separator: RegExp): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (!quoted) {
      if (ch === '(' || ch === '[' || ch === '{') depth++;
      if (ch === ')' || ch === ']' || ch === '}') depth--;
      if (depth === 0 && separator.test(ch)) {
        parts.push(current);
        current = '';
        continue;
      }
    }
    current += ch;
  }
  parts.push(current);
  return parts;
}
