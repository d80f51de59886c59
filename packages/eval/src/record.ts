import { LoptError } from '@lopt/core';
import type { CurvePoint, TrainResult } from './train.js';

/** The stored result of one run (a {@link TrainResult} without its derived fields). */
export type RunRecord = Pick<TrainResult, 'curve' | 'finalTrainLoss' | 'finalValidLoss' | 'diverged' | 'steps' | 'msPerStep' | 'wallMs'>;

/** JSON has no Infinity or NaN: they travel as the strings 'Infinity', '-Infinity', 'NaN'. */
function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

function num(v: unknown, path: string, nullable = false): number | null {
  if (v === null && nullable) return null;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (v === 'Infinity' || v === '-Infinity' || v === 'NaN') return Number(v);
  throw new LoptError('CHECKPOINT_INVALID', `Run record: '${path}' must be a number${nullable ? ' or null' : ''}, got ${JSON.stringify(v)}.`, { path });
}

function point(v: unknown, i: number): CurvePoint {
  const p = (v ?? {}) as Record<string, unknown>;
  const step = num(p.step, `curve[${i}].step`) as number;
  if (!Number.isInteger(step) || step < 0) throw new LoptError('CHECKPOINT_INVALID', `Run record: 'curve[${i}].step' must be an integer >= 0.`, { path: `curve[${i}].step` });
  return {
    step,
    trainLoss: num(p.trainLoss, `curve[${i}].trainLoss`) as number,
    validLoss: num(p.validLoss, `curve[${i}].validLoss`, true),
    stepSize: num(p.stepSize, `curve[${i}].stepSize`, true),
  };
}

/** Serializes a run record with the cache key it belongs to (checked when it is read back). */
export function encodeRecord(cacheKey: string, record: RunRecord): string {
  const { curve, finalTrainLoss, finalValidLoss, diverged, steps, msPerStep, wallMs } = record;
  return JSON.stringify({ format: 'lopt-eval-run', version: 1, key: cacheKey, record: { curve, finalTrainLoss, finalValidLoss, diverged, steps, msPerStep, wallMs } }, replacer);
}

/**
 * Parses and checks a stored run record: its format, that it belongs to `cacheKey`, and
 * every field (a curve that starts at step 0 with increasing steps). Throws
 * `LoptError('CHECKPOINT_INVALID')` naming what is wrong, so a corrupt entry is recomputed.
 */
export function decodeRecord(text: string, cacheKey: string): RunRecord {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new LoptError('CHECKPOINT_INVALID', `Run record: not JSON (${(e as Error).message}).`, { cause: e });
  }
  if (parsed?.format !== 'lopt-eval-run' || parsed.version !== 1) throw new LoptError('CHECKPOINT_INVALID', 'Run record: unknown format or version.', { path: 'format' });
  if (parsed.key !== cacheKey) throw new LoptError('CHECKPOINT_INVALID', 'Run record: stored for another run (key mismatch).', { path: 'key' });
  const r = (parsed.record ?? {}) as Record<string, unknown>;
  if (!Array.isArray(r.curve) || r.curve.length === 0) throw new LoptError('CHECKPOINT_INVALID', "Run record: 'curve' must be a non-empty array.", { path: 'curve' });
  const curve = r.curve.map(point);
  if (curve[0]?.step !== 0 || curve.some((p, i) => i > 0 && p.step <= (curve[i - 1] as CurvePoint).step)) throw new LoptError('CHECKPOINT_INVALID', "Run record: 'curve' steps must start at 0 and increase.", { path: 'curve' });
  if (typeof r.diverged !== 'boolean') throw new LoptError('CHECKPOINT_INVALID', "Run record: 'diverged' must be a boolean.", { path: 'diverged' });
  return {
    curve,
    finalTrainLoss: num(r.finalTrainLoss, 'finalTrainLoss') as number,
    finalValidLoss: num(r.finalValidLoss, 'finalValidLoss', true),
    diverged: r.diverged,
    steps: num(r.steps, 'steps') as number,
    msPerStep: num(r.msPerStep, 'msPerStep') as number,
    wallMs: num(r.wallMs, 'wallMs') as number,
  };
}
