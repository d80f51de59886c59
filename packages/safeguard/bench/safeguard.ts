// Overhead of each guard per step, relative to the wrapped (learned) optimizer alone, at
// every = 1 and every = 10, on a 1M-parameter quadratic. Writes bench-results/safeguard.json
// and prints a markdown table. Ratios are measured within one run (interleaved rounds, best
// round kept), since absolute times on a shared machine are noisy.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lopt/backend';
import { advance, collectTensors, key, normal, treeMap, type OptState, type Optimizer, type TensorTree } from '@lopt/core';
import { sgd } from '@lopt/optimizers';
import { divergenceGuard, gradientNormResidual, guardStats, lossGuarded, safeguarded, type LossFn } from '../src/index.ts';
import { momentumMlpOptimizer } from '../test/fixtures.ts';

const N = Number(process.env.BENCH_PARAMS ?? 1_000_000);
const STEPS = Number(process.env.BENCH_STEPS ?? 40);

const backend = await initBackend({ backend: (process.env.LOPT_BACKEND as 'wasm' | 'cpu' | 'tensorflow' | undefined) ?? 'wasm' });

// f(w) = 0.5 sum lambda_i (w_i - c_i)^2, lambda in [1, 10].
const lambda = tf.keep(tf.add(1, tf.mul(9, tf.abs(tf.tanh(normal(key(1), [N]))))));
const center = tf.keep(normal(key(2), [N]));
const L = 10;
const lossFn: LossFn = (p) => tf.tidy(() => tf.mul(0.5, tf.sum(tf.mul(lambda, tf.square(tf.sub((p as { w: tf.Tensor }).w, center))))) as tf.Scalar);

/** A learnable-SGD-like learned optimizer: per-parameter step size (a meta-parameter). */
function learnedSgd(): Optimizer<TensorTree[]> {
  const lr = tf.keep(tf.fill([N], 0.5 / L));
  return {
    name: 'learned-sgd',
    init: (params) => ({ params, state: [], iteration: 0 }),
    update: (s, g) => ({ params: treeMap((p, gg) => tf.tidy(() => tf.sub(p, tf.mul(lr, gg as tf.Tensor))), s.params, g), state: [], iteration: s.iteration + 1 }),
  };
}

/** A per-parameter MLP learned optimizer (inputs: gradient, momentum; 8 tanh hidden units). */
function learnedMlp(): Optimizer<{ m: TensorTree }> {
  const mlp = { w1: tf.keep(tf.mul(0.1, normal(key(3), [2, 8]))) as tf.Tensor2D, w2: tf.keep(tf.mul(0.1, normal(key(4), [8, 1]))) as tf.Tensor2D };
  return momentumMlpOptimizer('learned-mlp', mlp, (p, g, out) => tf.sub(p, tf.add(tf.mul(0.5 / L, g), tf.mul(0.01, out))));
}

interface Row {
  learned: string;
  guard: string;
  every: number | null;
  updateMs: number;
  fullStepMs: number;
  updateRatio: number;
  fullStepRatio: number;
  lossEvalsPerStep: number;
  gradEvalsPerStep: number;
  residualEvalsPerStep: number;
  learnedFraction: number;
}

type Variant = { guard: string; every: number | null; build: (l: Optimizer<unknown>) => Optimizer<unknown> };
const fallback = (): Optimizer<unknown> => sgd({ learningRate: 1 / L }) as Optimizer<unknown>;
const variants: Variant[] = [{ guard: 'none (learned alone)', every: null, build: (l) => l }];
for (const every of [1, 10]) {
  variants.push(
    { guard: 'lossGuarded', every, build: (l) => lossGuarded(l, fallback(), { lossFn, every }) as Optimizer<unknown> },
    { guard: 'safeguarded', every, build: (l) => safeguarded(l, fallback(), { residualFn: gradientNormResidual(lossFn), every }) as Optimizer<unknown> },
    { guard: 'divergenceGuard', every, build: (l) => divergenceGuard(l, fallback(), { lossFn, every, maxLossIncrease: 0.5 }) as Optimizer<unknown> },
  );
}
// Between checks, 'taken' skips the non-leading branch's update (see AdvancePolicy).
variants.push({ guard: "lossGuarded, advance 'taken'", every: 10, build: (l) => lossGuarded(l, fallback(), { lossFn, every: 10, advance: 'taken' }) as Optimizer<unknown> });

const WINDOW = 10; // one check per window at every = 10
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/**
 * Steps all variants in lockstep (variant order rotates every step), so a burst of load from
 * other processes hits every variant alike; per window of 10 steps, ratio = variant time /
 * learned-alone time; the median over windows is reported. `full` adds the caller's work per
 * step (forward pass for ctx.loss and the gradient); otherwise only `advance` is timed.
 */
