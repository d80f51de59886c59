// Benchmark: nanoseconds per parameter per step of lopt optimizers next to tf.train.adam /
// tf.train.sgd on the same backend, measured in the same run (ratio lopt / tfjs).
// Usage: pnpm bench [-- --backends wasm,cpu --sizes 65536,1048576,16777216]
// Writes bench-results/optimizers.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
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
const loadAverageStart = loadavg().map((l) => Number(l.toFixed(2)));
const sizes = arg('sizes', `${2 ** 16},${2 ** 20},${2 ** 24}`).split(',').map(Number);

/**
 * Timed steps per round for (backend, size), and the number of rounds. The machine is
 * shared, so every runner is timed in interleaved rounds and the fastest round counts
 * (the least-disturbed measurement); the CPU backend at 16M gets 2 rounds of 1 step.
 */
function plan(backend: string, size: number): { reps: number; rounds: number } {
  const budget = backend === 'wasm' ? 3e7 : 4e6; // parameter-steps per round
  const reps = Math.max(1, Math.min(100, Math.round(budget / size)));
  const rounds = backend === 'cpu' && size >= 2 ** 24 ? 2 : 5;
  return { reps, rounds };
}

function shapeOf(size: number): [number, number] {
  return [size / 1024, 1024];
}

/** A benchmark subject with its state set up: `time(n)` runs n steps and returns milliseconds. */
type Subject = { time: (n: number) => number; dispose: () => void };
type Runner = { name: string; baseline: 'tfjs-adam' | 'tfjs-sgd' | null; setup: (size: number) => Subject };

function loptRunner(name: string, make: () => Optimizer<unknown>, baseline: Runner['baseline']): Runner {
  return {
    name: `lopt ${name}`,
    baseline,
    setup(size) {
      const shape = shapeOf(size);
      const opt = make();
      let state: OptState<unknown> = opt.init({ w: uniform(key(1), shape, { low: -1, high: 1 }) });
      const grads: TensorTree = { w: uniform(key(2), shape, { low: -1e-2, high: 1e-2 }) };
      state = advance(opt, state, grads); // warm-up: kernels ready, state allocated
      return {
        time(n) {
          const t0 = performance.now();
          for (let i = 0; i < n; i++) state = advance(opt, state, grads);
          (state.params as { w: tf.Tensor }).w.dataSync(); // all work finished
          return performance.now() - t0;
        },
        dispose() {
          disposeTree(grads);
          disposeTree(state.params);
          disposeTree(state.state as TensorTree);
        },
      };
    },
  };
}

let variableCounter = 0;
function tfjsRunner(name: 'adam' | 'sgd'): Runner {
  return {
    name: `tf.train.${name}`,
    baseline: null,
    setup(size) {
      const shape = shapeOf(size);
      const v = tf.variable(uniform(key(1), shape, { low: -1, high: 1 }), true, `bench_w_${variableCounter++}`);
      const g = uniform(key(2), shape, { low: -1e-2, high: 1e-2 });
      const opt = name === 'adam' ? tf.train.adam(1e-3, 0.9, 0.999, 1e-8) : tf.train.sgd(0.01);
      const map = [{ name: v.name, tensor: g }];
      opt.applyGradients(map);
      return {
        time(n) {
          const t0 = performance.now();
          for (let i = 0; i < n; i++) opt.applyGradients(map);
          v.dataSync();
          return performance.now() - t0;
        },
        dispose() {
          opt.dispose();
          v.dispose();
          g.dispose();
        },
      };
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

type Row = {
  backend: string;
  params: number;
  optimizer: string;
  stepsPerRound: number;
  rounds: number;
  msPerStep: number;
  nsPerParamStep: number;
  medianNsPerParamStep: number;
  ratioVsTfjs: number | null;
  baseline: string | null;
};

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const backend of backends) {
    const info = await initBackend({ backend });
    console.log(`\n== backend ${info.name} (simd ${info.simd}, threads ${info.threads})`);
    for (const size of sizes) {
      const { reps, rounds } = plan(backend, size);
      // Subjects are set up one at a time per round at 16M (memory); smaller sizes keep all alive.
      const times: number[][] = runners.map(() => []);
      const big = size >= 2 ** 24;
      let subjects = big ? [] : runners.map((r) => r.setup(size));
      for (let round = 0; round < rounds; round++) {
        runners.forEach((r, i) => {
          const subject = big ? r.setup(size) : (subjects[i] as Subject);
          (times[i] as number[]).push(subject.time(reps));
          if (big) subject.dispose();
        });
      }
      subjects.forEach((s) => s.dispose());
      subjects = [];
      const ns: Record<string, number> = {};
      runners.forEach((r, i) => {
        const perStep = (times[i] as number[]).map((ms) => ms / reps);
        const sorted = [...perStep].sort((a, b) => a - b);
        const best = sorted[0] as number;
        const median = sorted[Math.floor(sorted.length / 2)] as number;
        const nsPer = (best * 1e6) / size;
        ns[r.name] = nsPer;
        const base = r.baseline === 'tfjs-adam' ? ns['tf.train.adam'] : r.baseline === 'tfjs-sgd' ? ns['tf.train.sgd'] : undefined;
        const ratio = base === undefined ? null : nsPer / base;
        rows.push({
          backend,
          params: size,
          optimizer: r.name,
          stepsPerRound: reps,
          rounds,
          msPerStep: best,
          nsPerParamStep: nsPer,
          medianNsPerParamStep: (median * 1e6) / size,
          ratioVsTfjs: ratio,
          baseline: r.baseline,
        });
        console.log(
          `${backend.padEnd(5)} ${String(size).padStart(9)} ${r.name.padEnd(24)} ${nsPer.toFixed(3).padStart(9)} ns/param/step (median ${((median * 1e6) / size).toFixed(3)})` +
            (ratio === null ? '' : `  ratio ${ratio.toFixed(2)} vs ${r.baseline}`),
        );
      });
    }
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const out = join(here, '..', 'bench-results', 'optimizers.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, loadAverageStart, loadAverageEnd: loadavg().map((l) => Number(l.toFixed(2))), note: 'nsPerParamStep is the fastest of `rounds` interleaved rounds (shared machine); ratio = lopt / tfjs on the same backend in the same run (adam, adamw, lion, adafactor vs tf.train.adam; sgd vs tf.train.sgd)', rows }, null, 2)}\n`);
  console.log(`\nwrote ${out}`);
}

await main();
