import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';

// Root reads through chmod 000, so permission and read-only errors are injected at the fs layer.
const injected = new Map<string, string>();
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const fail = (path: unknown) => {
    const code = injected.get(String(path));
    if (code) throw Object.assign(new Error(`${code}: injected, '${String(path)}'`), { code });
  };
  return {
    ...fs,
    statSync: ((path: string, ...rest: unknown[]) => (fail(path), (fs.statSync as (...a: unknown[]) => unknown)(path, ...rest))) as typeof fs.statSync,
    mkdirSync: ((path: string, ...rest: unknown[]) => (fail(path), (fs.mkdirSync as (...a: unknown[]) => unknown)(path, ...rest))) as typeof fs.mkdirSync,
  };
});

const { describeFsError, readInputFile } = await import('./input-files.js');
const { ensureWritableDir } = await import('./rundir.js');

const dir = mkdtempSync(join(tmpdir(), 'lopt-input-'));
beforeEach(() => injected.clear());

describe('reading input files (issue 14, items 3, 7, 10)', () => {
  it('names permission and read-only errors as such, not as a missing file', () => {
    expect(describeFsError({ code: 'EROFS' })).toBe('the file system is read-only');
    expect(describeFsError({ code: 'EACCES' })).toBe('permission denied');
    expect(describeFsError({ code: 'ENOENT' })).toBe('it does not exist');
    const file = join(dir, 'theta.safetensors');
    writeFileSync(file, 'x');
    injected.set(file, 'EACCES');
    expect(() => readInputFile(file, 'the checkpoint', 100)).toThrow(`Cannot read the checkpoint '${file}': permission denied.`);
    injected.set(file, 'EROFS');
    expect(() => readInputFile(file, 'the checkpoint', 100)).toThrow(/the file system is read-only/);
  });

  it('reads regular files within the cap; refuses larger ones, directories and devices, stating the cap', () => {
    const file = join(dir, 'small.json');
    writeFileSync(file, '{"a":1}');
    expect(new TextDecoder().decode(readInputFile(file, 'the config file', 7))).toBe('{"a":1}');
    expect(() => readInputFile(file, 'the config file', 6)).toThrow(/Cannot read the config file '.*small\.json': it has 7 bytes, more than the limit of 6 bytes\./);
    mkdirSync(join(dir, 'sub'));
    expect(() => readInputFile(join(dir, 'sub'), 'the config file', 100)).toThrow(/it is a directory, not a regular file/);
    expect(() => readInputFile('/dev/null', 'the config file', 100)).toThrow(/it is a device, not a regular file/);
    expect(() => readInputFile(join(dir, 'missing'), 'the config file', 100)).toThrow(/it does not exist/);
  });

  it('an output directory on a read-only file system is reported as read-only', () => {
    const out = join(dir, 'ro', 'report');
    injected.set(out, 'EROFS');
    expect(() => ensureWritableDir(out, 'report', 'Make it writable.')).toThrow(`Cannot write to the output directory '${out}': the file system is read-only.`);
    injected.set(out, 'EACCES');
    expect(() => ensureWritableDir(out)).toThrow(/permission denied/);
  });
});