function measure(opts: Optimizer<unknown>[], full: boolean): { msPerStep: number[]; ratio: number[]; states: OptState<unknown>[] } {
  const states = opts.map((o) => o.init({ w: tf.clone(center) }));
  const times = opts.map(() => [] as number[]);
  for (let t = -3; t < STEPS; t++) {
    for (let k = 0; k < opts.length; k++) {
      const i = (k + Math.max(t, 0)) % opts.length;
      const opt = opts[i] as Optimizer<unknown>;
      const t0 = performance.now();
      const { value, grads } = tf.tidy(() => {
        const p = (states[i] as OptState<unknown>).params;
        const g = tf.mul(lambda, tf.sub((p as { w: tf.Tensor }).w, center)); // analytic gradient
        return { value: full ? lossFn(p, { iteration: t, branch: 'current', lookaheadStep: 0 }) : tf.scalar(0), grads: g };
      });
      if (!full) grads.dataSync();
      const t1 = performance.now();
      states[i] = advance(opt, states[i] as OptState<unknown>, { w: grads }, full ? { loss: value } : {});
      ((states[i] as OptState<unknown>).params as { w: tf.Tensor }).w.dataSync();
      const t2 = performance.now();
      tf.dispose([grads, value]);
      if (t >= 0) (times[i] as number[]).push(full ? t2 - t0 : t2 - t1);
    }
  }
  const windows = Math.floor(STEPS / WINDOW);
  const sum = (xs: number[], w: number): number => xs.slice(w * WINDOW, (w + 1) * WINDOW).reduce((a, b) => a + b, 0);
  const base = times[0] as number[];
  return {
    msPerStep: times.map((ts) => median(Array.from({ length: windows }, (_, w) => sum(ts, w) / WINDOW))),
    ratio: times.map((ts) => median(Array.from({ length: windows }, (_, w) => sum(ts, w) / sum(base, w)))),
    states,
  };
}

const rows: Row[] = [];
for (const [label, make] of [
  ['learned-sgd', learnedSgd],
  ['learned-mlp', learnedMlp],
] as const) {
  const opts = variants.map((v) => v.build(make() as Optimizer<unknown>));
  const upd = measure(opts, false);
  const stats = upd.states.map((s, i) => ((variants[i] as Variant).every === null ? undefined : guardStats(s as never)));
  tf.dispose(collectTensors(upd.states));
  const fullRun = measure(opts, true);
  tf.dispose(collectTensors(fullRun.states));
  variants.forEach((v, i) => {
    const st = stats[i];
    rows.push({
      learned: label,
      guard: v.guard,
      every: v.every,
      updateMs: upd.msPerStep[i] as number,
      fullStepMs: fullRun.msPerStep[i] as number,
      updateRatio: upd.ratio[i] as number,
      fullStepRatio: fullRun.ratio[i] as number,
      lossEvalsPerStep: st?.lossEvalsPerStep ?? 0,
      gradEvalsPerStep: st?.gradEvalsPerStep ?? 0,
      residualEvalsPerStep: st?.residualEvalsPerStep ?? 0,
      learnedFraction: st?.learnedFraction ?? 1,
    });
  });
}

const out = {
  benchmark: 'safeguard guard overhead per step',
  backend: backend,
  params: N,
  steps: STEPS,
  window: WINDOW,
  note: 'All variants step in lockstep; per 10-step window, ratio = variant time / learned-alone time; medians over windows. updateRatio: advance() only (gradients precomputed; divergenceGuard then gets no ctx.loss and evaluates the current loss itself); fullStepRatio: including the forward pass for ctx.loss and the gradient the caller computes each step. Evaluation counts per step come from the guards own counters (state.stats) of the update-only run.',
  date: new Date().toISOString(),
  rows,
};
const here = dirname(fileURLToPath(import.meta.url));
const file = join(here, '..', 'bench-results', 'safeguard.json');
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);

const f = (x: number, d = 2): string => x.toFixed(d);
console.log(`\nGuard overhead per step, ${N.toLocaleString('en-US')} params, backend ${backend.name}, ${STEPS} lockstep steps, medians over ${Math.floor(STEPS / WINDOW)} windows of ${WINDOW}\n`);
console.log('| learned | guard | every | update ms | x learned update | full step ms | x learned full step | extra fwd/step | extra bwd/step | residual evals/step | learned share |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.learned} | ${r.guard} | ${r.every ?? '-'} | ${f(r.updateMs)} | ${f(r.updateRatio)} | ${f(r.fullStepMs)} | ${f(r.fullStepRatio)} | ${f(r.lossEvalsPerStep)} | ${f(r.gradEvalsPerStep)} | ${f(r.residualEvalsPerStep)} | ${f(r.learnedFraction)} |`,
  );
}
console.log(`\nwrote ${file}`);
