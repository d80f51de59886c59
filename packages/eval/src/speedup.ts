import { LoptError } from '@lopt/core';

/** A loss curve: losses at increasing steps. */
export interface LossCurve {
  /** Steps, strictly increasing. */
  readonly steps: readonly number[];
  /** Loss at each step (Infinity after divergence). */
  readonly losses: readonly number[];
}

function checkCurve(option: string, c: LossCurve): void {
  if (!c || !Array.isArray(c.steps) || !Array.isArray(c.losses) || c.steps.length === 0 || c.steps.length !== c.losses.length) {
    throw new LoptError('INVALID_OPTION', `Option '${option}' must be a curve { steps, losses } of one non-zero length.`, { option });
  }
  c.steps.forEach((s, i) => {
    if (!Number.isFinite(s) || (i > 0 && s <= (c.steps[i - 1] as number))) throw new LoptError('INVALID_OPTION', `Option '${option}.steps[${i}]' must be finite and greater than the step before it.`, { option: `${option}.steps[${i}]` });
  });
}

/**
 * First step at which `curve` reaches `target` (loss <= target), linearly interpolated
 * between the two logged points that bracket it; null when it never does.
 */
export function stepsToReach(curve: LossCurve, target: number): number | null {
  checkCurve('curve', curve);
  if (typeof target !== 'number' || Number.isNaN(target)) throw new LoptError('INVALID_OPTION', `Option 'target' must be a number, got ${String(target)}.`, { option: 'target' });
  for (let i = 0; i < curve.steps.length; i++) {
    const l = curve.losses[i] as number;
    if (!(l <= target)) continue;
    const s = curve.steps[i] as number;
    if (i === 0) return s;
    const prevL = curve.losses[i - 1] as number;
    const prevS = curve.steps[i - 1] as number;
    if (!Number.isFinite(prevL) || prevL === l) return s;
    return prevS + ((prevL - target) / (prevL - l)) * (s - prevS);
  }
  return null;
}

/** Speedups between a candidate's and a reference's curve on one task ({@link speedupToTarget}). */
export interface Speedup {
  /**
   * Reference steps to reach the candidate's final loss, divided by the candidate's total
   * steps: > 1 when the candidate is faster. Infinity when the reference never gets there;
   * 0 when the candidate diverged.
   */
  readonly speedup: number;
  /** Reference steps to reach the candidate's final loss (null: never). */
  readonly referenceSteps: number | null;
  /**
   * Candidate steps to reach the reference's final loss, divided by the reference's total
   * steps (the reverse view: < 1 when the candidate is faster; Infinity when never).
   */
  readonly reverse: number;
  /** Candidate steps to reach the reference's final loss (null: never). */
  readonly candidateSteps: number | null;
}

/**
 * Speedup to target (VeLOdrome's "steps tuned Adam needs"): how many steps the reference
 * needs to reach the candidate's final loss, relative to the candidate's horizon, and the
 * reverse. A candidate identical to the reference has speedup 1 and reverse 1.
 */
export function speedupToTarget(candidate: LossCurve, reference: LossCurve): Speedup {
  checkCurve('candidate', candidate);
  checkCurve('reference', reference);
  const candFinal = candidate.losses[candidate.losses.length - 1] as number;
  const refFinal = reference.losses[reference.losses.length - 1] as number;
  const candHorizon = candidate.steps[candidate.steps.length - 1] as number;
  const refHorizon = reference.steps[reference.steps.length - 1] as number;
  const referenceSteps = Number.isFinite(candFinal) ? stepsToReach(reference, candFinal) : null;
  const candidateSteps = Number.isFinite(refFinal) ? stepsToReach(candidate, refFinal) : null;
  const speedup = !Number.isFinite(candFinal) ? 0 : referenceSteps === null ? Infinity : referenceSteps / candHorizon;
  const reverse = candidateSteps === null ? (Number.isFinite(refFinal) ? Infinity : 0) : candidateSteps / refHorizon;
  return { speedup, referenceSteps, reverse, candidateSteps };
}
