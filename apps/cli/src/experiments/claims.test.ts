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

describe('seed claims at the quick size, each with a planted negation', () => {
  it('(e) Lookahead (k=5, alpha=0.5) cuts SGD steady-state loss below 0.8x; with slow step 1 it does not', async () => {
    const o = outcomes(await run(lookaheadVariance));
    expect(o['log(Lookahead alpha=0.5 / SGD) < log(0.8)']).toBe('holds');
    expect(o['planted negation: log(Lookahead alpha=1 / SGD) < log(0.8)']).toBe('refuted');
  }, 120_000);

  it('(g) the nominal term halves the final/initial loss ratio at an aggressive blackbox step; a 1e-6 nominal step does not', async () => {
    const o = outcomes(await run(nominalStability));
    expect(o['log-ratio difference, nominal on - nominal off (same thetas) < log(0.5)']).toBe('holds');
    expect(o['planted negation: nominal 1e-6 - nominal off < log(0.5)']).not.toBe('holds');
  }, 120_000);

  it('(b) LGL2O beats GL2O by 5% and stays within 10% of its fallback with a learned hare; a guard that never switches fails', async () => {
    const o = outcomes(await run(guardComparison));
    expect(o['log(LGL2O / GL2O) < log(0.95)']).toBe('holds');
    expect(o['log(LGL2O / fallback) < log(1.1)']).toBe('holds');
    expect(o['planted negation: log(never-switching guard / fallback) < log(1.1)']).toBe('refuted');
  }, 180_000);

  it('(h) random search with successive halving is within 5% of the grid-tuned Adam; a search that keeps its worst trials is not', async () => {
    const o = outcomes(await run(randomSearchBaseline));
    expect(o['log(random search / grid) < log(1.05)']).toBe('holds');
    expect(o['planted negation: log(worst-keeping search / grid) < log(1.05)']).toBe('refuted');
  }, 180_000);

  it('(c) one and two hypergradient levels lower the loss averaged over initial step sizes; a tower whose top level is frozen gains nothing', async () => {
    const o = outcomes(await run(hypergradientTowers));
    expect(o['mean log loss, 1 levels - 0 levels < log(0.98)']).toBe('holds');
    expect(o['mean log loss, 2 levels - 1 levels < log(0.98)']).toBe('holds');
    expect(o['planted negation: mean log loss, 2 levels top frozen - 1 level < log(0.98)']).not.toBe('holds');
  }, 180_000);

  it('(f) adafac costs under 2/3 of mlpLOpt\'s multiply-adds per parameter at a meta-objective within 25% (equal meta-training budget); mlpLOpt against itself is not cheaper', async () => {
    const o = outcomes(await run(adafacCost));
    expect(o['log(MLP multiply-adds per parameter adafac / mlpLOpt) < log(2/3)']).toBe('holds');
    expect(o['log(meta-objective adafac / mlpLOpt) < log(1.25)']).toBe('holds');
    expect(o['planted negation: log(MLP multiply-adds per parameter mlpLOpt / mlpLOpt) < log(2/3)']).toBe('refuted');
  }, 240_000);

  it('(d) MetaOptimize with the meta update off is flagged against the best fixed step (the defaults claim itself: docs/experiments.md)', async () => {
    const o = outcomes(await run(metaOptimizeDefaults));
    expect(o['planted negation: log(meta update off / best fixed step) < log(1.1)']).toBe('refuted');
  }, 180_000);
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
