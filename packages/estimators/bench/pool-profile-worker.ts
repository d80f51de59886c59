// Pool worker of bench/pool-profile.ts: the scale problem's estimators, each estimate timed
// (wall and CPU inside the estimate, and the process's total CPU so far, which adds the
// messaging and (de)serialization) and reported in its metrics. Usage: tsx pool-profile-worker.ts <slots> <problem>
import { initBackend } from '@lopt/backend';
import type { GradientEstimator } from '@lopt/core';
import { serveEstimates } from '../src/node.ts';
import { poolProblems } from './scale-problem.ts';

await initBackend({ backend: (process.env.LOPT_BACKEND as 'wasm' | 'cpu' | undefined) ?? 'wasm' });
const ms = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;
const timed = (e: GradientEstimator): GradientEstimator => ({
  name: e.name,
  init: (theta, k) => e.init(theta, k),
  estimate(theta, state, k) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = e.estimate(theta, state, k);
    return { ...r, metrics: { ...r.metrics, wallMs: performance.now() - t0, cpuMs: ms(process.cpuUsage(c0)), processCpuMs: ms(process.cpuUsage()) } };
  },
});
serveEstimates(poolProblems[process.argv[3] as keyof typeof poolProblems](Number(process.argv[2])).estimators.map(timed));
