// The test a new estimator needs: the conformance suite on the quadratic test problem,
// with the exact gradient it should estimate computed in float64.
import { describeEstimatorConformance } from '@lopt/testkit';
import { gaussianExpectation } from '../../test/test-utils.js';
import { learnableSgdQuadratic } from '../../test/problems/quadratic-sgd.js';
import { noHysteresisES } from './no-hysteresis-es.js';

const T = 10; // one truncation = the whole episode, so ES is unbiased for the smoothed loss
const THETA = Math.log(0.2);
const STD = 0.05;
const reference = learnableSgdQuadratic({ numTasks: 1, horizon: T }).reference;
// d/dtheta of the mean loss over the episode, Gaussian-smoothed at STD (Gauss-Hermite).
const expected = gaussianExpectation(1, STD, 12, ([e]) => {
  const { dL } = reference(new Array(T).fill(THETA + (e as number)));
  return dL.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0) / T;
});

describeEstimatorConformance('noHysteresisES (template)', {
  setup: () => {
    const problem = learnableSgdQuadratic({ numTasks: 192, horizon: T });
    return { estimator: noHysteresisES({ truncatedStep: problem.truncatedStep, unrollLength: T, std: STD }), theta: problem.theta(THETA) };
  },
  expectedGradient: [expected],
});
