// One training step (forward + backward + tf.train.adam) of small dense models on WASM, with
// lopt's matmul rewrites off (every matmul on tfjs-backend-wasm's own kernel) and on (the
// layouts the probe found slow rewritten), interleaved in one process so both see the same
// load; and tfjs-layers model.fit on the 784-128-10 model the same way. Each block of steps is
// followed by a 512x512 matmul timed on its own: the fraction of that rate a step reaches
// compares two rates measured under the same load.
// Run: pnpm bench:train (in this package). Writes bench-results/train-step.json, prints a table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { key, normalArray, randintArray, split, type Key } from '@lopt/core';
import { initBackend } from '../src/index.js';
import { matMulRewrites, setMatMulRewrites, type MatMulSlowLayouts } from '../src/kernels/mat_mul_fixes.js';

const MATMULS = [tf.BatchMatMul, tf._FusedMatMul];
const OFF: MatMulSlowLayouts = { transposeA: false, transposeB: false, batched: false };
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const STEPS_PER_ROUND = 5;

interface Model {
  readonly name: string;
  readonly sizes: readonly number[];
  readonly batch: number;
}

const MODELS: readonly Model[] = [
  { name: 'MLP 784-128-10, batch 128', sizes: [784, 128, 10], batch: 128 },
  { name: 'MLP 64-32-10, batch 64', sizes: [64, 32, 10], batch: 64 },
  { name: 'softmax 64-10, batch 64', sizes: [64, 10], batch: 64 },
];

/**
 * Matmul FLOPs of one step: per layer the forward product and the weight gradient x^T dy, and
 * the input gradient dy W^T for every layer but the first (the data needs no gradient).
 */
function stepFlops(m: Model): number {
  return m.sizes.slice(1).reduce((s, out, i) => s + (i === 0 ? 2 : 3) * 2 * m.batch * m.sizes[i]! * out, 0);
}

const host = (k: Key, n: number, scale = 1): Float32Array => Float32Array.from(normalArray(k, n), (v) => v * scale);

/** Variables, a fixed batch, and one minimize step of a softmax-cross-entropy MLP (tanh hidden layers). */
function makeStep(m: Model, k: Key): { step: () => void; dispose: () => void } {
  const keys = split(k, m.sizes.length + 2);
  const vars = m.sizes.slice(1).flatMap((out, i) => [
    tf.variable(tf.tensor2d(host(keys[i]!, m.sizes[i]! * out, 1 / Math.sqrt(m.sizes[i]!)), [m.sizes[i]!, out])),
    tf.variable(tf.zeros([out])),
  ]);
  const classes = m.sizes[m.sizes.length - 1]!;
  const x = tf.tensor2d(host(keys[m.sizes.length]!, m.batch * m.sizes[0]!), [m.batch, m.sizes[0]!]);
  const y = tf.oneHot(tf.tensor1d(randintArray(keys[m.sizes.length + 1]!, m.batch, 0, classes), 'int32'), classes);
  const opt = tf.train.adam(1e-3);
  const loss = (): tf.Scalar => {
    let h: tf.Tensor = x;
    for (let i = 0; i < vars.length; i += 2) {
      h = tf.add(tf.matMul(h, vars[i]!), vars[i + 1]!);
      if (i + 2 < vars.length) h = tf.tanh(h);
    }
    return tf.losses.softmaxCrossEntropy(y, h);
  };
  return {
    step: () => {
      const cost = opt.minimize(loss, true, vars);
      cost!.dataSync();
      cost!.dispose();
    },
    dispose: () => {
      opt.dispose();
      tf.dispose([...vars, x, y]);
    },
  };
}

/** The 784-128-10 model as a tfjs-layers model; one fit call = one epoch of 4 batches of 128. */
function makeLayersFit(k: Key): { fit: () => Promise<void>; dispose: () => void } {
  const [kx, ky] = split(k);
  const model = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [784], units: 128, activation: 'relu' }), tf.layers.dense({ units: 10, activation: 'softmax' })],
  });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const n = 512;
  const x = tf.tensor2d(host(kx!, n * 784), [n, 784]);
  const y = tf.oneHot(tf.tensor1d(randintArray(ky!, n, 0, 10), 'int32'), 10);
  return {
    fit: async () => {
      await model.fit(x, y, { batchSize: 128, epochs: 1, shuffle: false, verbose: 0 });
    },
    dispose: () => {
      model.dispose();
      tf.dispose([x, y]);
    },
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};

let a512: tf.Tensor2D;
let b512: tf.Tensor2D;
/** Milliseconds of one 512x512x512 matmul (read back). */
function matmul512(): number {
  const t0 = performance.now();
  const c = tf.matMul(a512, b512);
  c.dataSync();
  c.dispose();
  return performance.now() - t0;
}

function setRewrites(on: boolean, saved: Map<string, MatMulSlowLayouts>): void {
  for (const name of MATMULS) setMatMulRewrites(name, on ? saved.get(name)! : OFF);
}

type Run = () => void | Promise<void>;

/** Times `onRun` with the rewrites on and `offRun` with them off, alternating which goes first each round. */
async function timeInterleaved(onRun: Run, offRun: Run, saved: Map<string, MatMulSlowLayouts>, steps: number): Promise<{ on: number[]; off: number[]; mm: number[] }> {
  const times = { on: [] as number[], off: [] as number[] };
  const mm: number[] = [];
  const variants = [
    { on: true, run: onRun, into: times.on },
    { on: false, run: offRun, into: times.off },
  ];
  for (const v of variants) {
    setRewrites(v.on, saved);
    await v.run(); // warm-up
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
      setRewrites(v.on, saved);
      for (let s = 0; s < steps; s++) {
        const t0 = performance.now();
        await v.run();
        v.into.push(performance.now() - t0);
      }
      mm.push(matmul512());
    }
  }
  setRewrites(true, saved);
  return { ...times, mm };
}

