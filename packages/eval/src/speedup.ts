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
   * Steps the reference needs to reach the candidate's final loss over the steps the
   * candidate itself needed to first reach it: > 1 when the candidate is faster. Infinity
   * when the reference never gets there; 0 when the candidate diverged or ended no lower than it started.
   */
  readonly speedup: number;
  /** Reference steps to reach the candidate's final loss (null: never). */
  readonly referenceSteps: number | null;
  /**
   * The reverse view: steps the candidate needs to reach the reference's final loss over the
   * reference's own steps to first reach it (< 1 when the candidate is faster; Infinity when never).
   */
  readonly reverse: number;
  /** Candidate steps to reach the reference's final loss (null: never). */
  readonly candidateSteps: number | null;
}

/** `other` steps to reach `own`'s final loss over `own`'s steps to first reach it. */
function ratioToFinal(own: LossCurve, other: LossCurve): { ratio: number; steps: number | null } {
  const target = own.losses[own.losses.length - 1] as number;
  if (!Number.isFinite(target)) return { ratio: 0, steps: null };
  const steps = stepsToReach(other, target);
  const ownSteps = stepsToReach(own, target) as number; // a finite final loss is reached at the latest at the end
  if (steps === null) return { ratio: Infinity, steps };
  if (ownSteps === 0) return { ratio: 0, steps }; // its final loss is no better than its start: no progress
  return { ratio: steps / ownSteps, steps };
}

/**
 * Speedup to target (VeLOdrome's "steps tuned Adam needs"): the steps the reference needs
 * to reach the candidate's final loss, over the steps the candidate needed to first reach
 * it (its horizon when its curve decreases monotonically), and the reverse. Curves that are
 * not monotone (losses on fixed evaluation batches) are compared at first reaching, so a
 * candidate identical to the reference has speedup 1 and reverse 1.
 */
export function speedupToTarget(candidate: LossCurve, reference: LossCurve): Speedup {
  checkCurve('candidate', candidate);
  checkCurve('reference', reference);
  const forward = ratioToFinal(candidate, reference);
  const backward = ratioToFinal(reference, candidate);
  const refFinite = Number.isFinite(reference.losses[reference.losses.length - 1] as number);
  return { speedup: forward.ratio, referenceSteps: forward.steps, reverse: refFinite ? backward.ratio : 0, candidateSteps: backward.steps };
}
