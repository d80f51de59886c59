import * as tf from '@tensorflow/tfjs-core';
import {
  advance,
  collectTensors,
  create,
  deserializeTree,
  disposeTree,
  list,
  serializeTree,
  treeFlatten,
  treeUnflatten,
  type OptState,
  type Optimizer,
  type TensorTree,
} from '@lopt/core';
import { adam, sgd } from '@lopt/optimizers';
import { expectTreeClose, leakCheck } from '@lopt/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { divergenceGuard } from './divergenceGuard.js';
import { lossGuarded } from './lossGuarded.js';
import { registerAll } from './register.js';
import { gradientNormResidual } from './residual.js';
import { safeguarded } from './safeguarded.js';
import { guardStats } from './stats.js';
import { divergingSgd, quadratic, randomMlpOptimizer, values } from '../test/fixtures.js';
import type { LossFn } from './types.js';

const free = (...v: unknown[]): void => tf.dispose(collectTensors(v));
const p = quadratic(5, 10, 2);

/** Each guard, built around a loss callback that the test may poison. */
const builders: Record<string, (lossFn: LossFn) => Optimizer<unknown>> = {
  lossGuarded: (lossFn) => lossGuarded(divergingSgd(p.L), adam({ learningRate: 0.1 }), { lossFn, lookahead: 2 }) as Optimizer<unknown>,
  'lossGuarded every 3': (lossFn) => lossGuarded(divergingSgd(p.L), sgd({ learningRate: 1 / p.L }), { lossFn, every: 3, advance: 'taken' }) as Optimizer<unknown>,
  safeguarded: (lossFn) =>
    safeguarded(divergingSgd(p.L), sgd({ learningRate: 1 / p.L }), { residualFn: gradientNormResidual(lossFn), mu0: 100 }) as Optimizer<unknown>,
  'safeguarded both every 2': (lossFn) =>
    safeguarded(randomMlpOptimizer(3), sgd({ learningRate: 1 / p.L }), { residualFn: gradientNormResidual(lossFn), mu0: 100, every: 2, advance: 'both', muUpdate: 'recentMax' }) as Optimizer<unknown>,
  divergenceGuard: (lossFn) => divergenceGuard(divergingSgd(p.L), adam({ learningRate: 0.1 }), { lossFn }) as Optimizer<unknown>,
  // Without a loss test a finite-but-diverging optimizer is not caught (by design), so this one is sane.
  'divergenceGuard no lossFn': () => divergenceGuard(divergingSgd(p.L, 0.5), sgd({ learningRate: 1 / p.L }), { advance: 'both' }) as Optimizer<unknown>,
};

type Kind = 'nan-grads' | 'inf-grads' | 'one-nan-element' | 'nan-ctx-loss' | 'nan-lossFn';

/** One step of training on `p` with optional poisoning; returns the new state. */
function poisonedStep(opt: Optimizer<unknown>, state: OptState<unknown>, t: number, kind: Kind | undefined): OptState<unknown> {
  const { leaves, structure } = treeFlatten(state.params);
  const { value, grads: gl } = tf.valueAndGrads((...xs: tf.Tensor[]) => p.lossFn(treeUnflatten(structure, xs), { iteration: t, branch: 'current', lookaheadStep: 0 }))(leaves);
  let grads = treeUnflatten(structure, gl);
  let loss = value;
  if (kind === 'nan-grads' || kind === 'inf-grads' || kind === 'one-nan-element') {
    const bad = tf.tidy(() => {
      const w = (grads as { w: tf.Tensor }).w;
      if (kind === 'one-nan-element') return tf.where(tf.equal(tf.range(0, w.size), 2), tf.fill(w.shape, Number.NaN), w);
      return tf.fill(w.shape, kind === 'nan-grads' ? Number.NaN : Number.POSITIVE_INFINITY);
    });
    disposeTree(grads);
    grads = { w: bad };
  }
  if (kind === 'nan-ctx-loss') {
    loss = tf.scalar(Number.NaN);
    value.dispose();
  }
  const next = advance(opt, state, grads, { loss });
  disposeTree(grads);
  loss.dispose();
  return next;
}

