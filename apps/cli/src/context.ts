import { initBackend, type BackendChoice, type BackendInfo } from '@lopt/backend';
import { registerLibraries } from './libraries.js';
import { loadPlugins, type PluginResult } from './plugins.js';

/** Options every command accepts. */
export interface CommonOptions {
  /** `auto`, `tensorflow`, `wasm` or `cpu`; default `LOPT_BACKEND`, else `auto`. */
  readonly backend?: BackendChoice;
  /** Plugin modules to load. */
  readonly plugin?: readonly string[];
  /** Run the plugins a config file or run directory names (they run code). */
  readonly allowPlugins?: boolean;
  /** Seconds a plugin may take to import and register. */
  readonly pluginTimeout?: number;
  /** Show stack traces. */
  readonly debug?: boolean;
}

/** What a command starts with: the backend and the plugins (the libraries' built-ins are registered). */
export interface CommandContext {
  readonly backend: BackendInfo;
  readonly plugins: readonly PluginResult[];
  /** Writes a status line to stderr (stdout is kept for results). */
  readonly log: (line: string) => void;
}

/** The one line every command starts with: which backend runs, and why. */
export function backendLine(command: string, info: BackendInfo): string {
  const details: string[] = [];
  if (info.name === 'wasm') details.push(info.simd ? 'SIMD' : 'no SIMD', `${info.threads} thread${info.threads === 1 ? '' : 's'}`);
  return `lopt ${command} · backend: ${info.name} (${info.reason})${details.length ? ` · ${details.join(', ')}` : ''}`;
}

/**
 * Starts a command: picks the backend (`--backend`, else `LOPT_BACKEND`, else auto) and
 * prints which one runs and why as the first line, registers every library package's
 * built-ins, then loads plugins (from `--plugin` and the config's `plugins`, which the caller
 * has approved with `gateConfigPlugins`; their files are listed before they run).
 */
export async function startCommand(command: string, options: CommonOptions, extraPlugins: readonly string[] = []): Promise<CommandContext> {
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const backend = await initBackend(options.backend === undefined ? {} : { backend: options.backend });
  log(backendLine(command, backend));
  registerLibraries();
  if (extraPlugins.length) log(`plugin files named by the config, which will run: ${extraPlugins.join(', ')}`);
  const plugins = await loadPlugins([...extraPlugins, ...(options.plugin ?? [])], process.cwd(), options.pluginTimeout);
  for (const p of plugins) if (p.registered.length) log(`plugin ${p.module}: registered ${p.registered.join(', ')}`);
  return { backend, plugins, log };
}
