// Claim tests: each runs its experiment at the quick size and asserts the claim's verdict
// (tuned or paired baseline, several seeds, a stated margin) AND that the same check flags a
// planted negation (a Lookahead with slow step 1, a nominal term too small to act, a guard that
// never switches, a tower whose top level is frozen, a search that keeps its worst trials).
import { describe, expect, it } from 'vitest';
import type { ClaimOutcome } from '@lopt/eval';
import type { Experiment, ExperimentReport } from './common.js';
import { adafacCost } from './adafac-cost.js';
import { guardComparison } from './guard-lgl2o-vs-gl2o.js';
import { hypergradientTowers } from './hypergradient-towers.js';
import { lookaheadVariance } from './lookahead-variance.js';
import { metaOptimizeDefaults } from './meta-optimize-defaults.js';
import { nominalStability } from './nominal-stability.js';
import { randomSearchBaseline } from './random-search-baseline.js';

const outcomes = (r: ExperimentReport): Record<string, ClaimOutcome> => Object.fromEntries(r.checks.map((c) => [c.statement, c.verdict.outcome]));
const run = (e: Experiment) => e.run('quick');

/** A check's expected outcome; `not holds` accepts `refuted` or `inconclusive`. */
type Expected = ClaimOutcome | 'not holds';

/** Each claim: the test's title, its experiment, the expected outcome of each named check, the time limit. */
const CLAIMS: readonly (readonly [title: string, experiment: Experiment, expected: Readonly<Record<string, Expected>>, timeout: number])[] = [
  ['(e) Lookahead (k=5, alpha=0.5) cuts SGD steady-state loss below 0.8x; with slow step 1 it does not', lookaheadVariance, { 'log(Lookahead alpha=0.5 / SGD) < log(0.8)': 'holds', 'planted negation: log(Lookahead alpha=1 / SGD) < log(0.8)': 'refuted' }, 120_000],
  ['(g) the nominal term halves the final/initial loss ratio at an aggressive blackbox step; a 1e-6 nominal step does not', nominalStability, { 'log-ratio difference, nominal on - nominal off (same thetas) < log(0.5)': 'holds', 'planted negation: nominal 1e-6 - nominal off < log(0.5)': 'not holds' }, 120_000],
  ['(b) LGL2O beats GL2O by 5% and stays within 10% of its fallback with a learned hare; a guard that never switches fails', guardComparison, { 'log(LGL2O / GL2O) < log(0.95)': 'holds', 'log(LGL2O / fallback) < log(1.1)': 'holds', 'planted negation: log(never-switching guard / fallback) < log(1.1)': 'refuted' }, 180_000],
  ['(h) random search with successive halving is within 5% of the grid-tuned Adam; a search that keeps its worst trials is not', randomSearchBaseline, { 'log(random search / grid) < log(1.05)': 'holds', 'planted negation: log(worst-keeping search / grid) < log(1.05)': 'refuted' }, 180_000],
  ['(c) one and two hypergradient levels lower the loss averaged over initial step sizes; a tower whose top level is frozen gains nothing', hypergradientTowers, { 'mean log loss, 1 levels - 0 levels < log(0.98)': 'holds', 'mean log loss, 2 levels - 1 levels < log(0.98)': 'holds', 'planted negation: mean log loss, 2 levels top frozen - 1 level < log(0.98)': 'not holds' }, 180_000],
  ['(f) adafac costs under 2/3 of mlpLOpt\'s multiply-adds per parameter at a meta-objective within 25% (equal meta-training budget); mlpLOpt against itself is not cheaper', adafacCost, { 'log(MLP multiply-adds per parameter adafac / mlpLOpt) < log(2/3)': 'holds', 'log(meta-objective adafac / mlpLOpt) < log(1.25)': 'holds', 'planted negation: log(MLP multiply-adds per parameter mlpLOpt / mlpLOpt) < log(2/3)': 'refuted' }, 240_000],
  ['(d) MetaOptimize with the meta update off is flagged against the best fixed step (the defaults claim itself: docs/experiments.md)', metaOptimizeDefaults, { 'planted negation: log(meta update off / best fixed step) < log(1.1)': 'refuted' }, 180_000],
];

describe('seed claims at the quick size, each with a planted negation', () => {
  for (const [title, experiment, expected, timeout] of CLAIMS) {
    it(title, async () => {
      const o = outcomes(await run(experiment));
      for (const [statement, outcome] of Object.entries(expected)) {
        if (outcome === 'not holds') expect(o[statement], statement).not.toBe('holds');
        else expect(o[statement], statement).toBe(outcome);
      }
    }, timeout);
  }
});

describe('lopt experiment', () => {
  it('refuses an unknown experiment name, listing the known ones', async () => {
    const { runExperiments } = await import('../experiment-command.js');
    const { CliError } = await import('../errors.js');
    const written: string[] = [];
    await expect(runExperiments(['lookahead-variance', 'nope'], 'quick', (t) => written.push(t))).rejects.toBeInstanceOf(CliError);
    await expect(runExperiments(['nope'], 'quick', () => {})).rejects.toThrow(/Unknown experiment 'nope'/);
  });
});