describe('non-finite gradients and losses never reach the parameters (fast-check)', () => {
  it.each(Object.keys(builders))('%s', (name) => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 11 }), { maxLength: 6 }),
        fc.constantFrom<Kind>('nan-grads', 'inf-grads', 'one-nan-element', 'nan-ctx-loss', 'nan-lossFn'),
        (steps, kind) => {
          const poisonAt = new Set(steps);
          const lossFn: LossFn = (params, info) =>
            kind === 'nan-lossFn' && poisonAt.has(info.iteration) ? tf.tidy(() => tf.mul(p.lossFn(params, info), Number.NaN) as tf.Scalar) : p.lossFn(params, info);
          const opt = (builders[name] as (f: LossFn) => Optimizer<unknown>)(lossFn);
          let state = opt.init(p.init());
          const initial = p.loss64(values(state.params));
          for (let t = 0; t < 12; t++) {
            state = poisonedStep(opt, state, t, poisonAt.has(t) ? kind : undefined);
            expect(values(state.params).every(Number.isFinite)).toBe(true);
          }
          const s = guardStats(state as never);
          if (steps.length > 0 && kind !== 'nan-lossFn' && kind !== 'nan-ctx-loss') expect(s.nonFinite).toBeGreaterThan(0);
          expect(p.loss64(values(state.params))).toBeLessThan(initial);
          free(state);
        },
      ),
      { numRuns: 8, seed: 20261121 },
    );
  });
});

describe('memory', () => {
  it.each(Object.keys(builders))('%s: no tensor leaks over 1,000 steps (with poisoned steps)', (name) => {
    const opt = (builders[name] as (f: LossFn) => Optimizer<unknown>)(p.lossFn);
    let state = opt.init(p.init());
    const kinds: Kind[] = ['nan-grads', 'inf-grads', 'one-nan-element', 'nan-ctx-loss'];
    const growth = leakCheck((t) => {
      state = poisonedStep(opt, state, t, t % 7 === 3 ? kinds[t % kinds.length] : undefined);
    }, 1000);
    expect(growth).toBe(0);
    expect(values(state.params).every(Number.isFinite)).toBe(true);
    free(state);
  });
});

describe('checkpoints', () => {
  it.each(['lossGuarded', 'safeguarded both every 2', 'divergenceGuard'])('%s: the state round-trips through serializeTree and training continues identically', (name) => {
    const opt = (builders[name] as (f: LossFn) => Optimizer<unknown>)(p.lossFn);
    let state = opt.init(p.init());
    for (let t = 0; t < 5; t++) state = poisonedStep(opt, state, t, t === 2 ? 'nan-grads' : undefined);
    const bytes = serializeTree({ params: state.params, state: state.state as TensorTree }, { kind: 'opt-state', name: opt.name });
    const { tree } = deserializeTree(bytes, { kind: 'opt-state', name: opt.name });
    const loaded = tree as { params: TensorTree; state: unknown };
    let a = state;
    let b: OptState<unknown> = { params: loaded.params, state: loaded.state, iteration: state.iteration };
    expect(guardStats(b as never)).toEqual(guardStats(a as never));
    for (let t = 5; t < 10; t++) {
      a = poisonedStep(opt, a, t, undefined);
      b = poisonedStep(opt, b, t, undefined);
    }
    expectTreeClose(b.params, a.params, { rtol: 0, atol: 0 });
    expect(guardStats(b as never)).toEqual(guardStats(a as never));
    free(a, b);
  });
});

describe('composition', () => {
  it('guards nest: a divergence guard inside a loss guard still converges and keeps both counters', () => {
    const inner = divergenceGuard(divergingSgd(p.L, 5), sgd({ learningRate: 1 / p.L }), { lossFn: p.lossFn, maxLossIncrease: 1 });
    const outer = lossGuarded(inner, adam({ learningRate: 0.05 }), { lossFn: p.lossFn });
    let state = outer.init(p.init());
    for (let t = 0; t < 120; t++) state = poisonedStep(outer as Optimizer<unknown>, state as OptState<unknown>, t, undefined) as typeof state;
    expect(p.loss64(values(state.params))).toBeLessThan(1e-4);
    const innerStats = guardStats({ params: state.params, state: state.state.learned, iteration: guardStats(state).learnedIteration });
    expect(innerStats.iteration).toBe(120); // 'both': the inner guard advanced on every step
    expect(innerStats.fallbackSteps).toBeGreaterThan(0);
    free(state);
  });
});

