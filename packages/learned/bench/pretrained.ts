// Benchmark: time per step of the pretrained Celo, Celo-Adam and Celo2 against `adam`
// (@lopt/optimizers) at 64K and 1M parameters on the WASM backend, in models made of square
// matrices (256x256 + bias, 1024x1024 + bias), and Newton–Schulz's share of Celo2's step
// (Celo2 with and without orthogonalization, and newtonSchulz alone on the same matrix).
// Celo2 uses routing 'regex' so that the matrix takes the learned rule (with the default
// PyLO routing a model with one matrix is trained by AdamW alone).
// Ratios are measured in one run, by wall clock and by this process's CPU time.
// Writes bench-results/pretrained.json.
// Usage: pnpm --filter @lopt/learned bench:pretrained [-- --sizes 64k,1m --budget-ms 4000]
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { initBackend } from '@lopt/backend';
import { advance, disposeTree, key, normal, treeSize, type Optimizer, type OptState, type TensorTree } from '@lopt/core';
import { adam, newtonSchulz } from '@lopt/optimizers';
import { pretrainedOptimizer } from '../src/index.ts';
import { benchArgs, setRatioToAdam, timeIt, type TimedRow } from './common.ts';

const { sizes, budgetMs } = benchArgs();
const backend = await initBackend({ backend: 'wasm' });

const side = (size: string): number => (size === '1m' ? 1024 : 256);
function model(size: string, seed: number): TensorTree {
  const n = side(size);
  return { w: normal(key(seed), [n, n], { std: 0.05 }), b: normal(key(seed + 1), [n], { std: 0.05 }) };
}

type Row = TimedRow;

function timeOptimizer(name: string, opt: Optimizer, size: string): Row {
  const grads = model(size, 7);
  const loss = tf.scalar(1.0);
  let state: OptState = opt.init(model(size, 1), { numSteps: 1000 });
  const n = treeSize(state.params);
  try {
    const t = timeIt(() => {
      state = advance(opt, state, grads, { loss });
      return (state.params as { b: tf.Tensor }).b;
    }, budgetMs);
    return { name, size, params: n, steps: t.steps, wallMsPerStep: t.wall, cpuMsPerStep: t.cpu };
  } finally {
    disposeTree([state.params, state.state as TensorTree, grads]);
    loss.dispose();
  }
}

function timeNewtonSchulz(size: string): Row {
  const x = normal(key(3), [side(size), side(size)]);
  let out: tf.Tensor | undefined;
  const t = timeIt(() => {
    out?.dispose();
    out = newtonSchulz(x);
    return out;
  }, budgetMs);
  tf.dispose([x, out as tf.Tensor]);
  return { name: 'newtonSchulz alone', size, params: side(size) ** 2, steps: t.steps, wallMsPerStep: t.wall, cpuMsPerStep: t.cpu };
}

const candidates: { name: string; make: () => Optimizer }[] = [
  { name: 'adam', make: () => adam({ learningRate: 1e-3 }) as unknown as Optimizer },
  { name: 'celo2', make: () => pretrainedOptimizer('celo2', { routing: 'regex' }) },
  { name: 'celo2 (no Newton-Schulz)', make: () => pretrainedOptimizer('celo2', { routing: 'regex', orthogonalize: false }) },
  { name: 'celo', make: () => pretrainedOptimizer('celo', { numSteps: 1000 }) },
  { name: 'celo-adam', make: () => pretrainedOptimizer('celo-adam', { numSteps: 1000 }) },
];

const load = loadavg();
const rows: Row[] = [];
const shares: Record<string, { byDifference: number; byDirectTiming: number }> = {};
for (const size of sizes) {
  timeOptimizer('adam', (candidates[0] as { make: () => Optimizer }).make(), size); // warm-up
  let adamRow: Row | undefined;
  for (const c of candidates) {
    const row = timeOptimizer(c.name, c.make(), size);
    if (c.name === 'adam') adamRow = row;
    if (adamRow) setRatioToAdam(row, adamRow);
    rows.push(row);
    console.log(`${size.padEnd(4)} ${c.name.padEnd(26)} ${row.wallMsPerStep.toFixed(2).padStart(9)} ms wall ${row.cpuMsPerStep.toFixed(2).padStart(9)} ms cpu  x${(row.cpuRatioToAdam ?? 1).toFixed(2)} adam (cpu)`);
  }
  const ns = timeNewtonSchulz(size);
  rows.push(ns);
  const full = rows.find((r) => r.size === size && r.name === 'celo2') as Row;
  const noNs = rows.find((r) => r.size === size && r.name === 'celo2 (no Newton-Schulz)') as Row;
  shares[size] = { byDifference: (full.cpuMsPerStep - noNs.cpuMsPerStep) / full.cpuMsPerStep, byDirectTiming: ns.cpuMsPerStep / full.cpuMsPerStep };
  console.log(`${size.padEnd(4)} newtonSchulz alone         ${ns.wallMsPerStep.toFixed(2).padStart(9)} ms wall ${ns.cpuMsPerStep.toFixed(2).padStart(9)} ms cpu; share of celo2's step (cpu): ${(100 * shares[size].byDirectTiming).toFixed(0)}% direct, ${(100 * shares[size].byDifference).toFixed(0)}% by difference`);
}

mkdirSync(new URL('../bench-results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('../bench-results/pretrained.json', import.meta.url),
  JSON.stringify({ date: new Date().toISOString(), backend, loadAverage: load, node: process.version, newtonSchulzShareOfCelo2Step: shares, rows }, null, 2),
);
console.log(`load average at start ${load.map((l) => l.toFixed(2)).join(' ')}; wrote bench-results/pretrained.json`);
