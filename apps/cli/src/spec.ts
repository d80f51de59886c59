import { GUARDS, type GuardName } from '@lopt/safeguard';
import { CliError } from './errors.js';
import { parseKeyValues, splitTopLevel, type OptionValue } from './options.js';

/** The guards an optimizer spec can put around another one (@lopt/safeguard's `GUARDS`). */
const GUARD_NAMES = Object.keys(GUARDS) as GuardName[];

/** A parsed `--optimizer` spec. */
export type OptimizerSpec =
  | { readonly kind: 'registry'; readonly name: string; readonly options: Record<string, OptionValue>; readonly text: string }
  | { readonly kind: 'checkpoint'; readonly path: string; readonly text: string }
  | { readonly kind: 'pretrained'; readonly name: string; readonly options: Record<string, OptionValue>; readonly text: string }
  | {
      readonly kind: 'guard';
      readonly guard: GuardName;
      readonly inner: OptimizerSpec;
      readonly fallback: OptimizerSpec;
      readonly options: Record<string, OptionValue>;
      readonly text: string;
    };

const SPEC_HELP =
  'An optimizer spec is a registered name with options (adam:learningRate=1e-3,beta1=0.9), a checkpoint path ' +
  '(runs/quickstart/theta.safetensors or a run directory), or a guard around two specs ' +
  '(guard:lossGuarded(<spec>, adam); inside a guard separate an inner spec\'s options with ";"), or a pretrained ' +
  'learned optimizer shipped with @lopt/learned (pretrained:celo2, pretrained:celo2:learningRate=3e-3).';

/** Whether a spec string names a checkpoint file or run directory rather than a registry name. */
function looksLikePath(text: string): boolean {
  return text.includes('/') || text.includes('\\') || text.endsWith('.safetensors') || text.startsWith('.');
}

/**
 * Parses an optimizer spec:
 * - `adam`, `adam:learningRate=1e-3,beta1=0.9` — a registered optimizer with options;
 * - `path/to/theta.safetensors` or a run directory — a meta-trained learned optimizer;
 * - `pretrained:celo2`, `pretrained:celo2:learningRate=3e-3` — a published learned optimizer
 *   shipped with @lopt/learned (`celo`, `celo-adam`, `celo2`);
 * - `guard:lossGuarded(<spec>, <fallback spec>[, key=value ...])` — a guard from @lopt/safeguard
 *   (also `divergenceGuard`, `safeguarded`); inside a guard, separate an inner spec's options with `;`.
 */
export function parseOptimizerSpec(text: string): OptimizerSpec {
  const t = text.trim();
  if (t === '') throw new CliError('An empty optimizer spec was given.', SPEC_HELP);
  if (t.startsWith('guard:')) return parseGuard(t);
  if (t.startsWith('pretrained:')) return parsePretrained(t);
  if (looksLikePath(t)) return { kind: 'checkpoint', path: t, text: t };
  const colon = t.indexOf(':');
  const name = colon < 0 ? t : t.slice(0, colon);
  if (!/^[A-Za-z][\w.-]*$/.test(name)) throw new CliError(`'${t}' is not a valid optimizer spec.`, SPEC_HELP);
  const options = colon < 0 ? {} : parseKeyValues(t.slice(colon + 1), `optimizer '${name}'`);
  return { kind: 'registry', name, options, text: t };
}

/** `pretrained:<name>[:key=value,...]`: a published learned optimizer shipped with @lopt/learned. */
function parsePretrained(t: string): OptimizerSpec {
  const rest = t.slice('pretrained:'.length);
  const colon = rest.indexOf(':');
  const name = colon < 0 ? rest : rest.slice(0, colon);
  if (!/^[A-Za-z][\w-]*$/.test(name)) throw new CliError(`'${t}' names no pretrained optimizer.`, 'Write pretrained:<name>[:key=value,...], e.g. pretrained:celo2 or pretrained:celo; `lopt list` shows them.');
  const options = colon < 0 ? {} : parseKeyValues(rest.slice(colon + 1), `pretrained optimizer '${name}'`);
  return { kind: 'pretrained', name, options, text: t };
}

function parseGuard(t: string): OptimizerSpec {
  const m = /^guard:([A-Za-z]+)\((.*)\)$/s.exec(t);
  if (!m) throw new CliError(`Cannot read the guard spec '${t}'.`, `Write it as guard:<guard>(<spec>, <fallback>), guards: ${GUARD_NAMES.join(', ')}. ${SPEC_HELP}`);
  const guard = m[1] as string;
  if (!(GUARD_NAMES as readonly string[]).includes(guard)) {
    throw new CliError(`Unknown guard '${guard}' in '${t}'.`, `Use one of: ${GUARD_NAMES.join(', ')}.`);
  }
  const parts = splitTopLevel(m[2] as string, /,/).map((p) => p.trim());
  const specs = parts.filter((p) => !isKeyValue(p));
  const optionParts = parts.filter(isKeyValue);
  const firstOption = parts.findIndex(isKeyValue);
  if (specs.length !== 2 || (firstOption >= 0 && firstOption < 2)) {
    throw new CliError(
      `The guard '${t}' needs exactly two optimizer specs (the guarded one and the fallback) before any key=value options.`,
      'Example: guard:lossGuarded(runs/quickstart/theta.safetensors, adam:learningRate=1e-3;beta1=0.9, every=5).',
    );
  }
  const options = parseKeyValues(optionParts.join(','), `guard '${guard}'`);
  return {
    kind: 'guard',
    guard: guard as GuardName,
    inner: parseOptimizerSpec(specs[0] as string),
    fallback: parseOptimizerSpec(specs[1] as string),
    options,
    text: t,
  };
}

function isKeyValue(part: string): boolean {
  return /^[A-Za-z_]\w*\s*=/.test(part);
}

/** A short label for tables and legends. */
export function specLabel(spec: OptimizerSpec): string {
  switch (spec.kind) {
    case 'registry': {
      const opts = Object.entries(spec.options).map(([k, v]) => `${k}=${formatOption(v)}`);
      return opts.length ? `${spec.name}(${opts.join(', ')})` : spec.name;
    }
    case 'pretrained': {
      const opts = Object.entries(spec.options).map(([k, v]) => `${k}=${formatOption(v)}`);
      return opts.length ? `pretrained:${spec.name}(${opts.join(', ')})` : `pretrained:${spec.name}`;
    }
    case 'checkpoint': {
      const parts = spec.path.replace(/\\/g, '/').split('/').filter((p) => p !== '' && p !== '.');
      const shown = parts.slice(-2).join('/');
      return `learned:${shown}`;
    }
    case 'guard':
      return `${spec.guard}(${specLabel(spec.inner)}, ${specLabel(spec.fallback)})`;
  }
}

function formatOption(v: OptionValue): string {
  if (typeof v === 'number') return Number.isInteger(v) || Math.abs(v) >= 1e-2 ? String(v) : v.toExponential(2).replace(/\.?0+e/, 'e');
  return typeof v === 'string' ? v : JSON.stringify(v);
}
