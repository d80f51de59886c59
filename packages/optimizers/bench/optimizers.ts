// Benchmark: nanoseconds per parameter per step of lopt optimizers next to tf.train.adam /
// tf.train.sgd on the same backend, measured in the same run (ratio lopt / tfjs).
// Usage: pnpm bench [-- --backends wasm,cpu --sizes 65536,1048576,16777216]
// Writes bench-results/optimizers.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lopt/backend';
import { advance, disposeTree, key, uniform, type OptState, type Optimizer, type TensorTree } from '@lopt/core';
import { adafactor, adam, adamw, lion, sgd } from '../src/index.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? (args[i + 1] as string) : fallback;
};
const backends = arg('backends', 'wasm,cpu').split(',') as ('wasm' | 'cpu')[];
const sizes = arg('sizes', `${2 ** 16},${2 ** 20},${2 ** 24}`).split(',').map(Number);

/** Timed steps per (backend, size): enough for a stable mean, capped so the CPU backend at 16M stays minutes, not hours. */
function repetitions(backend: string, size: number): number {
  const budget = backend === 'wasm' ? 2e8 : 2e7; // parameter-steps per measurement
  return Math.max(1, Math.min(200, Math.round(budget / size)));
}

/** Untimed warm-up steps (kernels compiled, state allocated): 2, or 1 at 16M+ parameters. */
function warmup(size: number): number {
  return size >= 2 ** 24 ? 1 : 2;
}

type Runner = { name: string; baseline: 'tfjs-adam' | 'tfjs-sgd' | null; run: (size: number, reps: number) => number };

function shapeOf(size: number): [number, number] {
  return [size / 1024, 1024];
}

function loptRunner(name: string, make: () => Optimizer<unknown>, baseline: Runner['baseline']): Runner {
  return {
    name: `lopt ${name}`,
    baseline,
    run(size, reps) {
      const shape = shapeOf(size);
      const opt = make();
      let state: OptState<unknown> = opt.init({ w: uniform(key(1), shape, { low: -1, high: 1 }) });
      const grads: TensorTree = { w: uniform(key(2), shape, { low: -1e-2, high: 1e-2 }) };
      for (let i = 0; i < warmup(size); i++) state = advance(opt, state, grads);
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) state = advance(opt, state, grads);
      (state.params as { w: tf.Tensor }).w.dataSync(); // make sure all work has finished
      const ms = performance.now() - t0;
      disposeTree(grads);
      disposeTree(state.params);
      disposeTree(state.state as TensorTree);
      return ms;
    },
  };
}

function tfjsRunner(name: 'adam' | 'sgd'): Runner {
  return {
    name: `tf.train.${name}`,
    baseline: null,
    run(size, reps) {
      const shape = shapeOf(size);
      const v = tf.variable(uniform(key(1), shape, { low: -1, high: 1 }), true, `bench_w_${name}_${size}_${Date.now()}`);
      const g = uniform(key(2), shape, { low: -1e-2, high: 1e-2 });
      const opt = name === 'adam' ? tf.train.adam(1e-3, 0.9, 0.999, 1e-8) : tf.train.sgd(0.01);
      const map = [{ name: v.name, tensor: g }];
      for (let i = 0; i < warmup(size); i++) opt.applyGradients(map);
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) opt.applyGradients(map);
      v.dataSync();
      const ms = performance.now() - t0;
      opt.dispose();
      v.dispose();
      g.dispose();
      return ms;
    },
  };
}

const runners: Runner[] = [
  tfjsRunner('sgd'),
  loptRunner('sgd', () => sgd({ learningRate: 0.01 }), 'tfjs-sgd'),
  tfjsRunner('adam'),
  loptRunner('adam', () => adam({ learningRate: 1e-3 }), 'tfjs-adam'),
  loptRunner('adam (composed)', () => adam({ learningRate: 1e-3, fused: false }), 'tfjs-adam'),
  loptRunner('adamw', () => adamw({ learningRate: 1e-3, weightDecay: 1e-4 }), 'tfjs-adam'),
  loptRunner('lion', () => lion({ learningRate: 1e-4 }), 'tfjs-adam'),
  loptRunner('adafactor', () => adafactor({ learningRate: 1e-2 }), 'tfjs-adam'),
];

type Row = { backend: string; params: number; optimizer: string; reps: number; msPerStep: number; nsPerParamStep: number; ratioVsTfjs: number | null; baseline: string | null };

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const backend of backends) {
    const info = await initBackend({ backend });
    console.log(`\n== backend ${info.name} (simd ${info.simd}, threads ${info.threads})`);
    for (const size of sizes) {
      const reps = repetitions(backend, size);
      const ns: Record<string, number> = {};
      for (const r of runners) {
        const ms = r.run(size, reps);
        const nsPer = (ms * 1e6) / (reps * size);
        ns[r.name] = nsPer;
        const base = r.baseline === 'tfjs-adam' ? ns['tf.train.adam'] : r.baseline === 'tfjs-sgd' ? ns['tf.train.sgd'] : undefined;
        const ratio = base === undefined ? null : nsPer / base;
        rows.push({ backend, params: size, optimizer: r.name, reps, msPerStep: ms / reps, nsPerParamStep: nsPer, ratioVsTfjs: ratio, baseline: r.baseline });
        console.log(
          `${backend.padEnd(5)} ${String(size).padStart(9)} ${r.name.padEnd(24)} ${nsPer.toFixed(3).padStart(9)} ns/param/step` +
            (ratio === null ? '' : `  ratio ${ratio.toFixed(2)} vs ${r.baseline}`),
        );
      }
    }
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const out = join(here, '..', 'bench-results', 'optimizers.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, note: 'ratio = lopt / tfjs on the same backend in the same run (adam, adamw, lion, adafactor vs tf.train.adam; sgd vs tf.train.sgd)', rows }, null, 2)}\n`);
  console.log(`\nwrote ${out}`);
}

await main();
