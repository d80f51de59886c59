// No runtime import of @lopt/core here: main.ts stays light (tfjs loads only when a command runs).
import type { LoptError, LoptErrorCode } from '@lopt/core';

/** Same test as `isLoptError` of @lopt/core (by name and code, across package copies). */
export function isLoptError(value: unknown): value is LoptError {
  return value instanceof Error && value.name === 'LoptError' && typeof (value as { code?: unknown }).code === 'string';
}

/** A LoptError with context added; `isLoptError` recognizes it and its code is kept. */
class ContextualLoptError extends Error {
  readonly code: LoptErrorCode;
  readonly option: string | undefined;
  readonly path: string | undefined;
  constructor(code: LoptErrorCode, message: string, option: string | undefined, path: string | undefined, cause: unknown) {
    super(message, { cause });
    this.name = 'LoptError';
    this.code = code;
    this.option = option;
    this.path = path;
  }
}

/** Exit code for bad input (unknown names, malformed files, out-of-range options, I/O). */
export const EXIT_BAD_INPUT = 2;
/** Exit code for an unexpected failure inside lopt (a bug). */
export const EXIT_INTERNAL = 1;
/** Exit code after Ctrl-C, once the checkpoint is written (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

/**
 * A user-facing error: what went wrong and how to fix it. The CLI prints it as one
 * paragraph (no stack trace unless `--debug`) and exits with code 2.
 */
export class CliError extends Error {
  /** How to fix it, one or two sentences. */
  readonly fix: string;

  constructor(problem: string, fix: string, options: { cause?: unknown } = {}) {
    super(problem, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.fix = fix;
  }
}

/** What to suggest for each `LoptError` code when the thrower gave no fix of its own. */
const FIX_BY_CODE: Record<LoptError['code'], string> = {
  INVALID_OPTION: 'Change the named option to an allowed value (see `--help` of the command, or `lopt list` for component names).',
  TREE_MISMATCH: 'The two trees must have the same structure; check that the checkpoint and the task or optimizer match.',
  SHAPE_MISMATCH: 'The tensor shapes do not match; check that the checkpoint was written for this architecture and configuration.',
  NON_FINITE: 'A value became NaN or infinite; lower the learning rate or the perturbation std, or add a guard (guard:divergenceGuard(<spec>, adam)).',
  MISSING_CONTEXT: 'This optimizer needs more context (such as the loss) than the caller gave; use it through `lopt eval` or pass the loss.',
  CHECKPOINT_INVALID: 'The file is not a valid lopt checkpoint (truncated or corrupted): use another checkpoint, for example the theta.safetensors of a finished run, or re-run meta-train.',
  CHECKPOINT_MISMATCH: 'The checkpoint was written for another component or configuration: pass a checkpoint of the expected architecture, or a config that matches the checkpoint.',
  UNKNOWN_NAME: 'Use one of the registered names (`lopt list`), or load the plugin that registers it with --plugin <module>.',
  DUPLICATE_NAME: 'Two components were registered under one name: rename the one in your plugin.',
  BACKEND_UNAVAILABLE: "Choose another backend with --backend wasm|cpu (or LOPT_BACKEND), or install the missing package.",
  IO_ERROR: 'Check that the path exists and is readable, and that output folders are writable (or choose another one with --out).',
  INTERNAL: 'This is a bug in lopt; please report it with the output of the same command run with --debug.',
};

/** Whether an error is bad input (exit 2) rather than a bug (exit 1). */
export function isUserError(e: unknown): boolean {
  return e instanceof CliError || (isLoptError(e) && e.code !== 'INTERNAL');
}

/** One paragraph for the terminal: the problem, then the fix. */
export function formatUserError(e: unknown): string {
  if (e instanceof CliError) return `error: ${ensurePeriod(e.message)} ${e.fix}`;
  if (isLoptError(e)) return `error: ${ensurePeriod(e.message)} ${FIX_BY_CODE[e.code] ?? ''}`.trimEnd();
  const message = e instanceof Error ? e.message : String(e);
  return `error: ${ensurePeriod(message)} This looks like a bug in lopt; re-run with --debug for the stack trace and report it.`;
}

function ensurePeriod(s: string): string {
  const t = s.trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** Adds a prefix (such as the config field) to a LoptError's or CliError's message, keeping its code. */
export function withContext(e: unknown, prefix: string): unknown {
  if (isLoptError(e)) {
    return new ContextualLoptError(e.code, `${prefix}: ${e.message}`, e.option, e.path, e);
  }
  if (e instanceof CliError) return new CliError(`${prefix}: ${e.message}`, e.fix, { cause: e });
  return e;
}

/** Thrown to end a command early with an exit code after it has reported why (Ctrl-C). */
export class StopSignal extends Error {
  constructor(readonly exitCode: number) {
    super(`stopped (${exitCode})`);
    this.name = 'StopSignal';
  }
}
