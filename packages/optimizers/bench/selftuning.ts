// Per-step overhead of the self-tuning optimizers relative to the plain optimizer they wrap,
// at ~1M parameters on WASM: hypergradient(adam) with one and two levels (autodiff over
// lr + betas, and the closed form for lr only) and metaOptimize(adamw). Only the optimizer
// step is timed (gradients are precomputed trees, alternated so hypergradients are nonzero).
// Ratios come from one run (interleaved blocks, fastest block kept), since absolute times
// on a shared machine are noisy. Writes bench-results/selftuning.json and prints a markdown table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lopt/backend';
import { advance, collectTensors, foldIn, key, normal, treeSize, type OptState, type Optimizer, type TensorTree } from '@lopt/core';
import { adam, adamw, hypergradient, injectHyperparams, metaOptimize, sgd } from '../src/index.ts';

const STEPS = Number(process.env.BENCH_STEPS ?? 4);
const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 12);
const WARMUP = 3;

const backend = await initBackend({ backend: (process.env.LOPT_BACKEND as 'wasm' | 'cpu' | 'tensorflow' | undefined) ?? 'wasm' });

/** A 784-1024-192 MLP's parameter shapes: 1,000,640 parameters in 4 leaves. */
function tree(k: ReturnType<typeof key>, std: number): TensorTree {
  return {
    layer0: { w: normal(foldIn(k, 0), [784, 1024], { std }), b: normal(foldIn(k, 1), [1024], { std }) },
    layer1: { w: normal(foldIn(k, 2), [1024, 192], { std }), b: normal(foldIn(k, 3), [192], { std }) },
  };
}

const grads = [tree(key(11), 1e-2), tree(key(12), 1e-2)];

interface Case {
  readonly name: string;
  readonly baseline: string;
  readonly make: () => Optimizer<unknown>;
}

const cases: Case[] = [
  { name: 'adam', baseline: 'adam', make: () => adam({ learningRate: 1e-3 }) },
  // The inner step of hypergradient runs with tensor hyperparameters, i.e. the composed
  // (unfused) transformations: these rows separate that cost from the cost of tuning.
  { name: 'adam({ fused: false }) (composed ops)', baseline: 'adam', make: () => adam({ learningRate: 1e-3, fused: false }) },
  { name: 'injectHyperparams(adam) (tensor hyperparameters)', baseline: 'adam', make: () => injectHyperparams(adam)({ learningRate: 1e-3, beta1: 0.9, beta2: 0.999 }) },
  {
    name: 'hypergradient(adam), 1 level, lr+betas (closed form, default)',
    baseline: 'adam',
    make: () => hypergradient(adam({ learningRate: 1e-3 }), { hyperOptimizer: sgd({ learningRate: 1e-3 }) }),
  },
  {
    name: 'hypergradient(adam), 2 levels, lr+betas (closed form, default)',
    baseline: 'adam',
    make: () =>
      hypergradient(adam({ learningRate: 1e-3 }), {
        hyperOptimizer: hypergradient(sgd({ learningRate: 1e-3 }), { hyperOptimizer: sgd({ learningRate: 1e-4 }) }),
      }),
  },
  {
    name: 'hypergradient(adam), 1 level, lr+betas (autodiff)',
    baseline: 'adam',
    make: () => hypergradient(adam({ learningRate: 1e-3 }), { hyperOptimizer: sgd({ learningRate: 1e-3 }), method: 'autodiff' }),
  },
  {
    name: 'hypergradient(adam), 2 levels, lr+betas (autodiff)',
    baseline: 'adam',
    make: () =>
      hypergradient(adam({ learningRate: 1e-3 }), {
        method: 'autodiff',
        hyperOptimizer: hypergradient(sgd({ learningRate: 1e-3 }), { hyperOptimizer: sgd({ learningRate: 1e-4 }) }),
      }),
  },
  {
    name: 'hypergradient(adam), 1 level, lr only (closed form)',
    baseline: 'adam',
    make: () => hypergradient(adam({ learningRate: 1e-3 }), { hyperOptimizer: sgd({ learningRate: 1e-3 }), tune: ['learningRate'] }),
  },
  { name: 'adamw', baseline: 'adamw', make: () => adamw({ learningRate: 1e-3, weightDecay: 0.1 }) },
  { name: 'adamw({ fused: false }) (composed ops)', baseline: 'adamw', make: () => adamw({ learningRate: 1e-3, weightDecay: 0.1, fused: false }) },
  { name: 'metaOptimize(adamw), scalar, lion meta', baseline: 'adamw', make: () => metaOptimize(adamw({ learningRate: 1e-3, weightDecay: 0.1 })) },
  {
    name: 'metaOptimize(adamw), layer blocks, lion meta',
    baseline: 'adamw',
    make: () => metaOptimize(adamw({ learningRate: 1e-3, weightDecay: 0.1 }), { blocks: 'layer' }),
  },
  {
    name: 'metaOptimize(adamw), tensor blocks, adam meta',
    baseline: 'adamw',
    make: () => metaOptimize(adamw({ learningRate: 1e-3, weightDecay: 0.1 }), { blocks: 'tensor', metaOptimizer: 'adam' }),
  },
];