describe('registry', () => {
  it('registerAll is idempotent and create() builds working guards', () => {
    registerAll();
    registerAll();
    const names = list('optimizer').map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['lossGuarded', 'safeguarded', 'divergenceGuard']));
    const opt = create('optimizer', 'lossGuarded', { learned: divergingSgd(p.L), fallback: sgd({ learningRate: 1 / p.L }), lossFn: p.lossFn, every: 2 });
    expect(opt.name).toBe('lossGuarded(diverging-sgd-3/L,sgd)');
    expect(() => create('optimizer', 'safeguarded', { learned: divergingSgd(p.L), fallback: sgd() })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', option: 'residualFn' }));
    expect(() => create('optimizer', 'divergenceGuard', { fallback: sgd() })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', option: 'opt' }));
  });
});

describe('invalid options throw LoptError naming the option', () => {
  const l = divergingSgd(p.L);
  const f = sgd();
  const lossFn = p.lossFn;
  const residualFn = gradientNormResidual(lossFn);
  const cases: [string, () => unknown, string][] = [
    ['lossGuarded every 0', () => lossGuarded(l, f, { lossFn, every: 0 }), 'every'],
    ['lossGuarded every 1.5', () => lossGuarded(l, f, { lossFn, every: 1.5 }), 'every'],
    ['lossGuarded lookahead 0', () => lossGuarded(l, f, { lossFn, lookahead: 0 }), 'lookahead'],
    ['lossGuarded advance', () => lossGuarded(l, f, { lossFn, advance: 'never' as never }), 'advance'],
    ['lossGuarded no lossFn', () => lossGuarded(l, f, {} as never), 'lossFn'],
    ['lossGuarded learned', () => lossGuarded({} as never, f, { lossFn }), 'learned'],
    ['lossGuarded fallback', () => lossGuarded(l, null as never, { lossFn }), 'fallback'],
    ['lossGuarded options', () => lossGuarded(l, f, 3 as never), 'options'],
    ['lossGuarded name', () => lossGuarded(l, f, { lossFn, name: '' }), 'name'],
    ['safeguarded delta 0', () => safeguarded(l, f, { residualFn, delta: 0 }), 'delta'],
    ['safeguarded delta 1', () => safeguarded(l, f, { residualFn, delta: 1 }), 'delta'],
    ['safeguarded theta 0', () => safeguarded(l, f, { residualFn, theta: 0 }), 'theta'],
    ['safeguarded theta 1.5', () => safeguarded(l, f, { residualFn, theta: 1.5 }), 'theta'],
    ['safeguarded muUpdate', () => safeguarded(l, f, { residualFn, muUpdate: 'linear' as never }), 'muUpdate'],
    ['safeguarded window', () => safeguarded(l, f, { residualFn, window: 0 }), 'window'],
    ['safeguarded mu0', () => safeguarded(l, f, { residualFn, mu0: -1 }), 'mu0'],
    ['safeguarded mu0 NaN', () => safeguarded(l, f, { residualFn, mu0: Number.NaN }), 'mu0'],
    ['safeguarded residualFn', () => safeguarded(l, f, { residualFn: 'norm' as never }), 'residualFn'],
    ['divergenceGuard maxLossIncrease', () => divergenceGuard(l, f, { maxLossIncrease: -0.1 }), 'maxLossIncrease'],
    ['divergenceGuard maxLossIncrease NaN', () => divergenceGuard(l, f, { maxLossIncrease: Number.NaN }), 'maxLossIncrease'],
    ['divergenceGuard onNonFinite', () => divergenceGuard(l, f, { onNonFinite: 'ignore' as never }), 'onNonFinite'],
    ['divergenceGuard lossFn', () => divergenceGuard(l, f, { lossFn: 1 as never }), 'lossFn'],
    ['divergenceGuard every', () => divergenceGuard(l, f, { every: -1 }), 'every'],
    ['gradientNormResidual scale', () => gradientNormResidual(lossFn, { scale: 0 }), 'scale'],
  ];
  it.each(cases)('%s', (_label, build, option) => {
    expect(build).toThrow(expect.objectContaining({ name: 'LoptError', code: 'INVALID_OPTION', option }));
  });

  it('a loss callback that returns a non-scalar throws SHAPE_MISMATCH', () => {
    const opt = lossGuarded(l, f, { lossFn: (q) => (q as { w: tf.Scalar }).w });
    let state = opt.init(p.init());
    expect(() => (state = poisonedStep(opt as Optimizer<unknown>, state as OptState<unknown>, 0, undefined) as typeof state)).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH', option: 'lossFn' }),
    );
    free(state);
  });
});
