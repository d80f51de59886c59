import { readRegularFileSync } from '@lopt/core/node';
import { CliError } from './errors.js';

/** Size caps of the files the CLI reads (stated in the message when a file is larger). */
export const MAX_BYTES = {
  /** Config files, a run's config.json and eval/curves.json. */
  json: 64 * 1024 * 1024,
  /** Learned-optimizer and meta-train checkpoints. */
  checkpoint: 1024 * 1024 * 1024,
  /** A run's metrics.jsonl. */
  metrics: 512 * 1024 * 1024,
} as const;

/** What a file-system error code means, in words (`EROFS` is not "does not exist"). */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  switch (code) {
    case 'ENOENT':
      return 'it does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOTDIR':
      return 'a path component is not a directory';
    case 'ENOSPC':
      return 'no space is left on the device';
    case 'EDQUOT':
      return 'the disk quota is exhausted';
    case 'ELOOP':
      return 'too many symbolic links';
    default:
      return code ? `${code}: ${(e as Error).message}` : (e as Error).message;
  }
}

/** The reason part of `@lopt/core/node`'s read error ("Could not read '<path>': <reason>."). */
function reason(e: unknown): string {
  const cause = (e as { cause?: unknown }).cause;
  if (cause && typeof cause === 'object' && 'code' in cause) return describeFsError(cause);
  const m = /^Could not read '.*?': (.*?)\.?$/s.exec((e as Error).message);
  return m ? (m[1] as string) : (e as Error).message;
}

/**
 * Reads a file the user named, as bytes, through `readRegularFileSync` of `@lopt/core/node`:
 * only a regular file (not a device such as `/dev/zero`, a pipe or a directory), at most
 * `maxBytes`. Every failure is a {@link CliError} naming `what`, the path and the reason
 * (permission denied, read-only, missing, too large), never a raw Node error.
 */
export function readInputFile(path: string, what: string, maxBytes: number): Uint8Array {
  try {
    return readRegularFileSync(path, maxBytes);
  } catch (e) {
    throw inputFileError(e, what, path);
  }
}

/** The {@link CliError} for a failed read of `what` at `path` (the reason in words). */
export function inputFileError(e: unknown, what: string, path: string): CliError {
  return new CliError(`Cannot read ${what} '${path}': ${reason(e)}.`, 'Check the path and its permissions; lopt reads only regular files of the sizes it writes.', { cause: e });
}

/** {@link readInputFile} decoded as UTF-8 text. */
export function readInputText(path: string, what: string, maxBytes: number = MAX_BYTES.json): string {
  return new TextDecoder().decode(readInputFile(path, what, maxBytes));
}
