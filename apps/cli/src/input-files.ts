import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
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

function mib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${bytes}-byte` : `${Math.round(bytes / (1024 * 1024))} MiB`;
}

function checkRegular(stat: Stats, path: string, what: string, maxBytes: number): void {
  if (!stat.isFile()) {
    const kind = stat.isDirectory() ? 'a directory' : stat.isCharacterDevice() || stat.isBlockDevice() ? 'a device' : stat.isFIFO() ? 'a pipe' : 'not a regular file';
    throw new CliError(`Cannot read ${what} '${path}': it is ${kind}, not a regular file.`, 'Pass the path of a regular file.');
  }
  if (stat.size > maxBytes) {
    throw new CliError(`Cannot read ${what} '${path}': it has ${stat.size} bytes, more than the ${mib(maxBytes)} limit for ${what}.`, 'Pass the right file; this one is far larger than any lopt writes.');
  }
}

/**
 * Reads a file the user named, as bytes: only a regular file (not a device such as
 * `/dev/zero`, a FIFO or a directory), at most `maxBytes`. Every failure is a
 * {@link CliError} naming `what`, the path and the reason (permission denied, read-only,
 * missing, too large), never a raw Node error.
 */
export function readInputFile(path: string, what: string, maxBytes: number): Uint8Array {
  let fd: number;
  try {
    // Checked before opening too: opening a FIFO for reading would block.
    checkRegular(statSync(path), path, what, maxBytes);
    fd = openSync(path, 'r');
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`Cannot read ${what} '${path}': ${describeFsError(e)}.`, 'Check the path and its permissions.', { cause: e });
  }
  try {
    const stat = fstatSync(fd);
    checkRegular(stat, path, what, maxBytes);
    const out = new Uint8Array(stat.size);
    let off = 0;
    while (off < out.length) {
      const n = readSync(fd, out, off, out.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return off === out.length ? out : out.subarray(0, off);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`Cannot read ${what} '${path}': ${describeFsError(e)}.`, 'Check the path and its permissions.', { cause: e });
  } finally {
    closeSync(fd);
  }
}

/** {@link readInputFile} decoded as UTF-8 text. */
export function readInputText(path: string, what: string, maxBytes: number = MAX_BYTES.json): string {
  return new TextDecoder().decode(readInputFile(path, what, maxBytes));
}
