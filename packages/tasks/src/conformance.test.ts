// Every task of this package runs the @lopt/testkit task conformance suite.
import { describeTaskConformance } from '@lopt/testkit';
import {
  fixedDimQuadraticFamily,
  logQuadraticTask,
  logisticRegressionTask,
  mlpClassificationTask,
  noisyQuadraticFamily,
  quadraticFamily,
  quadraticTask,
  rastriginTask,
  rosenbrockTask,
  softmaxRegressionTask,
  sumQuadraticTask,
} from './index.js';
import { key } from '@lopt/core';

const LONG = { leakSteps: 500 };
describeTaskConformance('quadraticTask', () => quadraticTask({ dim: 10 }), LONG);
describeTaskConformance('sumQuadraticTask', () => sumQuadraticTask(), LONG);
describeTaskConformance('logQuadraticTask', () => logQuadraticTask(), { leakSteps: 100 });
describeTaskConformance('rosenbrockTask', () => rosenbrockTask({ dim: 4 }), { leakSteps: 100, finiteDifference: { step: 1e-3 } });
describeTaskConformance('rastriginTask', () => rastriginTask({ dim: 3 }), { leakSteps: 100, finiteDifference: { step: 1e-3 } });
describeTaskConformance('fixedDimQuadraticFamily task', () => {
  const f = fixedDimQuadraticFamily({ dim: 8, maxCondition: 10 });
  return f.task(f.sample(key(1)));
}, LONG);
describeTaskConformance('quadraticFamily task', () => {
  const f = quadraticFamily();
  return f.task(f.sample(key(2)));
});
// The noisy quadratic's gradient carries noise the loss value does not: no finite-difference check.
describeTaskConformance('noisyQuadraticFamily task', () => {
  const f = noisyQuadraticFamily({ dim: 6 });
  return f.task(f.sample(key(3)));
}, { ...LONG, finiteDifference: false, learningRate: 1e-4 });
describeTaskConformance('logisticRegressionTask', () => logisticRegressionTask(), LONG);
describeTaskConformance('softmaxRegressionTask', () => softmaxRegressionTask(), { leakSteps: 100 });
describeTaskConformance('mlpClassificationTask moons', () => mlpClassificationTask({ dataset: 'moons' }), { leakSteps: 100 });
describeTaskConformance('mlpClassificationTask spirals tanh', () => mlpClassificationTask({ dataset: 'spirals', activation: 'tanh' }));
describeTaskConformance('mlpClassificationTask blobs gelu', () => mlpClassificationTask({ dataset: 'blobs', activation: 'gelu' }));
