// Convergence tests, part b (split in two files so vitest runs them in parallel).
// See test/convergence.ts for what is checked.
import { describe } from 'vitest';
import { CASES, convergenceTests } from '../test/convergence.js';

describe('convergence to the parabola and Rosenbrock minima (optax alias_test settings), part b', () => {
  convergenceTests(CASES.filter((_, i) => i % 2 === 1));
});
