// Per-step wall time of every task of a suite with Adam (loss, gradient, update), to size
// the suite's horizons. Usage: tsx bench/step-times.ts [suite] [steps]. Prints a markdown
// table with the projected time of one optimizer over the suite (all seeds) and writes
// bench-results/step-times-<suite>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { initBackend } from '@lopt/backend';
import { key } from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { buildSuiteTask, getSuite, suiteEvalEvery, trainOnTask } from '../src/index.ts';

const suite = getSuite(process.argv[2] ?? 'small-v1');
const probe = Number(process.argv[3] ?? 40);
const backend = await initBackend({ backend: (process.env.LOPT_BACKEND as 'wasm' | 'cpu' | undefined) ?? 'wasm' });
const rows: { id: string; msPerStep: number; msPerEval: number; steps: number; projectedS: number }[] = [];
for (const t of suite.tasks) {
  const task = buildSuiteTask(t);
  trainOnTask(task, adam(), { steps: 3, key: key(0) }); // warm-up (kernels, data)
  const r = trainOnTask(task, adam(), { steps: probe, key: key(0), evalEvery: probe, evalBatches: suite.evalBatches });
  const evalMs = (r.wallMs - r.msPerStep * r.steps) / 2; // two evaluations (start and end)
  const points = Math.ceil(t.steps / suiteEvalEvery(t)) + 1;
  const projectedS = (suite.seeds.length * (t.steps * r.msPerStep + points * evalMs)) / 1000;
  rows.push({ id: t.id, msPerStep: r.msPerStep, msPerEval: evalMs, steps: t.steps, projectedS });
}
const total = rows.reduce((a, r) => a + r.projectedS, 0);
console.log(`suite ${suite.name}, backend ${backend.name}, ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, ${new Date().toISOString()}`);
console.log('| task | ms/step | ms/eval | steps | projected s (all seeds) |\n| --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.id} | ${r.msPerStep.toFixed(2)} | ${r.msPerEval.toFixed(1)} | ${r.steps} | ${r.projectedS.toFixed(0)} |`);
console.log(`| total | | | | ${total.toFixed(0)} |`);
mkdirSync('bench-results', { recursive: true });
writeFileSync(`bench-results/step-times-${suite.name}.json`, JSON.stringify({ suite: suite.name, backend: backend.name, load: loadavg(), rows, total }, null, 2));
