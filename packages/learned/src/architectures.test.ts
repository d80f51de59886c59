import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  LoptError,
  disposeTree,
  key,
  treeFlatten,
  treeLeaves,
  treeSize,
  treeUnflatten,
  type OptState,
  type TensorTree,
  tidy,
} from '@lopt/core';
import { describeOptimizerConformance } from '@lopt/testkit';
import { ARCHITECTURES } from './architectures.js';
import type { LearnedArchitecture } from './types.js';
import { quadraticLoss, smallParams } from './test-helpers.js';
import { adafacMlpLOpt } from './adafac-mlp-lopt.js';

/** Analytic gradient of quadraticLoss (so meta-gradients need no nested tf.grad). */
function quadGrads(params: TensorTree): TensorTree {
  const t = params as { layer: { w: tf.Tensor; b: tf.Tensor }; s: tf.Tensor };
  return { layer: { w: tf.mul(1, t.layer.w), b: tf.mul(3, t.layer.b) }, s: tf.mul(0.5, t.s) };
}

/** Golden meta-parameter counts (defaults), with the arithmetic that gives them. */
const GOLDEN: Record<string, { count: number; arithmetic: number }> = {
  learnableSgd: { count: 1, arithmetic: 1 },
  learnableSgdm: { count: 2, arithmetic: 2 },
  learnableAdam: { count: 4, arithmetic: 4 },
  // 19 features -> 32 -> 32 -> 2
  mlpLOpt: { count: 1762, arithmetic: 19 * 32 + 32 + (32 * 32 + 32) + (32 * 2 + 2) },
  // 39 features -> 4 -> 4 -> 2, plus 3 momentum + 1 rms + 3 adafactor decay offsets
  adafacMlpLOpt: { count: 197, arithmetic: 39 * 4 + 4 + (4 * 4 + 4) + (4 * 2 + 2) + 3 + 1 + 3 },
  // 39 -> 4 -> 4 -> 4, plus 7 decay offsets
  mlpNomLOpt: { count: 207, arithmetic: 39 * 4 + 4 + (4 * 4 + 4) + (4 * 4 + 4) + 7 },
  // initial messages 18 + 16, LSTM init state 2*64, LSTM (52+64)*256+256, rnn->ff 64*17+17,
  // rnn->in 64*18+18, MLP (54*32+32) + (32*32+32) + (32*18+18)
  rnnMlpLOpt: { count: 35799, arithmetic: 18 + 16 + 2 * 64 + ((52 + 64) * 256 + 256) + (64 * 17 + 17) + (64 * 18 + 18) + (54 * 32 + 32) + (32 * 32 + 32) + (32 * 18 + 18) },
  // LSTM init state 2*32, LSTM (19+32)*128+128, controls 32*4+4, 4 initial hyperparameters
  nnAdam: { count: 6856, arithmetic: 2 * 32 + ((19 + 32) * 128 + 128) + (32 * 4 + 4) + 4 },
  // LSTM1 (2+20)*80+80, LSTM2 (20+20)*80+80, linear 20+1
  lstmL2L: { count: 5141, arithmetic: (2 + 20) * 80 + 80 + ((20 + 20) * 80 + 80) + 21 },
  // MLP 30 -> 4 -> 4 -> 3, LSTM init state 2*64, linear/linear_1/linear_2 3*(18*64+64),
  // LSTM (64+64)*256+256, rnn_to_controls and step_size 2*(64+1)
  celo: { count: 37089, arithmetic: 30 * 4 + 4 + (4 * 4 + 4) + (4 * 3 + 3) + 2 * 64 + 3 * (18 * 64 + 64) + (128 * 256 + 256) + 2 * (64 + 1) },
  // the scheduler only (no MLP, no control head)
  celoAdam: { count: 36865, arithmetic: 2 * 64 + 3 * (18 * 64 + 64) + (128 * 256 + 256) + (64 + 1) },
  // 9 time + 9 loss features -> log learning-rate multiplier (weights and a bias)
  scheduleAdam: { count: 19, arithmetic: 18 + 1 },
  controlAdam: { count: 23, arithmetic: 9 + 9 + 4 + 1 },
  // MLP 30 -> 8 -> 8 -> 3
  celo2: { count: 347, arithmetic: 30 * 8 + 8 + (8 * 8 + 8) + (8 * 3 + 3) },
  // 2 + 3 momenta + 4 DMD + 11 time = 20 features -> 32 -> 32 -> 2
  dmdLOpt: { count: 1794, arithmetic: 20 * 32 + 32 + (32 * 32 + 32) + (32 * 2 + 2) },
};

