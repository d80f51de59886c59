// Shared by this package's interleaved benchmarks: medians, the machine description, the
// @lopt/backend matmul-rewrite toggle, and writing bench-results/<name>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MATMUL_KERNELS, matMulRewrites, setMatMulRewrites, type MatMulSlowLayouts } from '@lopt/backend';

/** The median of `xs`. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** Node version, platform and CPUs of this machine. */
export function machine(): Record<string, string | number> {
  return { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown' };
}

const OFF: MatMulSlowLayouts = { transposeA: false, transposeB: false, batched: false };

/** Turns @lopt/backend's matmul rewrites off and back on (as the probe set them); call after initBackend. */
export function matMulRewriteToggle(): { layouts: Record<string, MatMulSlowLayouts | undefined>; set: (on: boolean) => void } {
  const saved = new Map(MATMUL_KERNELS.map((name) => [name, matMulRewrites(name)] as const));
  const set = (on: boolean): void => {
    for (const [name, layouts] of saved) if (layouts !== undefined) setMatMulRewrites(name, on ? layouts : OFF);
  };
  return { layouts: Object.fromEntries(saved), set };
}

/** Writes `report` to bench-results/<name>.json in this package and returns the path. */
export function writeReport(name: string, report: Record<string, unknown>): string {
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results', `${name}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  return out;
}
