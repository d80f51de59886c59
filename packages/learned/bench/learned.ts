// Benchmark: time per optimizer step of every architecture at 64K and 1M parameters on
// the WASM backend, its ratio to `adam` (@lopt/optimizers) measured in the same run, and
// bytes of optimizer state per parameter. Writes bench-results/learned.json.
//
// The machine is shared, so each step is timed both by wall clock and by this process's
// CPU time (process.cpuUsage); ratios use the same clock for both sides.
// Usage: pnpm --filter @lopt/learned bench [-- --sizes 64k,1m --only adafacMlpLOpt]
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { initBackend } from '@lopt/backend';
import { advance, disposeTree, key, normal, treeSize, type Optimizer, type OptState, type TensorTree } from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { ARCHITECTURES, adafacMlpLOpt, fusedAdafacAvailable } from '../src/index.ts';
import { benchArgs, setRatioToAdam, timeIt, type TimedRow } from './common.ts';

const { arg, sizes, budgetMs } = benchArgs();
const only = arg('only')?.split(',');

const backend = await initBackend({ backend: 'wasm' });

/** A model of exactly 64Ki or 1Mi parameters: a matrix, a bias and a scalar. */
function model(size: string, seed: number): TensorTree {
  const [r, c] = size === '1m' ? [1023, 1024] : [255, 256];
  return { w: normal(key(seed), [r, c], { std: 0.1 }), b: normal(key(seed + 1), [r], { std: 0.1 }), s: tf.scalar(0.5) };
}

interface Row extends TimedRow {
  wallNsPerParam: number;
  cpuNsPerParam: number;
  stateBytesPerParam: number;
  error?: string;
}

function timeOptimizer(name: string, opt: Optimizer, size: string): Row {
  const params = model(size, 1);
  const grads = model(size, 7);
  const loss = tf.scalar(1.0);
  const n = treeSize(params);
  let state: OptState = opt.init(params, { numSteps: 1000 });
  const stateBytesPerParam = (treeSize(state.state as TensorTree) * 4) / n;
  try {
    // The warm-up call compiles kernels; slow optimizers get at least one timed step.
    const t = timeIt(() => {
      state = advance(opt, state, grads, { loss });
      return (state.params as { s: tf.Tensor }).s;
    }, budgetMs);
    const { wall, cpu } = t;
    return { name, size, params: n, steps: t.steps, wallMsPerStep: wall, cpuMsPerStep: cpu, wallNsPerParam: (wall * 1e6) / n, cpuNsPerParam: (cpu * 1e6) / n, stateBytesPerParam };
  } catch (e) {
    return { name, size, params: n, steps: 0, wallMsPerStep: NaN, cpuMsPerStep: NaN, wallNsPerParam: NaN, cpuNsPerParam: NaN, stateBytesPerParam, error: (e as Error).message.slice(0, 200) };
  } finally {
    disposeTree([state.params, state.state as TensorTree, grads]);
    loss.dispose();
  }
}

const candidates: { name: string; make: () => Optimizer }[] = [
  { name: 'adam', make: () => adam({ learningRate: 1e-3 }) as unknown as Optimizer },
  { name: 'adafacMlpLOpt (fused)', make: () => { const l = adafacMlpLOpt({ fused: true }); return l.optimizer(l.init(key(0))); } },
  { name: 'adafacMlpLOpt (composed)', make: () => { const l = adafacMlpLOpt({ fused: false }); return l.optimizer(l.init(key(0))); } },
  ...Object.entries(ARCHITECTURES)
    .filter(([n]) => n !== 'adafacMlpLOpt')
    .map(([n, e]) => ({ name: n, make: () => { const l = e.factory({}); return l.optimizer(l.init(key(0))); } })),
];

const rows: Row[] = [];
for (const size of sizes) {
  // Warm-up run (JIT, kernel compilation, backend allocator) so the first timed row is not penalized.
  timeOptimizer('adam', (candidates[0] as { make: () => Optimizer }).make(), size);
  let adamRow: Row | undefined;
  for (const c of candidates) {
    if (only && c.name !== 'adam' && !only.some((o) => c.name.startsWith(o))) continue;
    const row = timeOptimizer(c.name, c.make(), size);
    if (c.name === 'adam') adamRow = row;
    if (adamRow && !row.error) setRatioToAdam(row, adamRow);
    rows.push(row);
    console.log(
      `${size.padEnd(4)} ${c.name.padEnd(26)} ${row.error ? `ERROR ${row.error}` : `${row.wallMsPerStep.toFixed(2).padStart(9)} ms wall ${row.cpuMsPerStep.toFixed(2).padStart(9)} ms cpu  ${row.cpuNsPerParam.toFixed(1).padStart(7)} ns/param cpu  x${(row.cpuRatioToAdam ?? 1).toFixed(1)} adam (cpu)  state ${row.stateBytesPerParam.toFixed(1)} B/param`}`,
    );
  }
}

mkdirSync(new URL('../bench-results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('../bench-results/learned.json', import.meta.url),
  JSON.stringify({ date: new Date().toISOString(), backend, fusedAvailable: fusedAdafacAvailable(), node: process.version, rows }, null, 2),
);
console.log('wrote bench-results/learned.json');
