// An optimizer's init in a program that never started a tfjs backend throws a LoptError that
// names the optimizer and initBackend(). Runs in a child process (this one has a backend);
// @lopt/core resolves to its sources through the root tsconfig's paths, as in vitest.
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

describe('no tfjs backend registered', () => {
  it('adam().init throws BACKEND_UNAVAILABLE naming adam.init and initBackend', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'no-backend-child.ts')], {
      cwd: here,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, TSX_TSCONFIG_PATH: resolve(here, '../../../tsconfig.base.json') },
    });
    const r = JSON.parse(out) as { ok: boolean; name?: string; code?: string; message?: string };
    expect(r).toMatchObject({ ok: false, name: 'LoptError', code: 'BACKEND_UNAVAILABLE' });
    expect(r.message).toMatch(/^adam\.init: no TensorFlow\.js backend is registered/);
    expect(r.message).toContain('initBackend()');
  });
});
