import { statSync, type Stats } from 'node:fs';
import { readRegularFileSync } from '@lopt/core/node';
import { CliError } from './errors.js';

/** The largest reference checkpoint `lopt convert` reads (the published ones are under 150 KB). */
export const MAX_REFERENCE_BYTES = 256 * 1024 * 1024;

function kindOf(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isFIFO()) return 'a named pipe';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

function checkRegular(path: string, s: Stats, maxBytes: number): void {
  if (!s.isFile()) {
    throw new CliError(`'${path}' is ${kindOf(s)}, not a regular file.`, 'Pass the checkpoint file itself (theta.state or a .pt file).');
  }
  if (s.size > maxBytes) {
    throw new CliError(`'${path}' is ${s.size} bytes, more than the ${maxBytes}-byte limit for reference checkpoints.`, 'Pass a published learned-optimizer checkpoint (Celo theta.state, Celo2 celo2_weights.pt); they are far smaller.');
  }
}

/**
 * Reads a whole file that must be a regular file of at most `maxBytes` bytes. Devices
 * (`/dev/zero`), pipes and directories are refused before anything is read, with a message
 * saying what the path is; the read itself is `@lopt/core/node`'s `readRegularFileSync`, which
 * checks the open descriptor again (no swap between check and read) and reads at most the size
 * found, so the memory used is bounded.
 */
export function readRegularFile(path: string, maxBytes = MAX_REFERENCE_BYTES): Uint8Array {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : `cannot be read (${(e as Error).message})`;
    throw new CliError(`The file '${path}' ${why}.`, 'Check the path of the reference checkpoint.', { cause: e });
  }
  checkRegular(path, stats, maxBytes);
  try {
    return readRegularFileSync(path, maxBytes);
  } catch (e) {
    throw new CliError(`The file '${path}' could not be read: ${(e as Error).message}`, 'Check the path of the reference checkpoint.', { cause: e });
  }
}
