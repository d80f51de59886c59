import { describe, expect, it } from 'vitest';
import { LoptError, create, has } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { adam, adamw, registerAll, sgd } from '../index.js';
import { hypergradient } from './hypergradient.js';
import { metaOptimize } from './meta-optimize.js';
import { registerSelfTuning } from './register.js';
import { runQuadratic } from '../../test/selftuning-helpers.js';

describe('registerSelfTuning', () => {
  it('registers hypergradient (towers nest by name) and metaOptimize, idempotently', () => {
    registerAll();
    // registerAll includes the self-tuning entries.
    expect(has('optimizer', 'hypergradient') && has('optimizer', 'metaOptimize')).toBe(true);
    registerSelfTuning();
    registerSelfTuning();
    expect(has('optimizer', 'hypergradient') && has('optimizer', 'metaOptimize')).toBe(true);
    const byName = create('optimizer', 'hypergradient', {
      optimizer: 'adam',
      optimizerOptions: { learningRate: 0.05 },
      hyperOptimizer: 'hypergradient',
      hyperOptimizerOptions: { optimizer: 'sgd', optimizerOptions: { learningRate: 0.01 }, hyperOptimizer: 'sgd', hyperOptimizerOptions: { learningRate: 0.001 } },
    });
    const direct = hypergradient(adam({ learningRate: 0.05 }), {
      hyperOptimizer: hypergradient(sgd({ learningRate: 0.01 }), { hyperOptimizer: sgd({ learningRate: 0.001 }) }),
    });
    expectClose(runQuadratic(byName, 6), runQuadratic(direct, 6), { rtol: 0, atol: 0 });
    const mo = create('optimizer', 'metaOptimize', { base: 'adamw', baseOptions: { learningRate: 0.05, weightDecay: 0.1 }, blocks: 'tensor', metaStepSize: 0.01 });
    const moDirect = metaOptimize(adamw({ learningRate: 0.05, weightDecay: 0.1 }), { blocks: 'tensor', metaStepSize: 0.01 });
    expectClose(runQuadratic(mo, 6), runQuadratic(moDirect, 6), { rtol: 0, atol: 0 });
    expect(() => create('optimizer', 'hypergradient', { optimizer: 'adam' })).toThrow(LoptError);
    expect(() => create('optimizer', 'metaOptimize', { base: 'adamw', baseOptions: 3 })).toThrow(/baseOptions/);
  });
});
