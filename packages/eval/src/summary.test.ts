import { describe, expect, it } from 'vitest';
import { key } from '@lopt/core';
import type { RunRecord } from './record.js';
import type { SuiteResult } from './runner.js';
import { meanCurve, summarizeSuite } from './summary.js';

const run = (losses: number[]): RunRecord => ({
  curve: losses.map((trainLoss, i) => ({ step: i * 10, trainLoss, validLoss: null, stepSize: null })),
  finalTrainLoss: losses.at(-1) as number,
  finalValidLoss: null,
  diverged: false,
  steps: (losses.length - 1) * 10,
  msPerStep: 1,
  wallMs: 1,
});

// Two tasks, one seed: the candidate wins task A (final 1 vs 2) and loses task B (3 vs 2).
const result: SuiteResult = {
  suite: { name: 's', description: '', seeds: [0], tuningSeeds: [1], evalBatches: 1, tasks: [{ id: 'A', task: 'quadraticTask', steps: 10 }, { id: 'B', task: 'quadraticTask', steps: 10 }] },
  reference: 'ref',
  tuning: {},
  rows: [
    { label: 'ref', baseline: 'adam', runs: { A: [run([4, 2])], B: [run([4, 2])] } },
    { label: 'cand', baseline: null, runs: { A: [run([4, 1])], B: [run([4, 3])] } },
  ],
  computed: 4,
  cached: 0,
};

describe('summarizeSuite', () => {
  it('matches wins, loss ratios, speedups and profile scores computed by hand', () => {
    const s = summarizeSuite(result, { key: key(0), replicates: 50 });
    const [ref, cand] = s.rows;
    expect([ref?.wins, cand?.wins]).toEqual([0, 1]);
    expect([cand?.cells.A?.normalized, cand?.cells.B?.normalized]).toEqual([0.5, 1.5]);
    // A: the reference never reaches 1. B: it reaches 3 at step 5; the candidate first at 10.
    expect(cand?.cells.A?.speedup.speedup).toBe(Infinity);
    expect(cand?.cells.B?.speedup.speedup).toBe(0.5);
    // Times to the reference's final loss 2: ref 10 and 10; cand 10*(4-2)/(4-1) = 6.667 and never.
    // Ratios: ref [1.5, 1], cand [1, Inf]; scores (r_max 4): ref ((4-1.5)/3 + 1)/2, cand (1 + 0)/2.
    expect(ref?.profileScore).toBeCloseTo((2.5 / 3 + 1) / 2, 12);
    expect(cand?.profileScore).toBeCloseTo(0.5, 12);
    expect(cand?.iqm.estimate).toBe(1); // mean of 0.5 and 1.5 (n = 2: nothing trimmed)
    expect(meanCurve([run([4, 2]), run([2, Infinity])]).losses).toEqual([3, Infinity]);
  });
});
