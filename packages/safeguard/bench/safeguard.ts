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

const N = Number(process.env.BENCH_PARAMS ?? 1_000_000);
const STEPS = Number(process.env.BENCH_STEPS ?? 30);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

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
  const w1 = tf.keep(tf.mul(0.1, normal(key(3), [2, 8])));
  const w2 = tf.keep(tf.mul(0.1, normal(key(4), [8, 1])));
  return {
    name: 'learned-mlp',
    init: (params) => ({ params, state: { m: treeMap((p) => tf.zerosLike(p), params) }, iteration: 0 }),
    update: (s, g) =>
      tf.tidy(() => {
        const m = treeMap((m0, gg) => tf.add(tf.mul(0.9, m0), tf.mul(0.1, gg as tf.Tensor)), s.state.m, g);
        const params = treeMap(
          (p, gg, mm) => {
            const feats = tf.stack([tf.reshape(gg as tf.Tensor, [-1]), tf.reshape(mm as tf.Tensor, [-1])], 1);
            const out = tf.reshape(tf.matMul(tf.tanh(tf.matMul(feats, w1)), w2), p.shape);
            return tf.sub(p, tf.add(tf.mul(0.5 / L, gg as tf.Tensor), tf.mul(0.01, out)));
          },
          s.params,
          g,
          m,
        );
        return { params, state: { m }, iteration: s.iteration + 1 };
      }),
  };
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

/** Mean ms per update (grads precomputed) and per full training step (grads + update). */
function time<S>(opt: Optimizer<S>): { updateMs: number; fullMs: number; state: OptState<S> } {
  let state = opt.init({ w: tf.clone(center) });
  const run = (withGrads: boolean): number => {
    let total = 0;
    for (let t = -3; t < STEPS; t++) {
      const t0 = performance.now();
      const { value, grads } = tf.tidy(() => {
        const w = (state.params as { w: tf.Tensor }).w;
        // Analytic gradient lambda (w - c); the full step also pays a forward pass for ctx.loss.
        const g = tf.mul(lambda, tf.sub(w, center));
        return { value: withGrads ? lossFn(state.params, { iteration: t, branch: 'current', lookaheadStep: 0 }) : tf.scalar(0), grads: g };
      });
      if (!withGrads) {
        value.dataSync();
        grads.dataSync();
      }
      const t1 = performance.now();
      state = advance(opt, state, { w: grads }, withGrads ? { loss: value } : {});
      (state.params as { w: tf.Tensor }).w.dataSync();
      const t2 = performance.now();
      tf.dispose([grads, value]);
      if (t >= 0) total += withGrads ? t2 - t0 : t2 - t1;
    }
    return total / STEPS;
  };
  const updateMs = run(false);
  const fullMs = run(true);
  return { updateMs, fullMs, state };
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

const rows: Row[] = [];
for (const [label, make] of [
  ['learned-sgd', learnedSgd],
  ['learned-mlp', learnedMlp],
] as const) {
  const best = new Map<string, { updateMs: number; fullMs: number; stats: ReturnType<typeof guardStats> | undefined }>();
  // Round 0 warms up (JIT, kernel caches) and is discarded.
  for (let round = 0; round <= ROUNDS; round++) {
    for (const v of variants) {
      const id = `${v.guard}@${v.every}`;
      const { updateMs, fullMs, state } = time(v.build(make() as Optimizer<unknown>));
      const stats = v.every === null ? undefined : guardStats(state as never);
      tf.dispose(collectTensors([state.params, state.state]));
      if (round === 0) continue;
      const prev = best.get(id);
      best.set(id, { updateMs: Math.min(updateMs, prev?.updateMs ?? Infinity), fullMs: Math.min(fullMs, prev?.fullMs ?? Infinity), stats });
    }
  }
  const base = best.get('none (learned alone)@null') as { updateMs: number; fullMs: number };
  for (const v of variants) {
    const b = best.get(`${v.guard}@${v.every}`) as { updateMs: number; fullMs: number; stats: ReturnType<typeof guardStats> | undefined };
    rows.push({
      learned: label,
      guard: v.guard,
      every: v.every,
      updateMs: b.updateMs,
      fullStepMs: b.fullMs,
      updateRatio: b.updateMs / base.updateMs,
      fullStepRatio: b.fullMs / base.fullMs,
      lossEvalsPerStep: b.stats?.lossEvalsPerStep ?? 0,
      gradEvalsPerStep: b.stats?.gradEvalsPerStep ?? 0,
      residualEvalsPerStep: b.stats?.residualEvalsPerStep ?? 0,
      learnedFraction: b.stats?.learnedFraction ?? 1,
    });
  }
}

const out = {
  benchmark: 'safeguard guard overhead per step',
  backend: backend,
  params: N,
  steps: STEPS,
  rounds: ROUNDS,
  note: 'updateRatio: guarded update / learned update alone (gradients precomputed); fullStepRatio: including the forward pass and gradient the caller computes each step. Extra evaluations per step are the guards own counters (state.stats) averaged over all steps of the run.',
  date: new Date().toISOString(),
  rows,
};
const here = dirname(fileURLToPath(import.meta.url));
const file = join(here, '..', 'bench-results', 'safeguard.json');
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);

const f = (x: number, d = 2): string => x.toFixed(d);
console.log(`\nGuard overhead per step, ${N.toLocaleString('en-US')} params, backend ${JSON.stringify(backend)}, ${STEPS} steps x best of ${ROUNDS} rounds\n`);
console.log('| learned | guard | every | update ms | x learned update | full step ms | x learned full step | extra fwd/step | extra bwd/step | residual evals/step | learned share |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.learned} | ${r.guard} | ${r.every ?? '-'} | ${f(r.updateMs)} | ${f(r.updateRatio)} | ${f(r.fullStepMs)} | ${f(r.fullStepRatio)} | ${f(r.lossEvalsPerStep)} | ${f(r.gradEvalsPerStep)} | ${f(r.residualEvalsPerStep)} | ${f(r.learnedFraction)} |`,
  );
}
console.log(`\nwrote ${file}`);
