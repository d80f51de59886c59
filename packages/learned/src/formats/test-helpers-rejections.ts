// Test-only: asserting that a reader rejects input with a LoptError (not exported by the package).
import { expect, it } from 'vitest';
import { isLoptError } from '@lopt/core';

/** Runs `f` and returns the LoptError it throws; throws when it returns or throws anything else. */
export function rejection(f: () => unknown): { code: string; message: string; path?: string | undefined } {
  try {
    f();
  } catch (e) {
    if (!isLoptError(e)) throw new Error(`expected a LoptError, got ${String(e)}`);
    return e;
  }
  throw new Error('expected a LoptError, but the call returned');
}

/** One `it` per case: `read(bytes())` throws `CHECKPOINT_INVALID` with a message matching the pattern. */
export function itRejects(read: (bytes: Uint8Array) => unknown, cases: readonly [string, () => Uint8Array, RegExp][]): void {
  for (const [what, bytes, message] of cases) {
    it(`rejects ${what} with CHECKPOINT_INVALID`, () => {
      const e = rejection(() => read(bytes()));
      expect(e.code).toBe('CHECKPOINT_INVALID');
      expect(e.message).toMatch(message);
    });
  }
}
