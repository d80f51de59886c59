import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
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
 * (`/dev/zero`), pipes and directories are refused before anything is read, the check is
 * repeated on the open descriptor (no swap between check and read), and at most the size
 * found is read, so the memory used is bounded.
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
  // O_NONBLOCK: if the path was swapped for a pipe after the check, opening does not hang.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const s = fstatSync(fd);
    checkRegular(path, s, maxBytes);
    const out = new Uint8Array(s.size);
    let got = 0;
    while (got < out.length) {
      const n = readSync(fd, out, got, out.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return out.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
