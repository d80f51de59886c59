// A program that never started a tfjs backend gets a LoptError naming initBackend() from the
// lopt function it called, instead of tfjs-core's bare "No backend found in registry.".
// Each case runs in a fresh child process, since this process has a backend (vitest.setup.ts).
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

interface ChildResult {
  readonly ok: boolean;
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly cause?: string;
}

function runChild(entry: string): ChildResult {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'no-backend-child.ts'), entry], {
    cwd: here,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out) as ChildResult;
}

describe('no tfjs backend registered', () => {
  it.each(['advance', 'normal', 'uniform', 'truncatedNormal', 'randint', 'bernoulli'])('%s throws BACKEND_UNAVAILABLE naming initBackend', (entry) => {
    const r = runChild(entry);
    expect(r.ok).toBe(false);
    expect(r.name).toBe('LoptError');
    expect(r.code).toBe('BACKEND_UNAVAILABLE');
    expect(r.message).toMatch(new RegExp(`^${entry}: no TensorFlow\\.js backend is registered`));
    expect(r.message).toContain("`await initBackend()` from '@lopt/backend'");
    expect(r.cause).toBe('No backend found in registry.');
  });
});
