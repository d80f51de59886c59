import { accessSync, appendFileSync, constants, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError } from './errors.js';
import { describeFsError, MAX_BYTES, readInputText } from './input-files.js';

/** Files of a run directory. */
export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  theta: 'theta.safetensors',
  best: 'best.safetensors',
  state: 'meta-train.safetensors',
  evalDir: 'eval',
  curves: join('eval', 'curves.json'),
  summary: join('eval', 'summary.json'),
  summaryMd: join('eval', 'summary.md'),
  reportDir: 'report',
} as const;

/**
 * Creates `dir` (and parents) and proves it is writable by writing and removing a probe
 * file, so a bad output directory fails at start-up, not after minutes of training.
 */
export function ensureWritableDir(dir: string, flag = '--out', fix?: string): string {
  const abs = resolve(dir);
  try {
    if (existsSync(abs) && !statSync(abs).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    mkdirSync(abs, { recursive: true });
    accessSync(abs, constants.W_OK);
    const probe = join(abs, `.lopt-write-probe-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const why = code === 'ENOTDIR' || code === 'EEXIST' ? 'a file is in the way (a path component is not a directory)' : describeFsError(e);
    throw new CliError(`Cannot write to the output directory '${dir}': ${why}.`, fix ?? `Choose a writable directory with ${flag} <dir>, or fix the permissions of this one.`);
  }
  return abs;
}

/** Reads a JSON file of a run directory, with a clear error when it is missing or malformed. */
export function readRunJson<T>(runDir: string, file: string, what: string): T {
  const path = join(runDir, file);
  if (!existsSync(path)) {
    throw new CliError(`'${runDir}' has no ${file} (${what}).`, 'Pass a run directory written by `lopt meta-train` or `lopt eval --out`.');
  }
  const text = readInputText(path, what, MAX_BYTES.json);
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new CliError(`${path} is not valid JSON (${(e as Error).message}).`, 'The file was edited or truncated; restore it or re-run the command that wrote it.');
  }
}

/** Reads `metrics.jsonl`, skipping a torn last line (a run killed mid-write). */
export function readMetrics(runDir: string): Record<string, number>[] {
  const path = join(runDir, RUN_FILES.metrics);
  if (!existsSync(path)) return [];
  const rows: Record<string, number>[] = [];
  for (const line of readInputText(path, 'the metrics file', MAX_BYTES.metrics).split('\n')) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line) as Record<string, number>);
    } catch {
      // A torn final line from a killed run.
    }
  }
  return rows;
}

/** Appends one JSON line. */
export function appendJsonLine(path: string, value: unknown): void {
  appendFileSync(path, `${JSON.stringify(value)}\n`);
}

/** Rewrites `metrics.jsonl` keeping only rows with `step <= lastStep` (resuming from a checkpoint). */
export function truncateMetrics(runDir: string, lastStep: number): void {
  const rows = readMetrics(runDir).filter((r) => typeof r.step === 'number' && r.step <= lastStep);
  writeFileSync(join(runDir, RUN_FILES.metrics), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

/** Temporary files of atomic writes (`.<name>.<12 hex>.tmp`, see `writeFileAtomic`). */
const TEMP_FILE = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * Removes temporary files that atomic writes of a killed run left in a run directory (and
 * its eval/ and report/ folders); returns their paths. Only one lopt command writes a run
 * directory at a time, so a temporary file seen at start-up is stale.
 */
export function removeStaleTempFiles(runDir: string): string[] {
  const removed: string[] = [];
  for (const dir of [runDir, join(runDir, RUN_FILES.evalDir), join(runDir, RUN_FILES.reportDir)]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (!TEMP_FILE.test(name)) continue;
      rmSync(join(dir, name), { force: true });
      removed.push(join(dir, name));
    }
  }
  return removed;
}
