// lopt's inner training step (sample, tf.valueAndGrads, Adam through advance, read the loss) on
// image-MLP tasks, five ways interleaved in one process (the order rotates every round):
// the task as it is (its loss picks the path: the fused kernel for small models), the fused
// loss-and-gradient kernel, the loss's hand-derived backward pass as tfjs ops, tfjs autodiff
// (all with @lopt/backend's matmul rewrites), and autodiff without them (before issue 16).
// Then the other families with hand-derived gradients (conv, autoencoder, quadratics, logistic
// regression; bench/family-paths.ts), two ways interleaved: autodiff vs the task as shipped.
// Run: pnpm bench:fastgrad (in this package). Writes bench-results/fast-grad.json, prints tables.
// BENCH_ONLY=mlp or BENCH_ONLY=families runs one section (the JSON then holds only that one).
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lopt/backend';
import { disposeTree, key, treeFlatten, treeLeaves, treeUnflatten, type Task, type TensorTree } from '@lopt/core';
import { adamStepper } from '../src/test-helpers.ts';
import { machine, matMulRewriteToggle, median, withPath, writeReport } from './bench-io.ts';
import { FAMILY_MODELS } from './family-paths.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const STEPS_PER_ROUND = 8;
const ONLY = process.env.BENCH_ONLY;
const MODELS = [
  { name: 'MLP 784-128-10, batch 128', imageSize: 28, hidden: [128], batchSize: 128 },
  { name: 'MLP 64-32-10, batch 64', imageSize: 8, hidden: [32], batchSize: 64 },
  { name: 'softmax 64-10, batch 64', imageSize: 8, hidden: [], batchSize: 64 },
] as const;

type Row = { ms: number; loss: number };
type Variant = { stepper: { step: () => number; dispose: () => void }; before?: () => void; times: number[]; loss: number };

/** Warms up, then runs `ROUNDS` rounds of `STEPS_PER_ROUND` steps per variant, rotating the order each round; disposes the steppers. */
function interleave(variants: Variant[]): Row[] {
  for (const v of variants) {
    v.before?.();
    for (let i = 0; i < 3; i++) v.stepper.step(); // warm-up
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of [...variants.slice(r % variants.length), ...variants.slice(0, r % variants.length)]) {
      v.before?.();
      for (let s = 0; s < STEPS_PER_ROUND; s++) {
        const t0 = performance.now();
        v.loss = v.stepper.step();
        v.times.push(performance.now() - t0);
      }
    }
  }
  for (const v of variants) v.stepper.dispose();
  return variants.map((v) => ({ ms: median(v.times), loss: v.loss }));
}
const loadBefore = loadavg();
const info = await initBackend({ backend: 'wasm' });
const rewrites = matMulRewriteToggle();
const setRewrites = rewrites.set;
const rows: Record<string, number | string>[] = [];
for (const m of ONLY === 'families' ? [] : MODELS) {
  const variants = ([['task', true], ['fused', true], ['fast', true], ['autodiff', true], ['autodiff', false]] as const).map(([path, on]) => ({
    before: () => setRewrites(on),
    stepper: adamStepper(withPath(m, path), { learningRate: 1e-3 }),
    times: [] as number[],
    loss: 0,
  }));
  const [task, fused, fast, auto, before] = interleave(variants) as [Row, Row, Row, Row, Row];
  setRewrites(true);
  rows.push({
    model: m.name,
    beforeMs: before.ms,
    autodiffMs: auto.ms,
    fastMs: fast.ms,
    fusedMs: fused.ms,
    taskMs: task.ms,
    fastOverAutodiff: auto.ms / fast.ms,
    fusedOverAutodiff: auto.ms / fused.ms,
    nowOverBefore: before.ms / task.ms,
    finalLossBefore: before.loss,
    finalLossAutodiff: auto.loss,
    finalLossFast: fast.loss,
    finalLossFused: fused.loss,
    finalLossTask: task.loss,
    stepsPerVariant: variants[0]!.times.length,
  });
}

/** One gradient of `task` per step on fixed initial parameters and one fixed batch (no optimizer, no sampling). */
function gradStepper(task: Task): { step: () => number; dispose: () => void } {
  const params = task.init(key(0));
  const { structure } = treeFlatten(params);
  const leaves = treeLeaves(params);
  const batch = (task.datasets ? task.datasets.train.sample(key(1)) : undefined) as TensorTree;
  const step = (): number => {
    const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch))(leaves);
    const loss = value.dataSync()[0] as number;
    tf.dispose([value, ...grads]);
    return loss;
  };
  return { step, dispose: () => disposeTree(batch === undefined ? params : [params, batch]) };
}

