import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { LoptError } from './errors.js';
import { checkMaxRestarts, forkWorker } from './worker-process.js';

/** A worker module that echoes its arguments, one environment variable and what it is sent. */
function echoModule(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lopt-worker-'));
  const path = join(dir, 'echo.mjs');
  writeFileSync(path, "process.on('message', (m) => { process.send({ args: process.argv.slice(2), env: process.env.LOPT_ECHO, got: m }); process.disconnect(); });\n");
  return path;
}

/** The first message of `child`, after sending it `message`. */
function reply(child: ChildProcess, message: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('error', reject);
    child.send(message as never);
  });
}

describe('forkWorker', () => {
  it('starts the module with its arguments and environment, calls onSpawn, and talks over IPC', async () => {
    const spawned: ChildProcess[] = [];
    const child = forkWorker(echoModule(), { args: ['a', 'b'], env: { ...process.env, LOPT_ECHO: 'yes' }, execArgv: [], onSpawn: (c) => spawned.push(c) });
    expect(spawned).toEqual([child]);
    expect(await reply(child, { n: 3 })).toEqual({ args: ['a', 'b'], env: 'yes', got: { n: 3 } });
    await new Promise((r) => child.once('exit', r));
  });

  it("with 'advanced' serialization sends typed arrays as typed arrays", async () => {
    const child = forkWorker(echoModule(), { execArgv: [] }, 'advanced');
    const got = (await reply(child, new Float32Array([1.5, -2]))) as { got: unknown; args: string[] };
    expect(got.got).toBeInstanceOf(Float32Array);
    expect(Array.from(got.got as Float32Array)).toEqual([1.5, -2]);
    expect(got.args).toEqual([]);
    await new Promise((r) => child.once('exit', r));
  });
});

describe('checkMaxRestarts', () => {
  it('defaults to 3 and accepts whole numbers from 0', () => {
    expect(checkMaxRestarts({})).toBe(3);
    expect(checkMaxRestarts({ maxRestarts: 0 })).toBe(0);
    expect(checkMaxRestarts({ maxRestarts: 7 })).toBe(7);
  });

  it.each([-1, 1.5, Number.NaN])('throws LoptError naming maxRestarts for %s', (bad) => {
    let err: unknown;
    try {
      checkMaxRestarts({ maxRestarts: bad });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LoptError);
    expect((err as LoptError).option).toBe('maxRestarts');
  });
});