const loadBefore = loadavg();
const info = await initBackend({ backend: 'wasm' });
a512 = tf.tensor2d(host(key(1), 512 * 512), [512, 512]);
b512 = tf.tensor2d(host(key(2), 512 * 512), [512, 512]);
const saved = new Map(MATMULS.map((name) => [name, matMulRewrites(name) ?? OFF] as const));
const rows: Record<string, unknown>[] = [];
const root = key(20261204);

/** A result row from interleaved timings; `perRun` divides each run's time (batches per fit call). */
function row(workload: string, t: { on: number[]; off: number[]; mm: number[] }, flops: number, perRun = 1): Record<string, unknown> {
  const onMs = median(t.on) / perRun;
  const offMs = median(t.off) / perRun;
  const mmMs = median(t.mm);
  const rate = (2 * 512 ** 3) / (mmMs / 1000);
  console.error(`${workload}: off ${offMs.toFixed(2)} ms, on ${onMs.toFixed(2)} ms`);
  return {
    workload,
    rewritesOffMs: offMs,
    rewritesOnMs: onMs,
    speedup: offMs / onMs,
    matmulFlops: flops,
    matmul512Ms: mmMs,
    matmulRateGflops: rate / 1e9,
    fractionOfMatmulRateOff: flops / (offMs / 1000) / rate,
    fractionOfMatmulRateOn: flops / (onMs / 1000) / rate,
    samples: t.on.length,
  };
}

for (const [i, m] of MODELS.entries()) {
  const fast = makeStep(m, split(root, 8)[i]!);
  const slow = makeStep(m, split(root, 8)[i]!);
  const t = await timeInterleaved(fast.step, slow.step, saved, STEPS_PER_ROUND);
  fast.dispose();
  slow.dispose();
  rows.push(row(`train step: ${m.name}`, t, stepFlops(m)));
}

/** One backward product of a dense layer on fresh operands (as in training: new tensors every step). */
function makeProduct(aShape: [number, number], bShape: [number, number], tA: boolean, tB: boolean, k: Key): () => void {
  const [ka, kb] = split(k);
  const av = host(ka!, aShape[0] * aShape[1]);
  const bv = host(kb!, bShape[0] * bShape[1]);
  return () => {
    const a = tf.tensor2d(av, aShape);
    const b = tf.tensor2d(bv, bShape);
    const c = tf.matMul(a, b, tA, tB);
    c.dataSync();
    tf.dispose([a, b, c]);
  };
}

for (const m of MODELS) {
  for (const [i, out] of m.sizes.slice(1).entries()) {
    const inp = m.sizes[i]!;
    const products: [string, [number, number], [number, number], boolean, boolean][] = [
      [`x^T dy [${m.batch},${inp}]^T [${m.batch},${out}]`, [m.batch, inp], [m.batch, out], true, false],
      [`dy W^T [${m.batch},${out}] [${inp},${out}]^T`, [m.batch, out], [inp, out], false, true],
    ];
    for (const [label, aShape, bShape, tA, tB] of i === 0 ? products.slice(0, 1) : products) {
      const run = makeProduct(aShape, bShape, tA, tB, split(root, 8)[6]!);
      const t = await timeInterleaved(run, run, saved, 20);
      const flops = 2 * aShape[0] * aShape[1] * (tB ? bShape[0] : bShape[1]);
      rows.push(row(`matMul ${label} (${m.name.split(',')[0]!})`, t, flops));
    }
  }
}

{
  const fast = makeLayersFit(split(root, 8)[5]!);
  const slow = makeLayersFit(split(root, 8)[5]!);
  const t = await timeInterleaved(fast.fit, slow.fit, saved, 1);
  fast.dispose();
  slow.dispose();
  rows.push(row('tfjs-layers model.fit: MLP 784-128-10 (relu), batch 128, per batch', t, stepFlops(MODELS[0]!), 4));
}
tf.dispose([a512, b512]);

const report = {
  benchmark: '@lopt/backend train-step',
  date: new Date().toISOString(),
  loadAverage: { before: loadBefore, after: loadavg() },
  machine: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown' },
  backend: { name: info.name, simd: info.simd, threads: info.threads, matMulRewrites: Object.fromEntries(saved) },
  note:
    'Medians over interleaved rounds (rewrites on, then off, alternating which goes first). "off": every matmul runs on tfjs-backend-wasm\'s own kernel (as without @lopt/backend); "on": lopt\'s rewrites as the probe set them. A step = tf.train.adam minimize (forward, backward, update) + reading the loss. fractionOfMatmulRate = step matmul FLOPs / step time / the 512x512 matmul rate timed after each block of steps.',
  results: rows,
};
const outDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'train-step.json'), `${JSON.stringify(report, null, 2)}\n`);

const f = (v: unknown, d = 2): string => (v as number).toFixed(d);
console.log('| workload | rewrites off (ms) | rewrites on (ms) | speed-up | fraction of 512x512 matmul rate (off → on) |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.workload as string} | ${f(r.rewritesOffMs)} | ${f(r.rewritesOnMs)} | ${f(r.speedup)}x | ${f(r.fractionOfMatmulRateOff, 3)} → ${f(r.fractionOfMatmulRateOn, 3)} |`);
}
console.log(`\nload average before ${loadBefore.map((v) => v.toFixed(2)).join(' ')}, after ${loadavg().map((v) => v.toFixed(2)).join(' ')}; 512x512 matmul ${f(rows[0]!.matmulRateGflops, 1)} GFLOP/s`);
console.log(`written: ${join(outDir, 'train-step.json')}`);
