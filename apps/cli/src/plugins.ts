import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REGISTRY_KINDS, list, type RegistryKind } from '@lopt/core';
import { CliError } from './errors.js';

/** What a plugin added to the registry. */
export interface PluginResult {
  /** The module as given (path or package name). */
  readonly module: string;
  /** `kind/name` of every component the plugin registered. */
  readonly registered: readonly string[];
}

// A plugin named twice (in the config and with --plugin) is loaded once.
const loadedFiles = new Set<string>();

function snapshot(): Set<string> {
  const names = new Set<string>();
  for (const kind of REGISTRY_KINDS) for (const e of list(kind)) names.add(`${kind}/${e.name}`);
  return names;
}

/** Resolves a plugin specifier: a file path (relative to `cwd`) or a package name installed where `cwd` can see it. */
export function resolvePlugin(spec: string, cwd: string): string {
  const looksLikePath = spec.startsWith('.') || isAbsolute(spec) || /\.(c|m)?js$/.test(spec);
  if (looksLikePath) {
    const path = resolve(cwd, spec);
    if (!existsSync(path)) {
      throw new CliError(`Plugin '${spec}' was not found (looked for ${path}).`, 'Pass the path of an ES module file (.js/.mjs) or the name of an installed package to --plugin.');
    }
    try {
      return createRequire(pathToFileURL(resolve(cwd, 'package.json')).href).resolve(path);
    } catch {
      return path;
    }
  }
  try {
    return createRequire(pathToFileURL(resolve(cwd, 'package.json')).href).resolve(spec);
  } catch {
    throw new CliError(
      `Plugin package '${spec}' could not be resolved from ${cwd}.`,
      `Install it next to your project (\`pnpm add ${spec}\`), or pass the path of its entry file to --plugin.`,
    );
  }
}

/** Seconds a plugin may take to import and register (`--plugin-timeout`). */
export const DEFAULT_PLUGIN_TIMEOUT_S = 30;

async function runPlugin(file: string): Promise<void> {
  const mod = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as Record<string, unknown>;
  const hook = typeof mod.registerAll === 'function' ? mod.registerAll : typeof mod.default === 'function' ? mod.default : undefined;
  if (hook) await (hook as () => unknown)();
}

/**
 * Waits for a plugin's import and registration, or fails after `seconds`: a promise that
 * never settles would otherwise let Node exit with code 13 and no message. The timer keeps
 * the process alive while it waits.
 */
async function withTimeout(work: Promise<void>, seconds: number, spec: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new CliError(`Plugin '${spec}' did not finish loading within ${seconds} s (its import or registerAll() never resolved).`, 'Fix the plugin so that registerAll() returns (or resolves), or raise --plugin-timeout <seconds>.'));
    }, seconds * 1000);
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Plugins named by a config file or a run directory's config.json run code, so they load
 * only with `--allow-plugins` (or when the same file is also given with `--plugin`). Returns
 * the resolved files that will run; throws a {@link CliError} listing them otherwise.
 */
export function gateConfigPlugins(specs: readonly string[], source: string, allow: boolean, flagged: readonly string[], cwd: string): string[] {
  if (specs.length === 0) return [];
  const files = specs.map((s) => resolvePlugin(s, cwd));
  const explicit = new Set(flagged.map((s) => resolvePlugin(s, cwd)));
  const unapproved = files.filter((f) => !explicit.has(f));
  if (!allow && unapproved.length > 0) {
    throw new CliError(
      `The config ${source} names plugins, which run code on this machine: ${unapproved.join(', ')}.`,
      'Read them first; then pass --allow-plugins to run the plugins a config names (or name each one with --plugin <file>).',
    );
  }
  return files;
}

/**
 * Loads plugin modules. A plugin registers components in the `@lopt/core` registry: it may
 * export `registerAll()` (preferred, called once), export a default function (called), or
 * register when imported. A plugin that registers nothing is an error, since it would
 * otherwise fail silently later.
 */
export async function loadPlugins(specs: readonly string[], cwd: string, timeoutSeconds = DEFAULT_PLUGIN_TIMEOUT_S): Promise<PluginResult[]> {
  const results: PluginResult[] = [];
  for (const spec of specs) {
    const file = resolvePlugin(spec, cwd);
    if (loadedFiles.has(file)) continue;
    loadedFiles.add(file);
    const before = snapshot();
    try {
      await withTimeout(runPlugin(file), timeoutSeconds, spec);
    } catch (e) {
      if (e instanceof CliError) throw e;
      const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
      throw new CliError(`Plugin '${spec}' failed to load: ${msg}`, 'Fix the plugin (run it with --debug for the stack trace); see CONTRIBUTING.md, "Plugins for the lopt CLI".', { cause: e });
    }
    const registered = [...snapshot()].filter((n) => !before.has(n));
    if (registered.length === 0) {
      throw new CliError(
        `Plugin '${spec}' loaded but registered no component.`,
        "A plugin must call register(kind, name, factory, description) from @lopt/core, in an exported registerAll() or when imported.",
      );
    }
    results.push({ module: spec, registered });
  }
  return results;
}

/** Kinds accepted on the command line, singular or plural (`tasks`, `task-families`). */
export function parseKind(value: string): RegistryKind {
  const v = value.toLowerCase().replace(/_/g, '-');
  const aliases: Record<string, RegistryKind> = {
    optimizer: 'optimizer',
    optimizers: 'optimizer',
    'learned-optimizer': 'learned-optimizer',
    'learned-optimizers': 'learned-optimizer',
    learned: 'learned-optimizer',
    task: 'task',
    tasks: 'task',
    'task-family': 'task-family',
    'task-families': 'task-family',
    family: 'task-family',
    families: 'task-family',
    estimator: 'estimator',
    estimators: 'estimator',
  };
  const kind = aliases[v];
  if (!kind) {
    throw new CliError(`Unknown component kind '${value}'.`, `Use one of: ${REGISTRY_KINDS.join(', ')} (plurals work too).`);
  }
  return kind;
}