const familyRows: Record<string, number | string>[] = [];
for (const m of ONLY === 'mlp' ? [] : FAMILY_MODELS) {
  const paths = m.paths ?? (['task', 'autodiff'] as const);
  const variants = paths.map((path) => ({ stepper: adamStepper(m.make(path), { learningRate: 1e-3 }), times: [] as number[], loss: 0 }));
  const byPath = new Map(interleave(variants).map((row, i) => [paths[i]!, row]));
  const [task, auto] = [byPath.get('task')!, byPath.get('autodiff')!];
  const row: Record<string, number | string> = { model: m.name, family: m.family, autodiffMs: auto.ms, taskMs: task.ms, taskOverAutodiff: auto.ms / task.ms };
  for (const [path, r] of byPath) if (path !== 'task' && path !== 'autodiff') row[`${path}Ms`] = r.ms;
  for (const [path, r] of byPath) row[`finalLoss_${path}`] = r.loss;
  // the gradient alone (fixed parameters and batch: tf.valueAndGrads and the loss read-back), interleaved the same way
  const grads = interleave(paths.map((path) => ({ stepper: gradStepper(m.make(path)), times: [] as number[], loss: 0 })));
  paths.forEach((path, i) => (row[`gradOnly_${path}Ms`] = grads[i]!.ms));
  row.gradOnlyTaskOverAutodiff = (row.gradOnly_autodiffMs as number) / (row.gradOnly_taskMs as number);
  familyRows.push({ ...row, stepsPerVariant: variants[0]!.times.length });
}

const report = {
  benchmark: '@lopt/tasks fast-grad',
  date: new Date().toISOString(),
  loadAverage: { before: loadBefore, after: loadavg() },
  machine: machine(),
  backend: { name: info.name, simd: info.simd, threads: info.threads },
  note: 'Medians over interleaved rounds; all variants train from the same initial parameters on the same batches, so their final losses agree to float32 rounding. before = autodiff with the matmul rewrites off (as before issue 16); now = the task as shipped (its loss picks the fused kernel for small models, the hand-derived tfjs-op backward pass for large ones), rewrites on. The optimizer is the test-helper Adam (composed tfjs ops) in every variant.',
  results: rows,
  familiesNote: 'families: the other task families with hand-derived gradients; autodiff = the loss forced onto the autodiff path, task = the task as shipped (under one tape: the hand-derived backward pass; for the autoencoder up to 1 MFLOP/example the fused kernel), fast / fused = forced onto the hand-derived tfjs ops / the fused kernel; gradOnly_* = the gradient alone (tf.valueAndGrads and the loss read-back on fixed parameters and one fixed batch, no optimizer, no sampling). Interleaved, same initial parameters and batches; matmul rewrites on.',
  families: familyRows,
};
const out = writeReport('fast-grad', report);
const f = (v: number | string | undefined, d = 3): string => (v as number).toFixed(d);
if (rows.length > 0) console.log('| model | before: autodiff, rewrites off (ms) | autodiff (ms) | hand-derived ops (ms) | fused kernel (ms) | now: task as shipped (ms) | now vs before | final losses (before / autodiff / ops / fused / task) |');
if (rows.length > 0) console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.model} | ${f(r.beforeMs)} | ${f(r.autodiffMs)} | ${f(r.fastMs)} | ${f(r.fusedMs)} | ${f(r.taskMs)} | ${f(r.nowOverBefore, 2)}x | ${[r.finalLossBefore, r.finalLossAutodiff, r.finalLossFast, r.finalLossFused, r.finalLossTask].map((v) => f(v, 5)).join(' / ')} |`);
}
console.log('\n| model | autodiff (ms) | hand-derived ops (ms) | fused kernel (ms) | task as shipped (ms) | task vs autodiff | gradient alone: autodiff / task (ms) | gradient alone: task vs autodiff | final losses (autodiff / task) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
const opt = (v: number | string | undefined): string => (v === undefined ? '' : f(v));
for (const r of familyRows) {
  const gradOnly = `${f(r.gradOnly_autodiffMs)} / ${f(r.gradOnly_taskMs)} | ${f(r.gradOnlyTaskOverAutodiff, 2)}x`;
  console.log(`| ${r.model} | ${f(r.autodiffMs)} | ${opt(r.fastMs)} | ${opt(r.fusedMs)} | ${f(r.taskMs)} | ${f(r.taskOverAutodiff, 2)}x | ${gradOnly} | ${f(r.finalLoss_autodiff, 5)} / ${f(r.finalLoss_task, 5)} |`);
}
console.log(`\nload average before ${loadBefore.map((v) => v.toFixed(2)).join(' ')}, after ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
console.log(`written: ${out}`);
