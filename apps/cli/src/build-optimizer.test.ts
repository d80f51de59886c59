import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkpointFile } from './build-optimizer.js';

describe('checkpointFile', () => {
  it('resolves a run directory to best.safetensors when checkpoint selection wrote one, else theta.safetensors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lopt-ckpt-file-'));
    expect(() => checkpointFile(dir)).toThrow(/holds no theta\.safetensors/);
    writeFileSync(join(dir, 'theta.safetensors'), '');
    expect(checkpointFile(dir)).toBe(join(dir, 'theta.safetensors'));
    writeFileSync(join(dir, 'best.safetensors'), '');
    expect(checkpointFile(dir)).toBe(join(dir, 'best.safetensors'));
    // A file path is taken as given.
    expect(checkpointFile(join(dir, 'theta.safetensors'))).toBe(join(dir, 'theta.safetensors'));
    expect(() => checkpointFile(join(dir, 'nope.safetensors'))).toThrow(/does not exist/);
  });
});