/** State scalars for smallParams (w [4,6], b [6], s []) per architecture, from each one's documented layout. */
const STATE_SIZE: Record<string, number> = {
  learnableSgd: 0,
  learnableSgdm: 31,
  learnableAdam: 2 * 31,
  mlpLOpt: 6 * 31,
  // 4 slots per parameter; w: rows (shape without the largest axis, [4]) + cols ([6]) x 3 decays; b, s: 3 full slots
  adafacMlpLOpt: 4 * 31 + 3 * (4 + 6) + 3 * (6 + 1),
  mlpNomLOpt: 4 * 31 + 3 * (4 + 6) + 3 * (6 + 1),
  // 10 slots per parameter, per tensor: LSTM h, c (64 each), from-MLP message (16); from-LSTM (18),
  // 2 loss normalizers (3 each), clipper (2)
  rnnMlpLOpt: 10 * 31 + 3 * (64 + 64 + 16) + 18 + 6 + 2,
  // 2 slots per parameter; per tensor: 4 hyperparameters, LSTM h, c (32 each)
  nnAdam: 2 * 31 + 3 * (4 + 32 + 32),
  lstmL2L: 80 * 31,
  // adafacMlpLOpt's accumulators, plus the scheduler: 10 loss EMAs, 10 minima, 10 decays, 1/numSteps, LSTM h and c (64 each)
  celo: 4 * 31 + 3 * (4 + 6) + 3 * (6 + 1) + (3 * 10 + 1 + 2 * 64),
  celoAdam: 2 * 31 + (3 * 10 + 1 + 2 * 64),
  // 2 slots per parameter, plus 10 loss EMAs, 10 minima, 10 decays and 1/numSteps
  scheduleAdam: 2 * 31 + (3 * 10 + 1),
  // scheduleAdam's state plus the log learning-rate multiplier
  controlAdam: 2 * 31 + (3 * 10 + 1) + 1,
  // PyLO routing: the bias, the only matrix (first and last) and the scalar all take AdamW (2 slots)
  celo2: 2 * 31,
  // 3 momenta + a window of 6 gradients per parameter
  dmdLOpt: (3 + 6) * 31,
};

const NEEDS_LOSS = new Set(['rnnMlpLOpt', 'celo', 'celoAdam', 'scheduleAdam', 'controlAdam']);

function build(name: string): LearnedArchitecture {
  return (ARCHITECTURES[name] as { factory: (o: object) => LearnedArchitecture }).factory({});
}

