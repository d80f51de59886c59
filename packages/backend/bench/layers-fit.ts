// tfjs-layers model.fit on the 784-128-10 relu MLP (batch 128, Adam) on WASM, with and without
// @lopt/backend: two child processes, one started with plain tfjs (`tf.setBackend('wasm')`, no
// lopt import at all), one with `initBackend({ backend: 'wasm' })` (its kernel fills, matmul
// rewrites and gradient fills). The parent asks them for blocks of fit calls in turn, alternating
// which goes first every round, so only one runs at a time and both see the same load; each
// child times its own fits (wall and process CPU time).
// Run: pnpm bench:fit (in this package). Writes bench-results/layers-fit.json, prints a table.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 16);
const FITS_PER_BLOCK = 2;
const BATCHES_PER_FIT = 4;
type Mode = 'plain' | 'lopt';
type Block = { wall: number[]; cpu: number; loss: number };

/** A child: starts its backend, builds the model, then answers each `{ fits }` message with a timed block. */
async function child(mode: Mode): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-wasm');
  let info: Record<string, unknown> = { mode };
  if (mode === 'lopt') {
    const { initBackend } = await import('../src/index.js');
    const i = await initBackend({ backend: 'wasm' });
    info = { mode, name: i.name, simd: i.simd, threads: i.threads, filledKernels: i.filledKernels.length };
  } else {
    await tf.setBackend('wasm');
    await tf.ready();
    info = { mode, name: tf.getBackend(), simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') };
  }
  const { key, normalArray, randintArray, split } = await import('@lopt/core');
  const [kx, ky] = split(key(20261206));
  const n = BATCHES_PER_FIT * 128;
  const x = tf.tensor2d(Float32Array.from(normalArray(kx!, n * 784)), [n, 784]);
  const y = tf.oneHot(tf.tensor1d(randintArray(ky!, n, 0, 10), 'int32'), 10);
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 128, activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(2) }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const fit = async (): Promise<number> => {
    const h = await model.fit(x, y, { batchSize: 128, epochs: 1, shuffle: false, verbose: 0 });
    return h.history.loss![0] as number;
  };
  for (let i = 0; i < 2; i++) await fit(); // warm-up
  process.on('message', async (msg: { fits?: number }) => {
    if (msg.fits === undefined) {
      process.exit(0);
    }
    const wall: number[] = [];
    let loss = 0;
    const c0 = process.cpuUsage();
    for (let i = 0; i < msg.fits; i++) {
      const t0 = performance.now();
      loss = await fit();
      wall.push(performance.now() - t0);
    }
    const c = process.cpuUsage(c0);
    process.send!({ wall, cpu: (c.user + c.system) / 1000 / msg.fits, loss } satisfies Block);
  });
  process.send!({ ready: info });
}

function ask(c: ChildProcess, msg: object): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    c.once('message', (m) => resolve(m as Record<string, unknown>));
    c.send(msg);
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};

async function parent(): Promise<void> {
  const loadBefore = loadavg();
  const self = fileURLToPath(import.meta.url);
  const children = new Map<Mode, { proc: ChildProcess; info: unknown; wall: number[]; cpu: number[]; loss: number }>();
  for (const mode of ['plain', 'lopt'] as const) {
    const proc = fork(self, ['child', mode], { stdio: 'inherit' });
    const ready = await new Promise<unknown>((resolve) => proc.once('message', (m) => resolve((m as { ready: unknown }).ready)));
    children.set(mode, { proc, info: ready, wall: [], cpu: [], loss: 0 });
  }
  const order = [...children.values()];
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of r % 2 === 0 ? order : [...order].reverse()) {
      const b = (await ask(c.proc, { fits: FITS_PER_BLOCK })) as Block;
      c.wall.push(...b.wall.map((w) => w / BATCHES_PER_FIT));
      c.cpu.push(b.cpu / BATCHES_PER_FIT);
      c.loss = b.loss;
    }
  }
  for (const c of order) c.proc.send({});
  const [plain, lopt] = [children.get('plain')!, children.get('lopt')!];
  const result = {
    workload: 'tfjs-layers model.fit: MLP 784-128-10 (relu, softmax), batch 128, Adam, per batch',
    withoutLoptMs: median(plain.wall),
    withLoptMs: median(lopt.wall),
    speedup: median(plain.wall) / median(lopt.wall),
    withoutLoptCpuMs: median(plain.cpu),
    withLoptCpuMs: median(lopt.cpu),
    cpuSpeedup: median(plain.cpu) / median(lopt.cpu),
    finalLossWithout: plain.loss,
    finalLossWith: lopt.loss,
    batchesPerVariant: plain.wall.length * BATCHES_PER_FIT,
  };
  const report = {
    benchmark: '@lopt/backend layers-fit',
    date: new Date().toISOString(),
    loadAverage: { before: loadBefore, after: loadavg() },
    machine: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown' },
    backends: { without: plain.info, with: lopt.info },
    note: 'Two child processes, asked in turn (the order alternates every round; one runs at a time): "without" = plain @tensorflow/tfjs on tfjs-backend-wasm (no lopt code loaded), "with" = initBackend({ backend: "wasm" }). Same data, seeded initializers, same fit calls (one epoch of 4 batches of 128). Medians per batch of the fit wall time and of the process CPU time per block.',
    results: [result],
  };
  const outDir = join(dirname(self), '..', 'bench-results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'layers-fit.json'), `${JSON.stringify(report, null, 2)}\n`);
  const f = (v: number, d = 2): string => v.toFixed(d);
  console.log('| workload | without @lopt/backend (ms) | with (ms) | speed-up | CPU without / with (ms) | CPU speed-up | final losses |\n|---|---:|---:|---:|---:|---:|---:|');
  console.log(`| ${result.workload} | ${f(result.withoutLoptMs)} | ${f(result.withLoptMs)} | ${f(result.speedup)}x | ${f(result.withoutLoptCpuMs)} / ${f(result.withLoptCpuMs)} | ${f(result.cpuSpeedup)}x | ${f(plain.loss, 5)} / ${f(lopt.loss, 5)} |`);
  console.log(`load average before ${loadBefore.map((v) => v.toFixed(2)).join(' ')}, after ${loadavg().map((v) => v.toFixed(2)).join(' ')}; written ${join(outDir, 'layers-fit.json')}`);
}

if (process.argv[2] === 'child') await child(process.argv[3] as Mode);
else await parent();
