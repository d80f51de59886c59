// Benchmark: PES with 8 tasks on an MNIST MLP family, on WASM.
// Writes bench-results/estimators.json. Run: pnpm bench (in packages/estimators).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lopt/backend';
import { advance, disposeReplaced, disposeTree, foldIn, key as makeKey, treeFlatten, treeUnflatten, type Optimizer, type TensorTree } from '@lopt/core';
import { adafacMlpLOpt } from '@lopt/learned';
import { adam } from '@lopt/optimizers';
import { imageMlpFamily } from '@lopt/tasks';
import { emptyUnrollTimings, lOptTruncatedStep, logUniformTruncation, metaTrain, truncatedPES } from '../src/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const NUM_TASKS = 8;
const UNROLL = 10;
const WARMUP = 2;
const ESTIMATES = Number(process.env.BENCH_ESTIMATES ?? 12);
const META_STEPS = Number(process.env.BENCH_META_STEPS ?? 8);

const backend = await initBackend({ backend: 'wasm' });
// A small slice of learned_optimization's image-MLP family on MNIST: widths 16-64, up to 2
// hidden layers, 8x8 to 14x14 images, batches of 16-64.
const family = imageMlpFamily({ hiddenRange: [16, 64], maxLayers: 2, imageSizeRange: [8, 14], batchSizeRange: [16, 64] });
const lopt = adafacMlpLOpt();
const timings = emptyUnrollTimings();
const step = lOptTruncatedStep({
  taskFamily: family,
  learnedOptimizer: lopt,
  truncation: logUniformTruncation(50, 200),
  numTasks: NUM_TASKS,
  randomInitialIterationOffset: 50,
  timings,
});
const pes = truncatedPES({ truncatedStep: step, unrollLength: UNROLL, std: 0.01 });
const k = makeKey(0);
const theta = lopt.init(foldIn(k, 0));
let ws = pes.init(theta, foldIn(k, 1));

const now = () => performance.now();
for (let i = 0; i < WARMUP; i++) {
  const r = pes.estimate(theta, ws, foldIn(k, 100 + i));
  disposeTree(r.grad);
  disposeReplaced(ws, r.state);
  ws = r.state;
}
Object.assign(timings, emptyUnrollTimings());
const t0 = now();
for (let i = 0; i < ESTIMATES; i++) {
  const r = pes.estimate(theta, ws, foldIn(k, 200 + i));
  disposeTree(r.grad);
  disposeReplaced(ws, r.state);
  ws = r.state;
}
const total = now() - t0;
const innerSteps = ESTIMATES * 2 * NUM_TASKS * UNROLL;
const bookkeeping = total - timings.unroll;
const other = timings.unroll - timings.taskGradient - timings.optimizerUpdate;
const measured = { ...timings };

// References in the same run, on the tasks the PES workers hold now: plain training steps
// (task gradient + update) with Adam and with the same learned optimizer, no estimator.
const cfgs = (ws.pos as { tasks: { cfg: unknown }[] }).tasks.map((t) => t.cfg);
function plainSteps(makeOpt: () => Optimizer<unknown>, n: number): { ms: number; steps: number } {
  const tasks = cfgs.map((c) => family.task(c as never));
  const opts = tasks.map(() => makeOpt());
  const states = tasks.map((t, i) => opts[i]!.init(t.init(foldIn(k, 50 + i)), { numSteps: 1000, key: foldIn(k, 60 + i) }));
  const start = now();
  for (let s = 0; s < n; s++) {
    tasks.forEach((task, i) => {
      const batch = task.datasets?.train.sample(foldIn(foldIn(k, 10), s * NUM_TASKS + i));
      const { leaves, structure } = treeFlatten(states[i]!.params);
      const { value, grads } = tf.valueAndGrads((...ls: tf.Tensor[]) => task.loss(treeUnflatten(structure, ls), batch as TensorTree))(leaves);
      states[i] = advance(opts[i]!, states[i]!, treeUnflatten(structure, grads), { loss: value, key: foldIn(k, 70 + s) });
      value.dispose();
      disposeTree(grads);
      if (batch !== undefined) disposeTree(batch as TensorTree);
    });
  }
  const ms = now() - start;
  states.forEach((st) => disposeReplaced(st, undefined));
  return { ms, steps: n * NUM_TASKS };
}
const makeAdam = () => adam() as Optimizer<unknown>;
const makeLopt = () => lopt.optimizer(theta, { numSteps: 1000 }) as Optimizer<unknown>;
plainSteps(makeAdam, 2);
const plain = plainSteps(makeAdam, 20);
plainSteps(makeLopt, 2);
const plainLopt = plainSteps(makeLopt, 20);

// Meta-training throughput (estimate + outer Adam update + metrics).
disposeReplaced(ws, undefined);
const meta = await metaTrain({ learnedOptimizer: lopt, estimators: [pes], steps: META_STEPS, key: foldIn(k, 3), theta });
const stepsPerSecond = meta.history[meta.history.length - 1]?.stepsPerSecond ?? 0;
disposeTree([meta.theta, theta]);

const result = {
  benchmark: 'truncatedPES on imageMlpFamily (MNIST), adafacMlpLOpt',
  backend: backend,
  date: new Date().toISOString(),
  config: { numTasks: NUM_TASKS, unrollLength: UNROLL, estimates: ESTIMATES, truncation: 'logUniform(50, 200)', family: 'imageMlpFamily hidden [16,64] x <=2 layers, image 8..14, batch 16..64' },
  pes: {
    innerStepsPerSecond: innerSteps / (total / 1000),
    msPerEstimate: total / ESTIMATES,
    split: {
      taskGradientFraction: measured.taskGradient / total,
      optimizerUpdateFraction: measured.optimizerUpdate / total,
      resetsAndMetaLossAndOtherUnrollFraction: other / total,
      estimatorBookkeepingFraction: bookkeeping / total,
    },
    ms: { total, unroll: measured.unroll, taskGradient: measured.taskGradient, optimizerUpdate: measured.optimizerUpdate, reset: measured.reset, bookkeeping },
    trainSteps: measured.trainSteps,
  },
  plainTrainingSameTasks: {
    adamStepsPerSecond: plain.steps / (plain.ms / 1000),
    learnedOptimizerStepsPerSecond: plainLopt.steps / (plainLopt.ms / 1000),
  },
  ratios: {
    pesInnerStepVsPlainLearnedOptimizerStep: (total / innerSteps) / (plainLopt.ms / plainLopt.steps),
    plainLearnedOptimizerStepVsAdamStep: (plainLopt.ms / plainLopt.steps) / (plain.ms / plain.steps),
  },
  metaTrain: { outerStepsPerMinute: stepsPerSecond * 60, steps: META_STEPS },
};
const out = join(here, '..', 'bench-results', 'estimators.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
