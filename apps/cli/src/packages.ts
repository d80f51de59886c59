import { CliError } from './errors.js';

/** The library packages the CLI builds components from, in the order their `registerAll()` runs. */
export const LIBRARY_PACKAGES = ['@lopt/optimizers', '@lopt/tasks', '@lopt/learned', '@lopt/estimators', '@lopt/safeguard'] as const;

/** One of {@link LIBRARY_PACKAGES}. */
export type LibraryPackage = (typeof LIBRARY_PACKAGES)[number];

/** A loaded package's exports (checked function by function where they are used). */
export type ModuleExports = Readonly<Record<string, unknown>>;

/** The outcome of loading the library packages. */
export interface Libraries {
  /** Exports of each package that loaded. */
  readonly modules: ReadonlyMap<LibraryPackage, ModuleExports>;
  /** Packages that failed to load or have no `registerAll`, with the reason. */
  readonly problems: ReadonlyMap<LibraryPackage, string>;
}

let loaded: Promise<Libraries> | undefined;

/**
 * Imports every library package and calls its idempotent `registerAll()`, so the registry
 * knows every built-in component. A package that fails to import (not built yet, or broken)
 * is recorded, not fatal: commands that need it say so when they need it. Packages are
 * imported by a computed specifier so that each is resolved at run time, independently.
 */
export function loadLibraries(): Promise<Libraries> {
  loaded ??= (async () => {
    const modules = new Map<LibraryPackage, ModuleExports>();
    const problems = new Map<LibraryPackage, string>();
    for (const name of LIBRARY_PACKAGES) {
      let mod: ModuleExports;
      try {
        mod = (await import(/* @vite-ignore */ name)) as ModuleExports;
      } catch (e) {
        problems.set(name, `it could not be imported (${firstLine(e)})`);
        continue;
      }
      modules.set(name, mod);
      const registerAll = mod.registerAll;
      if (typeof registerAll !== 'function') {
        problems.set(name, 'it exports no registerAll()');
        continue;
      }
      try {
        (registerAll as () => void)();
      } catch (e) {
        problems.set(name, `its registerAll() failed (${firstLine(e)})`);
      }
    }
    return { modules, problems };
  })();
  return loaded;
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return (m.split('\n')[0] ?? m).trim();
}

/**
 * The function `name` exported by `pkg`, or a {@link CliError} saying which package is
 * missing and how to get it. `what` describes what the caller needs it for.
 */
export async function libraryFunction<F extends (...args: never[]) => unknown>(pkg: LibraryPackage, name: string, what: string): Promise<F> {
  const libs = await loadLibraries();
  const mod = libs.modules.get(pkg);
  const fn = mod?.[name];
  if (typeof fn === 'function') return fn as F;
  const why = libs.problems.get(pkg) ?? (mod ? `it does not export ${name}()` : 'it is not installed');
  throw new CliError(
    `${what} needs ${name}() from ${pkg}, but ${why}.`,
    `Build the workspace with \`pnpm turbo run build --filter=@lopt/cli...\` (or install ${pkg}) and run the command again.`,
  );
}
