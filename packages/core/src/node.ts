/**
 * Node-only checkpoint I/O for `@lopt/core` (import from `@lopt/core/node`).
 * The main entry stays browser-safe; this subpath uses the file system.
 * @packageDocumentation
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  deserializeTree,
  serializeTree,
  type CheckpointExpectation,
  type CheckpointMetadata,
  type LoadedCheckpointMetadata,
} from './checkpoint.js';
import { LoptError } from './errors.js';
import type { TensorTree } from './tree.js';

function ioError(action: string, path: string, e: unknown): LoptError {
  const code = (e as { code?: string }).code;
  const hint =
    code === 'ENOENT' ? 'the file or its folder does not exist'
    : code === 'EACCES' || code === 'EPERM' ? `permission denied; choose a ${action === 'read' ? 'readable file' : 'writable location'}`
    : code === 'EROFS' ? 'the file system is read-only; choose a writable location'
    : code === 'ENOSPC' ? 'no space is left on the device'
    : code === 'EISDIR' ? 'the path is a directory'
    : (e as Error).message;
  return new LoptError('IO_ERROR', `Could not ${action} '${path}': ${hint}.`, { cause: e });
}

/**
 * Writes bytes to `path` atomically: the data goes to a temporary file in the same folder,
 * is flushed to disk, and is renamed over the target, so a reader (or a crash) never sees
 * a half-written file. Creates the folder if needed.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw ioError('write', path, e);
  }
}

/** Saves a tensor tree as a checkpoint file (safetensors layout, atomic write). */
export async function saveTree(path: string, tree: TensorTree, metadata: CheckpointMetadata): Promise<void> {
  await writeFileAtomic(path, serializeTree(tree, metadata));
}

/** Largest checkpoint file {@link loadTree} reads (1 GiB). */
export const MAX_CHECKPOINT_FILE_BYTES = 1024 * 1024 * 1024;

function checkRegular(path: string, info: Stats, maxBytes: number): void {
  if (!info.isFile()) {
    const kind = info.isDirectory() ? 'a directory' : info.isFIFO() ? 'a pipe' : info.isCharacterDevice() || info.isBlockDevice() ? 'a device' : 'a socket';
    throw new LoptError('IO_ERROR', `Could not read '${path}': it is ${kind}, not a regular file.`);
  }
  if (info.size > maxBytes) throw new LoptError('IO_ERROR', `Could not read '${path}': it has ${info.size} bytes, more than the limit of ${maxBytes} bytes.`);
}

/**
 * Reads a whole file that must be a regular file (not a device such as `/dev/zero`, a pipe
 * or a directory) of at most `maxBytes`; anything else is `LoptError('IO_ERROR')` saying why
 * (with the file-system error as `cause` when there is one).
 */
export async function readRegularFile(path: string, maxBytes: number = MAX_CHECKPOINT_FILE_BYTES): Promise<Uint8Array> {
  return readRegularFileSync(path, maxBytes);
}

/**
 * {@link readRegularFile}, synchronously (for command-line tools). The file is checked with
 * `stat` before it is opened, since opening a pipe for reading would wait for a writer.
 */
export function readRegularFileSync(path: string, maxBytes: number = MAX_CHECKPOINT_FILE_BYTES): Uint8Array {
  let fd: number;
  try {
    checkRegular(path, statSync(path), maxBytes);
    // O_NONBLOCK: if the path is swapped for a pipe after the check, opening does not wait for a writer
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    if (e instanceof LoptError) throw e;
    throw ioError('read', path, e);
  }
  try {
    const info = fstatSync(fd);
    checkRegular(path, info, maxBytes);
    const bytes = new Uint8Array(info.size);
    let off = 0;
    while (off < bytes.length) {
      const n = readSync(fd, bytes, off, bytes.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return off === bytes.length ? bytes : bytes.subarray(0, off);
  } catch (e) {
    if (e instanceof LoptError) throw e;
    throw ioError('read', path, e);
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads a checkpoint file written by {@link saveTree}, verifying it completely
 * (see `deserializeTree`). A missing, unreadable or non-regular file, or one over
 * {@link MAX_CHECKPOINT_FILE_BYTES}, is `LoptError('IO_ERROR')`.
 */
export async function loadTree(
  path: string,
  expect: CheckpointExpectation = {},
): Promise<{ tree: TensorTree; metadata: LoadedCheckpointMetadata }> {
  const bytes = await readRegularFile(path);
  try {
    return deserializeTree(bytes, expect);
  } catch (e) {
    if (e instanceof LoptError) throw new LoptError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Writes JSON text atomically (pretty-printed, trailing newline). */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}


export { checkMaxRestarts, forkWorker, type WorkerProcessOptions } from './worker-process.js';
