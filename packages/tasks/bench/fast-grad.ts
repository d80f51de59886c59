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
import { ISSUE16_MODELS, interleave as interleaveRounds, loadLine, matMulRewriteToggle, reportHeader, variant, withPath, writeReport, type Stepper, type Variant, type VariantResult } from './bench-io.ts';
import { FAMILY_MODELS } from './family-paths.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const STEPS_PER_ROUND = 8;
const ONLY = process.env.BENCH_ONLY;

/** The variants interleaved for `ROUNDS` rounds of `STEPS_PER_ROUND` steps each. */
const interleave = (variants: readonly Variant[]): VariantResult[] => interleaveRounds(variants, { rounds: ROUNDS, steps: STEPS_PER_ROUND });

const loadBefore = loadavg();
const info = await initBackend({ backend: 'wasm' });
const rewrites = matMulRewriteToggle();
const setRewrites = rewrites.set;
const rows: Record<string, number | string>[] = [];
for (const m of ONLY === 'families' ? [] : ISSUE16_MODELS) {
  const variants = ([['task', true], ['fused', true], ['fast', true], ['autodiff', true], ['autodiff', false]] as const).map(([path, on]) =>
    variant(adamStepper(withPath(m, path), { learningRate: 1e-3 }), () => setRewrites(on)),
  );
  const [task, fused, fast, auto, before] = interleave(variants) as [VariantResult, VariantResult, VariantResult, VariantResult, VariantResult];
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
function gradStepper(task: Task): Stepper {
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
  const variants = paths.map((path) => variant(adamStepper(m.make(path), { learningRate: 1e-3 })));
  const byPath = new Map(interleave(variants).map((row, i) => [paths[i]!, row]));
  const [task, auto] = [byPath.get('task')!, byPath.get('autodiff')!];
  const row: Record<string, number | string> = { model: m.name, family: m.family, autodiffMs: auto.ms, taskMs: task.ms, taskOverAutodiff: auto.ms / task.ms };
  for (const [path, r] of byPath) if (path !== 'task' && path !== 'autodiff') row[`${path}Ms`] = r.ms;
  for (const [path, r] of byPath) row[`finalLoss_${path}`] = r.loss;
  // the gradient alone (fixed parameters and batch: tf.valueAndGrads and the loss read-back), interleaved the same way
  const grads = interleave(paths.map((path) => variant(gradStepper(m.make(path)))));
  paths.forEach((path, i) => (row[`gradOnly_${path}Ms`] = grads[i]!.ms));
  row.gradOnlyTaskOverAutodiff = (row.gradOnly_autodiffMs as number) / (row.gradOnly_taskMs as number);
  familyRows.push({ ...row, stepsPerVariant: variants[0]!.times.length });
}

const report = {
  ...reportHeader('@lopt/tasks fast-grad', loadBefore, { name: info.name, simd: info.simd, threads: info.threads }),
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
console.log(`\n${loadLine(loadBefore)}`);
console.log(`written: ${out}`);
