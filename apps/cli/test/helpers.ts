import { spawn } from 'node:child_process';
import { expect } from 'vitest';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package folder (apps/cli) and the repository root. */
export const CLI_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(CLI_DIR, '..', '..');
/** The built binary these tests run (`pnpm build` first; CI builds before testing). */
export const CLI = join(CLI_DIR, 'dist', 'cli.js');

/** What a CLI run produced. */
export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runCli}. */
export interface RunOptions {
  readonly cwd?: string;
  readonly env?: Record<string, string | undefined>;
  /** Called with the child process right after it starts (to send signals). */
  readonly onSpawn?: (child: ReturnType<typeof spawn>) => void;
}

/** Runs `node dist/cli.js ...args` as a child process (the built binary, as users run it). */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliRun> {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: build the CLI first (pnpm turbo run build --filter=@lopt/cli...).`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, LOPT_BACKEND: 'wasm', ...options.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
    options.onSpawn?.(child);
  });
}

/** A fresh temporary directory. */
export function tempDir(prefix = 'lopt-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Asserts-friendly view of a failed run: the error paragraph, and whether a stack trace leaked. */
export function errorParagraph(run: CliRun): { text: string; hasStack: boolean } {
  const lines = run.stderr.split('\n');
  const start = lines.findIndex((l) => l.startsWith('error:'));
  const text = start < 0 ? '' : lines[start] ?? '';
  return { text, hasStack: /\n\s+at .+\(.+:\d+:\d+\)/.test(run.stderr) };
}

/** Bad input: exit code 2, one paragraph naming the problem and the fix, no stack trace. */
export function expectBadInput(run: CliRun, problem: RegExp, fix: RegExp): void {
  const { text, hasStack } = errorParagraph(run);
  expect(run.code, run.stderr).toBe(2);
  expect(text).toMatch(problem);
  expect(text).toMatch(fix);
  expect(hasStack).toBe(false);
}

/**
 * The folder of the published learned-optimizer weights (celo/, celo-adam/, celo2/):
 * LOPT_PRETRAINED_DIR, else ../shared/pretrained beside the repository or beside its
 * folder of worktrees. Throws when none exists, so tests that need it fail, not pass.
 */
export function pretrainedDir(): string {
  const dirs = [process.env.LOPT_PRETRAINED_DIR, join(REPO_ROOT, '..', 'shared', 'pretrained'), join(REPO_ROOT, '..', '..', 'shared', 'pretrained')];
  const found = dirs.find((d) => d && existsSync(join(d, 'celo2', 'celo2_weights.pt')));
  if (!found) throw new Error(`The published weights were not found under ${dirs.filter(Boolean).join(', ')}; set LOPT_PRETRAINED_DIR.`);
  return found;
}
