// Backend benchmark: per available backend (tfjs-node if installed, WASM, JS CPU), a 512x512
// matmul, an elementwise chain over 1M and 16M floats, conv2d forward+backward, and the kernels
// lopt fills on WASM; the WASM/CPU speed ratios come from the same run.
// Run: pnpm bench (in this package). Writes bench-results/backend.json and prints a markdown table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { key, normalArray, split, type Key } from '@lopt/core';
import { initBackend, type BackendInfo, type BackendName } from '../src/index.js';

interface Workload {
  readonly name: string;
  /** Repetitions timed (after warm-up); fewer for slow backends is decided by `budgetMs`. Default 7. */
  readonly reps?: number;
  /** Untimed runs first. Default 1. */
  readonly warmup?: number;
  /** Builds inputs once (outside timing), returns the timed function and a disposer. */
  setup(): { run: () => tf.Tensor | tf.Tensor[]; dispose: () => void };
}

const root = key(2026);
const hostCache = new Map<string, Float32Array>();
/** Host-side standard normals (same numbers for every backend), cached by name. */
function host(name: string, k: Key, n: number): Float32Array {
  const id = `${name}:${n}`;
  let v = hostCache.get(id);
  if (!v) {
    v = Float32Array.from(normalArray(k, n));
    hostCache.set(id, v);
  }
  return v;
}

/** A tensor of `shape` holding the host normals `host(name, k, size)`. */
function hostTensor(name: string, k: Key, shape: number[]): tf.Tensor {
  return tf.tensor(host(name, k, shape.reduce((a, b) => a * b, 1)), shape);
}

const [kA, kB, kE1, kE16, kX, kF, kDy, kDw] = split(root, 8) as Key[];

function elementwise(n: number, label: string, k: Key): Workload {
  return {
    name: `elementwise chain ${label}`,
    setup() {
      const x = tf.tensor1d(host(label, k, n));
      // exp, mul, abs, sqrt, add, tanh, mul: seven elementwise kernels, six intermediates
      const run = (): tf.Tensor => tf.tidy(() => tf.mul(tf.tanh(tf.add(tf.mul(tf.exp(x), 0.5), tf.sqrt(tf.abs(x)))), x));
      return { run, dispose: () => x.dispose() };
    },
  };
}

const convShape = { batch: 32, size: 28, inC: 8, outC: 16, k: 3 };

const workloads: Workload[] = [
  {
    name: 'matmul 512x512',
    reps: 15,
    warmup: 2,
    setup() {
      const a = hostTensor('a', kA!, [512, 512]);
      const b = hostTensor('b', kB!, [512, 512]);
      return { run: () => tf.matMul(a, b), dispose: () => tf.dispose([a, b]) };
    },
  },
  elementwise(1 << 20, '1M', kE1!),
  elementwise(1 << 24, '16M', kE16!),
  {
    name: 'conv2d fwd+bwd 32x28x28x8->16 3x3',
    setup() {
      const { batch, size, inC, outC, k } = convShape;
      const x = hostTensor('x', kX!, [batch, size, size, inC]);
      const f = hostTensor('f', kF!, [k, k, inC, outC]);
      const w = hostTensor('dy', kDy!, [batch, size, size, outC]);
      const grads = tf.grads((xi: tf.Tensor, fi: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xi as tf.Tensor4D, fi as tf.Tensor4D, 1, 'same'), w)));
      return { run: () => grads([x, f]), dispose: () => tf.dispose([x, f, w]) };
    },
  },
  {
    name: 'Conv2DBackpropFilter 32x28x28x8->16 3x3',
    setup() {
      const { batch, size, inC, outC, k } = convShape;
      const x = hostTensor('x', kX!, [batch, size, size, inC]);
      const dy = hostTensor('dy', kDy!, [batch, size, size, outC]);
      const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [k, k, inC, outC] };
      return { run: () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs) as tf.Tensor, dispose: () => tf.dispose([x, dy]) };
    },
  },
  {
    name: 'depthwiseConv2d fwd+bwd 32x28x28x16 3x3',
    setup() {
      const { batch, size, k } = convShape;
      const c = 16;
      const x = hostTensor('dwx', kDw!, [batch, size, size, c]);
      const f = hostTensor('dwf', kF!, [k, k, c, 1]);
      const grads = tf.grads((xi: tf.Tensor, fi: tf.Tensor) => tf.sum(tf.square(tf.depthwiseConv2d(xi as tf.Tensor4D, fi as tf.Tensor4D, 1, 'same'))));
      return { run: () => grads([x, f]), dispose: () => tf.dispose([x, f]) };
    },
  },
  {
    // The CPU kernel of UnsortedSegmentSum is O(vocab * ids * dim) (a mask per segment), so the
    // table is kept small enough for the CPU backend to finish.
    name: 'embedding gather grad 1024 ids, 1000x32',
    setup() {
      const table = hostTensor('emb', kA!, [1000, 32]);
      const ids = tf.tensor1d(Int32Array.from(host('ids', kX!, 1024), (v) => Math.min(999, Math.floor(Math.abs(v) * 400))), 'int32');
      const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, ids))));
      return { run: () => grad(table), dispose: () => tf.dispose([table, ids]) };
    },
  },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function force(out: tf.Tensor | tf.Tensor[]): void {
  for (const t of Array.isArray(out) ? out : [out]) t.dataSync();
  tf.dispose(out);
}

