/**
 * Node-only checkpoint I/O for `@lopt/core` (import from `@lopt/core/node`).
 * The main entry stays browser-safe; this subpath uses the file system.
 * @packageDocumentation
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
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
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied; choose a writable location'
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

/**
 * Loads a checkpoint file written by {@link saveTree}, verifying it completely
 * (see `deserializeTree`). A missing file is `LoptError('IO_ERROR')`.
 */
export async function loadTree(
  path: string,
  expect: CheckpointExpectation = {},
): Promise<{ tree: TensorTree; metadata: LoadedCheckpointMetadata }> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    throw ioError('read', path, e);
  }
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

