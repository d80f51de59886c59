// The shared optimizer conformance suite of @lopt/testkit, run on each guard.
import * as tf from '@tensorflow/tfjs-core';
import { treeLeaves, type Optimizer, type TensorTree } from '@lopt/core';
import { adam, sgd } from '@lopt/optimizers';
import { describeOptimizerConformance } from '@lopt/testkit';
import { divergenceGuard } from './divergenceGuard.js';
import { lossGuarded } from './lossGuarded.js';
import { gradientNormResidual } from './residual.js';
import { safeguarded } from './safeguarded.js';
import { randomMlpOptimizer } from '../test/fixtures.js';
import type { LossFn } from './types.js';

/** The loss the suite's gradients come from: sum((p - 0.5)^2) over all leaves. */
const lossFn: LossFn = (p: TensorTree) => tf.tidy(() => tf.addN(treeLeaves(p).map((x) => tf.sum(tf.square(tf.sub(x, 0.5))))) as tf.Scalar);

describeOptimizerConformance('lossGuarded', () => lossGuarded(randomMlpOptimizer(1), adam({ learningRate: 0.05 }), { lossFn, lookahead: 2 }) as Optimizer<unknown>, { leakSteps: 30 });
describeOptimizerConformance(
  'safeguarded',
  () => safeguarded(randomMlpOptimizer(2), sgd({ learningRate: 0.1 }), { residualFn: gradientNormResidual(lossFn), muUpdate: 'recentMax', advance: 'both' }) as Optimizer<unknown>,
  { leakSteps: 30 },
);
describeOptimizerConformance('divergenceGuard', () => divergenceGuard(randomMlpOptimizer(3), adam({ learningRate: 0.05 }), { lossFn, every: 2 }) as Optimizer<unknown>, { leakSteps: 30 });
