// The README example (kept here so it is type-checked and can be run: npx tsx bench/readme-example.ts).
import { initBackend } from '@lopt/backend';
import { disposeTree, key } from '@lopt/core';
import { adam } from '@lopt/optimizers';
import { mlpLOpt } from '@lopt/learned';
import { fixedDimQuadraticFamily } from '@lopt/tasks';
import { constantTruncation, lOptTruncatedStep, metaTrain, truncatedPES } from '../src/index.ts';

await initBackend();
const learnedOptimizer = mlpLOpt({ hiddenSize: 8 });
const truncatedStep = lOptTruncatedStep({
  taskFamily: fixedDimQuadraticFamily({ dim: 8 }),
  learnedOptimizer,
  truncation: constantTruncation(50),
  numTasks: 8,
  randomInitialIterationOffset: 50, // desynchronize the resets
});
const { theta, history } = await metaTrain({
  learnedOptimizer,
  estimators: [truncatedPES({ truncatedStep, unrollLength: 10, std: 0.01 })],
  outerOptimizer: adam({ learningRate: 1e-2 }),
  steps: Number(process.env.STEPS ?? 100),
  key: key(0),
  onStep: (m) => {
    if (m.step % 20 === 0) console.log(`step ${m.step}: meta-loss ${m.meanLoss.toFixed(3)}, |g| ${m.gradNorm.toExponential(2)}`);
  },
});
console.log(`done: ${history.length} steps, ${(history.at(-1)!.stepsPerSecond * 60).toFixed(0)} outer steps/min`);
disposeTree(theta);
