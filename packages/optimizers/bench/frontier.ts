// Benchmark: per-step time of the frontier and curvature optimizers next to lopt's adam on WASM,
// on one [size/1024, 1024] weight (with a [1024] bias for the layerwise methods, fed synthetic
// layer statistics of a batch of 128), interleaved rounds, fastest round counted.
// Usage: pnpm bench:frontier [-- --sizes 65536,1048576 --backend wasm]
// Writes bench-results/frontier.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lopt/backend';
import { advance, disposeTree, key, uniform, type DenseLayerStatistics, type OptState, type Optimizer, type TensorTree } from '@lopt/core';
import { adam, foof, kfac, mbf, mfac, muon, scheduleFreeAdamw, shampoo, soap } from '../src/index.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? (args[i + 1] as string) : fallback;
};
const backend = arg('backend', 'wasm') as 'wasm' | 'cpu';
const sizes = arg('sizes', `${2 ** 16},${2 ** 20}`).split(',').map(Number);
const BATCH = 128;

type Subject = { time: (n: number) => number; dispose: () => void };
type Runner = { name: string; note: string; setup: (size: number) => Subject };

function runner(name: string, note: string, make: () => Optimizer<unknown>): Runner {
  return {
    name,
    note,
    setup(size) {
      const rows = size / 1024;
      const opt = make();
      const params = { layer: { w: uniform(key(1), [rows, 1024], { low: -0.05, high: 0.05 }), b: tf.zeros([1024]) } };
      const grads: TensorTree = { layer: { w: uniform(key(2), [rows, 1024], { low: -1e-2, high: 1e-2 }), b: uniform(key(3), [1024], { low: -1e-2, high: 1e-2 }) } };
      const layers: DenseLayerStatistics[] = [
        { weight: 'layer.w', bias: 'layer.b', inputs: uniform(key(4), [BATCH, rows], { low: 0, high: 1 }) as tf.Tensor2D, outputGrads: uniform(key(5), [BATCH, 1024], { low: -1e-4, high: 1e-4 }) as tf.Tensor2D },
      ];
      const ctx = { layers };
      let state: OptState<unknown> = opt.init(params);
      state = advance(opt, state, grads, ctx);
      return {
        time(n) {
          const t0 = performance.now();
          for (let i = 0; i < n; i++) state = advance(opt, state, grads, ctx);
          (state.params as { layer: { w: tf.Tensor } }).layer.w.dataSync();
          return performance.now() - t0;
        },
        dispose() {
          disposeTree([grads, state.params, state.state as TensorTree, ...layers.flatMap((l) => [l.inputs, l.outputGrads])]);
        },
      };
    },
  };
}

const runners: Runner[] = [
  runner('adam', 'fused kernel', () => adam({ learningRate: 1e-3 })),
  runner('scheduleFreeAdamw', '', () => scheduleFreeAdamw({ learningRate: 1e-3 })),
  runner('muon', 'Newton-Schulz on the matrix, AdamW on the bias', () => muon({ learningRate: 0.02 })),
  runner('shampoo (roots every 10)', 'blockSize 128; host eigendecompositions amortized over 10 steps', () => shampoo({ blockSize: 128, preconditioningComputeSteps: 10 })),
  runner('soap (bases every 10, axes <= 256)', 'host QR amortized over 10 steps; the 1024 axis is not rotated (maxPreconditionDim 256)', () => soap({ preconditionFrequency: 10, maxPreconditionDim: 256 })),
  runner('mfac (m = 32)', 'window of 32 gradients', () => mfac({ numGradients: 32, damping: 1e-3 })),
  runner('kfac (inverses every 10)', 'synthetic layer statistics, batch 128', () => kfac({ inverseInterval: 10 })),
  runner('foof (inverses every 10)', 'synthetic layer statistics, batch 128', () => foof({ inverseInterval: 10 })),
  runner('mbf (blocks of 16, inverses every 10)', 'synthetic layer statistics, batch 128', () => mbf({ blockSize: 16, inverseInterval: 10 })),
];

async function main(): Promise<void> {
  const info = await initBackend({ backend });
  console.log(`== backend ${info.name}`);
  const rows: Record<string, unknown>[] = [];
  for (const size of sizes) {
    const reps = size >= 2 ** 20 ? 10 : 20;
    const rounds = 3;
    const subjects = runners.map((r) => r.setup(size));
    const times: number[][] = runners.map(() => []);
    for (let round = 0; round < rounds; round++) subjects.forEach((s, i) => (times[i] as number[]).push(s.time(reps) / reps));
    subjects.forEach((s) => s.dispose());
    const best = times.map((t) => Math.min(...t));
    const adamMs = best[0] as number;
    runners.forEach((r, i) => {
      const ms = best[i] as number;
      rows.push({ backend, params: size + 1024, optimizer: r.name, note: r.note, msPerStep: ms, ratioVsAdam: ms / adamMs });
      console.log(`${String(size).padStart(8)} ${r.name.padEnd(40)} ${ms.toFixed(2).padStart(9)} ms/step  ${(ms / adamMs).toFixed(2).padStart(7)}x adam`);
    });
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const out = join(here, '..', 'bench-results', 'frontier.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, note: 'fastest of 3 interleaved rounds; ratio vs lopt adam in the same run', rows }, null, 2)}\n`);
  console.log(`wrote ${out}`);
}

await main();
