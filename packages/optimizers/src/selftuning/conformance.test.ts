// The optimizer conformance suite of @lopt/testkit (init, shapes, purity, leaks,
// bit-exact checkpoint resume, mismatched trees) on every self-tuning configuration.
import { describeOptimizerConformance } from '@lopt/testkit';
import { adam, adamw, injectHyperparams, lion, rmsprop, sgd } from '../index.js';
import { hypergradient } from './hypergradient.js';
import { metaOptimize } from './meta-optimize.js';

const fast = { leakSteps: 30, resumeSteps: 6 };

describeOptimizerConformance('hypergradient(adam) closed-form lr+betas', () => hypergradient(adam({ learningRate: 1e-2 }), { hyperOptimizer: sgd({ learningRate: 1e-3 }) }), fast);
describeOptimizerConformance(
  'hypergradient(injected adamw) autodiff lr+betas+weightDecay',
  () =>
    hypergradient(injectHyperparams(adamw)({ learningRate: 1e-2, beta1: 0.9, beta2: 0.999, weightDecay: 1e-2, epsilonRoot: 1e-16 }), {
      hyperOptimizer: adam({ learningRate: 1e-3 }),
      tune: ['learningRate', 'beta1', 'beta2', 'weightDecay'],
    }),
  fast,
);
describeOptimizerConformance('hypergradient(sgd) closed form, trajectory 4 rows', () => hypergradient(sgd({ learningRate: 1e-2 }), { hyperOptimizer: adam({ learningRate: 1e-2 }), trajectoryLength: 4 }), fast);
describeOptimizerConformance(
  'two-level tower hypergradient(adam, hypergradient(sgd, sgd))',
  () =>
    hypergradient(adam({ learningRate: 1e-2 }), {
      hyperOptimizer: hypergradient(sgd({ learningRate: 1e-3 }), { hyperOptimizer: sgd({ learningRate: 1e-4 }) }),
    }),
  fast,
);
describeOptimizerConformance('metaOptimize(adamw) lion meta, layer blocks', () => metaOptimize(adamw({ learningRate: 1e-2, weightDecay: 0.1 }), { metaStepSize: 1e-2, blocks: 'layer' }), fast);
describeOptimizerConformance('metaOptimize(lion) adam meta, tensor blocks', () => metaOptimize(lion({ learningRate: 1e-3 }), { metaOptimizer: 'adam', blocks: 'tensor' }), fast);
describeOptimizerConformance('metaOptimize(rmsprop) rmsprop meta', () => metaOptimize(rmsprop({ learningRate: 1e-3 }), { metaOptimizer: 'rmsprop' }), fast);
describeOptimizerConformance('metaOptimize(sgd momentum) fixed', () => metaOptimize(sgd({ learningRate: 1e-2, momentum: 0.9 }), { metaOptimizer: 'fixed' }), fast);
