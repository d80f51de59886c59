// Wall time of the same independent runs on 1 and on 2 worker processes (processPool), in one
// process, alternating rounds; prints the 2-job / 1-job ratio with the load average. Usage:
// tsx bench/pool.ts [runs] [rounds] [steps]. Writes bench-results/pool.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { baselineRef, type RunRequest } from '../src/index.ts';
import { processPool } from '../src/node.ts';

const runs = Number(process.argv[2] ?? 8);
const rounds = Number(process.argv[3] ?? 2);
const steps = Number(process.argv[4] ?? 300);
const worker = fileURLToPath(new URL('../test/pool-worker.ts', import.meta.url));
const task = { id: 'mlp', task: 'imageMlpTask', options: { imageSize: 8, hidden: [64, 64], batchSize: 128 }, steps };
const requests: RunRequest[] = Array.from({ length: runs }, (_, i) => ({ task, evalBatches: 1, optimizer: baselineRef('adam', { learningRate: 0.001 }), seed: i }));

async function time(jobs: number): Promise<number> {
  const t0 = performance.now();
  await processPool({ worker, jobs, execArgv: ['--import', 'tsx'] }).run(requests, () => undefined);
  return (performance.now() - t0) / 1000;
}

const load0 = loadavg();
const one: number[] = [];
const two: number[] = [];
for (let r = 0; r < rounds; r++) {
  one.push(await time(1));
  two.push(await time(2));
}
const best1 = Math.min(...one);
const best2 = Math.min(...two);
const result = { runs, rounds, steps, cores: cpus().length, loadBefore: load0, loadAfter: loadavg(), oneJobS: one, twoJobsS: two, ratio: best2 / best1, date: new Date().toISOString() };
console.log(`| jobs | best wall s (${rounds} rounds, ${runs} runs of ${steps} steps) |\n| --- | --- |\n| 1 | ${best1.toFixed(1)} |\n| 2 | ${best2.toFixed(1)} |`);
console.log(`2 jobs / 1 job: ${result.ratio.toFixed(2)} · ${cpus().length} cores · load ${load0.map((l) => l.toFixed(2)).join(' ')} before, ${result.loadAfter.map((l) => l.toFixed(2)).join(' ')} after · ${result.date}`);
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/pool.json', JSON.stringify(result, null, 2));