describe.each(Object.keys(ARCHITECTURES))('%s', (name) => {
  it('has the golden meta-parameter count', () => {
    const lopt = build(name);
    const theta = lopt.init(key(0));
    const golden = GOLDEN[name] as { count: number; arithmetic: number };
    expect(golden.arithmetic).toBe(golden.count);
    expect(treeSize(theta)).toBe(golden.count);
    disposeTree(theta);
  });

  it('keeps the documented state per parameter', () => {
    const lopt = build(name);
    const theta = lopt.init(key(0));
    const params = smallParams(key(1));
    const state = lopt.optimizer(theta).init(params, { numSteps: 10 });
    expect(treeSize(state.state as TensorTree)).toBe(STATE_SIZE[name]);
    expect(lopt.stateSlotsPerParameter * 31).toBeLessThanOrEqual(STATE_SIZE[name] as number);
    disposeTree(state.state as TensorTree);
    disposeTree(params);
    disposeTree(theta);
  });

  it('takes small, finite first steps from its initial theta', () => {
    const lopt = build(name);
    const theta = lopt.init(key(2));
    const opt = lopt.optimizer(theta);
    const state: OptState = opt.init(smallParams(key(3)), { numSteps: 100 });
    const g0 = quadGrads(state.params);
    const loss0 = quadraticLoss(state.params);
    const out = tidy<OptState>(() => opt.update(state, g0, { loss: loss0 }));
    const pl = treeLeaves(state.params);
    treeLeaves(out.params).forEach((x, i) => {
      const p = pl[i] as tf.Tensor;
      expect(x.shape).toEqual(p.shape);
      const d = Array.from(tf.tidy(() => tf.abs(tf.sub(x, p))).dataSync());
      for (const v of d) {
        expect(Number.isFinite(v)).toBe(true);
        expect(v).toBeLessThan(0.1);
      }
    });
    expect(out.iteration).toBe(1);
    disposeTree([out.params, out.state as TensorTree], { keep: treeLeaves([state.params, state.state as TensorTree]) });
    disposeTree([g0, state.params, state.state as TensorTree, theta]);
    loss0.dispose();
  });

  it('tf.grad of the loss after 3 unrolled steps w.r.t. theta is finite and non-zero', () => {
    // Celo2's default (PyLO) routing sends all of smallParams to AdamW (one matrix is first and last).
    const lopt = name === 'celo2' ? (ARCHITECTURES.celo2 as { factory: (o: object) => LearnedArchitecture }).factory({ routing: 'regex' }) : build(name);
    const theta = lopt.init(key(4));
    const { leaves, structure } = treeFlatten(theta);
    const params0 = smallParams(key(5));
    const grads = tf.grads((...th: tf.Tensor[]) => {
      const opt = lopt.optimizer(treeUnflatten(structure, th));
      let s = opt.init(params0, { numSteps: 10 });
      for (let t = 0; t < 3; t++) s = opt.update(s, quadGrads(s.params), { loss: quadraticLoss(s.params) });
      return quadraticLoss(s.params);
    })(leaves);
    let total = 0;
    for (const g of grads) {
      for (const v of g.dataSync()) {
        expect(Number.isFinite(v)).toBe(true);
        total += v * v;
      }
    }
    expect(total).toBeGreaterThan(0);
    disposeTree(grads);
    disposeTree(params0);
    disposeTree(theta);
  });

  it(NEEDS_LOSS.has(name) ? 'fails with MISSING_CONTEXT without ctx.loss' : 'does not need ctx.loss or numSteps', () => {
    const lopt = build(name);
    const theta = lopt.init(key(6));
    const opt = lopt.optimizer(theta, { numSteps: 10 }); // Celo's scheduler needs the run length
    const s = opt.init(smallParams(key(7)));
    const g = quadGrads(s.params);
    if (NEEDS_LOSS.has(name)) {
      expect(() => opt.update(s, g)).toThrow(LoptError);
      expect(() => opt.update(s, g)).toThrow(/ctx\.loss/);
    } else {
      const next = opt.update(s, g);
      expect(treeLeaves(next.params).length).toBe(3);
      disposeTree([next.params, next.state as TensorTree], { keep: treeLeaves([s.params, s.state as TensorTree, g]) });
    }
    disposeTree([s.params, s.state as TensorTree, g]);
    disposeTree(theta);
  });
});

// The shared optimizer conformance suite of @lopt/testkit, for every architecture with its
// initial theta (one theta per architecture, created once).
const thetas = new Map<string, TensorTree>();
const conformanceCases: [string, () => LearnedArchitecture][] = [
  ...Object.keys(ARCHITECTURES).map((n) => [n, () => build(n)] as [string, () => LearnedArchitecture]),
  ['adafacMlpLOpt (composed)', () => adafacMlpLOpt({ fused: false }) as unknown as LearnedArchitecture],
];
for (const [label, make] of conformanceCases) {
  describeOptimizerConformance(
    label,
    () => {
      const lopt = make();
      if (!thetas.has(label)) thetas.set(label, lopt.init(key(8)));
      return lopt.optimizer(thetas.get(label) as TensorTree) as never;
    },
    { leakSteps: 30, resumeSteps: 4, steps: 3, needsLoss: NEEDS_LOSS.has(label) },
  );
}
