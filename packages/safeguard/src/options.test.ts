import { describe, expect, it } from 'vitest';
import { create } from '@lopt/core';
import { sgd } from '@lopt/optimizers';
import * as tf from '@tensorflow/tfjs-core';
import { divergenceGuard } from './divergenceGuard.js';
import { lossGuarded } from './lossGuarded.js';
import { registerAll } from './register.js';
import { safeguarded } from './safeguarded.js';

const lossFn = (p: unknown) => tf.sum(tf.square(p as tf.Tensor)) as tf.Scalar;

describe('guards refuse options they do not know (issue 14, item 8)', () => {
  it('each guard names the unknown key and lists the known ones; __proto__ is refused', () => {
    const a = sgd({ learningRate: 0.1 });
    const b = sgd({ learningRate: 0.01 });
    expect(() => lossGuarded(a, b, { lossFn, bogus: 1 } as never)).toThrow(/lossGuarded: unknown option 'bogus'\. Known options: lossFn, every, lookahead, advance, name\./);
    expect(() => divergenceGuard(a, b, { evry: 2 } as never)).toThrow(/divergenceGuard: unknown option 'evry'/);
    expect(() => safeguarded(a, b, { residualFn: lossFn, bogus: 1 } as never)).toThrow(/safeguarded: unknown option 'bogus'/);
    expect(() => lossGuarded(a, b, JSON.parse('{"constructor": 1}') as never)).toThrow(/'constructor' is not allowed/);
    // Known options still build a guard (control).
    expect(lossGuarded(a, b, { lossFn, every: 2 }).name).toMatch(/lossGuarded/);
  });

  it('through the registry, the optimizers to combine are not counted as guard options', () => {
    registerAll();
    const opt = create('optimizer', 'lossGuarded', { learned: sgd({ learningRate: 0.1 }), fallback: sgd({ learningRate: 0.01 }), lossFn });
    expect(opt.name).toMatch(/lossGuarded/);
    expect(() => create('optimizer', 'divergenceGuard', { opt: sgd({ learningRate: 0.1 }), fallback: sgd({ learningRate: 0.01 }), bogus: 1 })).toThrow(/unknown option 'bogus'/);
  });
});
