import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CliError } from './errors.js';
import { formatNumber, renderTable } from './stats.js';

/** A package with a `bench` script. */
export interface BenchPackage {
  readonly name: string;
  readonly dir: string;
}

/** One ratio read from a benchmark's JSON. */
export interface RatioRow {
  readonly package: string;
  readonly file: string;
  /** What was compared (the identifying fields of the JSON object the ratio is in). */
  readonly context: string;
  /** The ratio's key, e.g. `ratioToAdam`. */
  readonly metric: string;
  readonly value: number;
}

/** The workspace root: the nearest folder upwards with `pnpm-workspace.yaml`. */
export function findWorkspaceRoot(from: string): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = dirname(dir);
    if (up === dir) {
      throw new CliError(`No lopt workspace (pnpm-workspace.yaml) found at or above ${from}.`, 'Run `lopt bench` inside a checkout of the lopt repository, or pass --root <dir>.');
    }
    dir = up;
  }
}

/** Packages under `packages/` and `apps/` whose package.json has a `bench` script, filtered by name. */
export function benchPackages(root: string, filter?: string): BenchPackage[] {
  const out: BenchPackage[] = [];
  for (const group of ['packages', 'apps']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base).sort()) {
      const file = join(base, entry, 'package.json');
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; scripts?: Record<string, string> };
      if (!pkg.scripts?.bench) continue;
      const name = pkg.name ?? entry;
      if (filter && !name.includes(filter) && !entry.includes(filter)) continue;
      out.push({ name, dir: join(base, entry) });
    }
  }
  return out;
}

const ID_FIELDS = ['name', 'benchmark', 'optimizer', 'architecture', 'learned', 'guard', 'task', 'estimator', 'variant', 'mode', 'problem', 'dataset', 'label', 'backend', 'params', 'parameters', 'size', 'every', 'case'];

/** An identifying field's text: strings and numbers, or the `name` of an object (such as a backend description). */
function idValue(v: unknown): string | undefined {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (typeof v === 'object' && v !== null && typeof (v as { name?: unknown }).name === 'string') return (v as { name: string }).name;
  return undefined;
}

/**
 * Every numeric field whose key mentions "ratio" (or "speedup"), anywhere in a benchmark's
 * JSON, with the identifying fields around it (name, optimizer, backend, size, ...) as its context.
 */
export function extractRatios(json: unknown, pkg: string, file: string): RatioRow[] {
  const rows: RatioRow[] = [];
  const walk = (v: unknown, ctx: string[]): void => {
    if (Array.isArray(v)) {
      v.forEach((x) => walk(x, ctx));
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    const o = v as Record<string, unknown>;
    const ids = ID_FIELDS.filter((k) => idValue(o[k]) !== undefined).map((k) => `${k}=${idValue(o[k])}`);
    const here = [...ctx, ...ids];
    for (const [k, x] of Object.entries(o)) {
      if (typeof x === 'number' && /ratio|speedup/i.test(k)) rows.push({ package: pkg, file, context: here.join(' '), metric: k, value: x });
      else if (typeof x === 'object' && x !== null) walk(x, Array.isArray(x) || ids.length ? here : [...here, k]);
    }
  };
  walk(json, []);
  return rows;
}

/** Reads every `bench-results/*.json` of a package. */
export function readBenchResults(pkg: BenchPackage): RatioRow[] {
  const dir = join(pkg.dir, 'bench-results');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((f) => {
      try {
        return extractRatios(JSON.parse(readFileSync(join(dir, f), 'utf8')), pkg.name, f);
      } catch {
        return [];
      }
    });
}

/** Runs a package's `bench` script (`pnpm run bench`), streaming its output to stderr. Returns whether it succeeded. */
export function runBench(pkg: BenchPackage, env: NodeJS.ProcessEnv): boolean {
  const r = spawnSync('pnpm', ['run', 'bench'], { cwd: pkg.dir, stdio: ['ignore', 'inherit', 'inherit'], env, shell: process.platform === 'win32' });
  if (r.error) {
    throw new CliError(`Could not start \`pnpm run bench\` in ${pkg.dir} (${r.error.message}).`, 'Install pnpm (npm install -g pnpm), or use --no-run to only read existing results.');
  }
  return r.status === 0;
}

/** The ratio table. */
export function ratioTable(rows: readonly RatioRow[]): string {
  return renderTable(
    ['package', 'result file', 'case', 'ratio', 'value'],
    rows.map((r) => [r.package, r.file, r.context || '-', r.metric, formatNumber(r.value)]),
  );
}
