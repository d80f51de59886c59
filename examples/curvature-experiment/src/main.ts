// FOOF vs K-FAC vs Adam on MNIST MLPs at equal wall time (Benzing 2022's claim that FOOF, the
// update K-FAC approximates, is as good or better per unit of compute), scaled to a 2-core CPU.
// Each optimizer's cost per step is measured first in interleaved rounds on the same task, and
// each run gets `budget / cost` steps, so a shared, noisy machine does not favour whoever ran
// at a quiet moment. Learning rates come from a 4-point grid chosen on seed 0; the table reports
// seeds 1 and 2. Usage: pnpm --filter @lopt/example-curvature-experiment start [-- --budget 12]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@lopt/backend';
import { advance, disposeLayerGradients, disposeTree, key, valueAndLayerGrads, type Optimizer, type OptState, type Task, type TensorTree } from '@lopt/core';
import { adam, foof, kfac } from '@lopt/optimizers';
import { imageMlpTask } from '@lopt/tasks';

const args = process.argv.slice(2);
const budgetSeconds = Number(args[args.indexOf('--budget') + 1] ?? '') || 12;

type Candidate = { name: string; make: (lr: number) => Optimizer<unknown>; grid: number[] };
const CANDIDATES: Candidate[] = [
  { name: 'adam', make: (lr) => adam({ learningRate: lr }) as Optimizer<unknown>, grid: [1e-3, 3e-3, 1e-2, 3e-2] },
  { name: 'kfac', make: (lr) => kfac({ learningRate: lr, damping: 1e-2, inverseInterval: 10, klClip: 1e-2 }) as Optimizer<unknown>, grid: [0.01, 0.03, 0.1, 0.3] },
  { name: 'foof', make: (lr) => foof({ learningRate: lr, damping: 1e-2, inverseInterval: 10 }) as Optimizer<unknown>, grid: [0.01, 0.03, 0.1, 0.3] },
];
const TASKS: { label: string; make: () => Task }[] = [
  { label: 'MNIST 8x8, MLP 64-32-10', make: () => imageMlpTask({ imageSize: 8, hidden: [32], batchSize: 128 }) },
  { label: 'MNIST 14x14, MLP 196-64-32-10', make: () => imageMlpTask({ imageSize: 14, hidden: [64, 32], batchSize: 128 }) },
];

/** One training step; curvature methods get the layer statistics. Returns the batch loss. */
function step(task: Task, opt: Optimizer<unknown>, state: OptState<unknown>, batch: TensorTree): { state: OptState<unknown>; loss: number } {
  if (opt.needsLayers === true) {
    const g = valueAndLayerGrads(task.layers!, state.params, batch);
    const loss = g.loss.dataSync()[0] as number;
    const next = advance(opt, state, g.grads, { loss: g.loss, layers: g.layers });
    disposeLayerGradients(g);
    return { state: next, loss };
  }
  const g = valueAndLayerGrads({ dense: [], loss: (p, b) => task.loss(p, b) }, state.params, batch);
  const loss = g.loss.dataSync()[0] as number;
  const next = advance(opt, state, g.grads, { loss: g.loss });
  disposeLayerGradients(g);
  return { state: next, loss };
}

function train(task: Task, opt: Optimizer<unknown>, seed: number, steps: number): { train: number; heldOut: number; ms: number } {
  let state = opt.init(task.init(key(seed)));
  const losses: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const batch = task.datasets!.train.sample(key(seed * 1_000_003 + i));
    const r = step(task, opt, state, batch);
    state = r.state;
    losses.push(r.loss);
    disposeTree(batch);
  }
  const ms = performance.now() - t0;
  const split = task.datasets!.test ?? task.datasets!.innerValid ?? task.datasets!.train;
  let held = 0;
  for (let i = 0; i < 10; i++) {
    const batch = split.sample(key(7_000_000 + i));
    const l = task.loss(state.params, batch);
    held += (l.dataSync()[0] as number) / 10;
    disposeTree([batch, l]);
  }
  disposeTree([state.params, state.state as TensorTree]);
  const tail = losses.slice(-20);
  return { train: tail.reduce((a, b) => a + b, 0) / tail.length, heldOut: held, ms };
}

/** Milliseconds per step of each candidate on `task`, fastest of 3 interleaved rounds of 15 steps. */
function costs(task: Task): number[] {
  const times = CANDIDATES.map(() => [] as number[]);
  for (let round = 0; round < 3; round++) {
    CANDIDATES.forEach((c, i) => times[i]!.push(train(task, c.make(c.grid[1]!), 99, 15).ms / 15));
  }
  return times.map((t) => Math.min(...t));
}

async function main(): Promise<void> {
  await initBackend();
  const rows: Record<string, unknown>[] = [];
  for (const t of TASKS) {
    const task = t.make();
    const cost = costs(task);
    CANDIDATES.forEach((c, i) => {
      const steps = Math.max(20, Math.floor((budgetSeconds * 1000) / cost[i]!));
      const tuning = c.grid.map((lr) => ({ lr, loss: train(task, c.make(lr), 0, steps).train }));
      const finite = tuning.filter((x) => Number.isFinite(x.loss));
      const best = (finite.length > 0 ? finite : tuning).reduce((a, b) => (b.loss < a.loss ? b : a));
      const seeds = [1, 2].map((s) => train(task, c.make(best.lr), s, steps));
      const mean = (f: (r: { train: number; heldOut: number }) => number) => seeds.reduce((a, r) => a + f(r), 0) / seeds.length;
      const row = { task: t.label, optimizer: c.name, msPerStep: cost[i], steps, learningRate: best.lr, tuning, train: mean((r) => r.train), heldOut: mean((r) => r.heldOut) };
      rows.push(row);
      console.log(`${t.label} | ${c.name} | ${cost[i]!.toFixed(1)} ms/step | ${steps} steps | lr ${best.lr} | train ${row.train.toFixed(3)} | held-out ${row.heldOut.toFixed(3)}`);
    });
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const out = join(here, '..', 'results', `curvature-budget${budgetSeconds}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), budgetSeconds, rows }, null, 2)}\n`);
  console.log(`wrote ${out}`);
}

await main();
