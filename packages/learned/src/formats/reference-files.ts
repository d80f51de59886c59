// Test-only: locates the reference checkpoints and their JSON copies (not exported by the package).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/**
 * The folder holding the published weights (`celo/theta.state`, `celo-adam/theta.state`,
 * `celo2/celo2_weights.pt`) and their JSON copies: `LOPT_PRETRAINED_DIR`, else
 * `../shared/pretrained` next to the repository (or next to the folder of worktrees).
 * Throws when none exists, so a test that needs them fails instead of passing vacuously.
 */
export function pretrainedDir(): string {
  const candidates = [process.env.LOPT_PRETRAINED_DIR, join(repoRoot, '..', 'shared', 'pretrained'), join(repoRoot, '..', '..', 'shared', 'pretrained')];
  for (const c of candidates) if (c && existsSync(join(c, 'celo2', 'celo2_weights.pt'))) return resolve(c);
  throw new Error(`The reference weights were not found (tried ${candidates.filter(Boolean).join(', ')}); set LOPT_PRETRAINED_DIR to the folder holding celo/, celo-adam/ and celo2/.`);
}

/** The bytes of a file under {@link pretrainedDir}. */
export function referenceBytes(relative: string): Uint8Array {
  return new Uint8Array(readFileSync(join(pretrainedDir(), relative)));
}

/** One leaf of a JSON copy. */
export interface JsonLeaf {
  readonly path?: string[];
  readonly shape: number[];
  readonly dtype: string;
  readonly data: number[];
  readonly stride?: number[];
  readonly storage_offset?: number;
}

/** The `leaves` of a JSON copy (`celo/theta.json`, `celo2/celo2_weights.json`), in file order. */
export function referenceJson(relative: string): Record<string, JsonLeaf> {
  return (JSON.parse(readFileSync(join(pretrainedDir(), relative), 'utf8')) as { leaves: Record<string, JsonLeaf> }).leaves;
}

/** The float32 bit patterns of `values` (so -0, NaN payloads and every bit are compared). */
export function float32Bits(values: ArrayLike<number>): number[] {
  return Array.from(new Uint32Array(Float32Array.from(values).buffer));
}