/**
 * All optimizers run side by side: after warm-up, BLOCKS rounds each time a block of STEPS
 * steps of every optimizer in turn, and the fastest block of each is kept. Interleaving
 * short blocks makes the ratios robust to the load of a shared machine.
 */
const params = cases.map(() => tree(key(1), 0.05));
let states: OptState<unknown>[] = cases.map((c, i) => c.make().init(params[i] as TensorTree));
const opts = cases.map((c) => c.make());
const sync = (s: OptState<unknown>) => collectTensors(s.params).forEach((t) => t.dataSync());
let step = 0;
for (let w = 0; w < WARMUP; w++, step++) states = states.map((s, i) => advance(opts[i] as Optimizer<unknown>, s, grads[step % 2] as TensorTree));
states.forEach(sync);
const best = new Map<string, number>();
const before = tf.memory().numTensors;
for (let b = 0; b < BLOCKS; b++) {
  cases.forEach((c, i) => {
    let s = states[i] as OptState<unknown>;
    const t0 = performance.now();
    for (let k = 0; k < STEPS; k++) s = advance(opts[i] as Optimizer<unknown>, s, grads[(step + k) % 2] as TensorTree);
    sync(s);
    const ms = (performance.now() - t0) / STEPS;
    states[i] = s;
    best.set(c.name, Math.min(best.get(c.name) ?? Infinity, ms));
  });
  step += STEPS;
}
const leaked = tf.memory().numTensors - before;
if (leaked !== 0) throw new Error(`the optimizers leaked ${leaked} tensors over ${BLOCKS * STEPS} steps`);
states.forEach((s) => tf.dispose(collectTensors([s.params, s.state])));

const composed = (baseline: string) => `${baseline}({ fused: false }) (composed ops)`;
const rows = cases.map((c) => {
  const ms = best.get(c.name) as number;
  const base = best.get(c.baseline) as number;
  const comp = best.get(composed(c.baseline)) as number;
  return {
    name: c.name,
    baseline: c.baseline,
    msPerStep: Number(ms.toFixed(2)),
    ratio: Number((ms / base).toFixed(2)),
    ratioToComposed: Number((ms / comp).toFixed(2)),
  };
});
const result = {
  benchmark: 'selftuning',
  backend: `${backend.name}${backend.simd ? ' (SIMD)' : ''}`,
  params: treeSize(grads[0] as TensorTree),
  stepsPerBlock: STEPS,
  blocks: BLOCKS,
  date: new Date().toISOString(),
  rows,
};
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results', 'selftuning.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

console.log(`\nSelf-tuning overhead per step, ${result.params.toLocaleString('en-US')} parameters, backend ${result.backend}, fastest of ${BLOCKS} interleaved blocks of ${STEPS} steps\n`);
console.log('| optimizer | ms/step | vs plain (fused kernel) | vs plain, composed ops |');
console.log('|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.name} | ${r.msPerStep.toFixed(2)} | ${r.ratio.toFixed(2)}x ${r.baseline} | ${r.ratioToComposed.toFixed(2)}x |`);
console.log(`\nwrote ${out}`);