interface Timing {
  readonly medianMs: number;
  readonly minMs: number;
  readonly samplesMs: number[];
}

async function benchBackend(name: BackendName): Promise<{ info: BackendInfo; results: Record<string, Timing> } | undefined> {
  let info: BackendInfo;
  try {
    info = await initBackend({ backend: name });
  } catch {
    return undefined; // not installed (tfjs-node)
  }
  const results: Record<string, Timing> = {};
  for (const w of workloads) {
    const { run, dispose } = w.setup();
    for (let i = 0; i < (w.warmup ?? 1); i++) force(run());
    const samples: number[] = [];
    // JS CPU is slow on the big workloads; cap its repetitions by time (at least 3).
    const budget = 20_000;
    const started = performance.now();
    for (let i = 0; i < (w.reps ?? 7); i++) {
      const t0 = performance.now();
      force(run());
      samples.push(performance.now() - t0);
      if (i >= 2 && performance.now() - started > budget) break;
    }
    dispose();
    results[w.name] = { medianMs: median(samples), minMs: Math.min(...samples), samplesMs: samples.map((s) => Math.round(s * 100) / 100) };
    console.error(`${name.padEnd(10)} ${w.name.padEnd(44)} median ${median(samples).toFixed(2)} ms (${samples.length} reps)`);
  }
  return { info, results };
}

const order: BackendName[] = ['tensorflow', 'wasm', 'cpu'];
const runs: Partial<Record<BackendName, { info: BackendInfo; results: Record<string, Timing> }>> = {};
for (const b of order) {
  const r = await benchBackend(b);
  if (r) runs[b] = r;
}

const ratios: Record<string, number> = {};
for (const w of workloads) {
  const wasm = runs.wasm?.results[w.name]?.medianMs;
  const cpu = runs.cpu?.results[w.name]?.medianMs;
  if (wasm !== undefined && cpu !== undefined) ratios[w.name] = Math.round((cpu / wasm) * 100) / 100;
}

const report = {
  benchmark: '@lopt/backend',
  date: new Date().toISOString(),
  machine: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown' },
  note: 'median of timed repetitions after warm-up; each repetition ends with dataSync. wasmOverCpu = CPU median / WASM median (speed-up of WASM), measured in this run.',
  backends: Object.fromEntries(
    Object.entries(runs).map(([name, r]) => [name, { simd: r.info.simd, threads: r.info.threads, filledKernels: r.info.filledKernels, results: r.results }]),
  ),
  wasmOverCpu: ratios,
};

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..', 'bench-results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'backend.json'), `${JSON.stringify(report, null, 2)}\n`);

const names = Object.keys(runs) as BackendName[];
const lines = [
  `| workload | ${names.map((n) => `${n} median (ms)`).join(' | ')} | WASM speed-up over CPU |`,
  `|---|${names.map(() => '---:').join('|')}|---:|`,
  ...workloads.map(
    (w) =>
      `| ${w.name} | ${names.map((n) => runs[n]!.results[w.name]!.medianMs.toFixed(2)).join(' | ')} | ${ratios[w.name] !== undefined ? `${ratios[w.name]}x` : '-'} |`,
  ),
];
console.log(lines.join('\n'));
console.log(`\nwritten: ${join(outDir, 'backend.json')}`);
