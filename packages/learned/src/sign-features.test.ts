// nnAdam and rnnMlpLOpt feed tf.sign of per-tensor means (gradient, momentum, rms, params) to
// their LSTMs. With tiny parameters and gradients those means are far below FLT_EPSILON, where
// tfjs-backend-wasm 4.22's Sign kernel returned 0 instead of ±1 (fixed in @lopt/backend). Each
// runs the same steps, from the same host-side keys, on the active backend (WASM by default)
// and on the plain JS CPU backend; parameters, hyperparameter state and LSTM state must agree.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { advance, disposeTree, foldIn, key, normal, type Optimizer, type TensorTree } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { nnAdam, rnnMlpLOpt } from './index.js';
import { smallParams, snapshot } from './test-helpers.js';

const active = tf.getBackend();
afterAll(async () => {
  await tf.setBackend(active);
});

const STEPS = 6;

/** Values after the last step: params and state leaves (sorted-key order), and the state's top-level tensors by name. */
type Run = { params: number[][]; state: number[][]; tensors: Record<string, number[]> };

/** Tiny gradients for step t: the same tree structure as smallParams, values ~1e-9. */
const tinyGrads = (t: number): TensorTree => smallParams(foldIn(key(77), t), 1e-9);

/** Runs STEPS steps of the optimizer `make()` builds, on `backend`; returns params and state values after the last step. */
async function runOn(backend: string, make: () => { opt: Optimizer; dispose: () => void }, withLoss: boolean): Promise<Run> {
  await tf.setBackend(backend);
  const { opt, dispose } = make();
  let state = opt.init(smallParams(key(5), 1e-9));
  for (let t = 0; t < STEPS; t++) {
    const g = tinyGrads(t);
    const loss = tf.scalar(1 - 0.05 * t);
    state = advance(opt, state, g, withLoss ? { loss } : {});
    disposeTree(g);
    loss.dispose();
  }
  const fields = Object.entries(state.state as Record<string, unknown>).filter(([, v]) => v instanceof tf.Tensor) as [string, tf.Tensor][];
  const out = { params: snapshot(state.params), state: snapshot(state.state as TensorTree), tensors: Object.fromEntries(fields.map(([k, v]) => [k, Array.from(v.dataSync())])) };
  disposeTree(state.params);
  disposeTree(state.state as TensorTree);
  dispose();
  return out;
}

function expectBackendsAgree(a: Run, b: Run, label: string): void {
  expect(a.state.length).toBe(b.state.length);
  a.params.forEach((p, i) => expectClose(p, b.params[i]!, { rtol: 1e-4, atol: 1e-12, label: `${label} params leaf ${i}` }));
  a.state.forEach((s, i) => expectClose(s, b.state[i]!, { rtol: 1e-4, atol: 1e-7, label: `${label} state leaf ${i}` }));
}

describe(`sign features of learned optimizers with tiny inputs: ${active} matches cpu`, () => {
  it('nnAdam (LSTM-set hyperparameters, control head made non-zero so the features matter)', async () => {
    const make = () => {
      const lopt = nnAdam({ outputScale: 1 });
      const theta = lopt.init(key(3));
      const head = theta.rnn_to_controls_params.rnn_to_controls;
      head.w.dispose();
      head.w = normal(key(4), head.w.shape, { std: 0.5 }) as tf.Tensor2D;
      return { opt: lopt.optimizer(theta), dispose: () => disposeTree(theta) };
    };
    const here = await runOn(active, make, false);
    const cpu = await runOn('cpu', make, false);
    expectBackendsAgree(here, cpu, 'nnAdam');
    // The hyperparameters moved (the LSTM's output is in the comparison).
    const lr0 = 0.1 * Math.log(1e-4);
    expect(cpu.tensors['lr']).toHaveLength(3);
    expect(Math.max(...cpu.tensors['lr']!.map((v) => Math.abs(v - lr0)))).toBeGreaterThan(0.01);
  });

  it('rnnMlpLOpt (per-tensor LSTM feeding the per-parameter MLP)', async () => {
    const make = () => {
      const lopt = rnnMlpLOpt();
      const theta = lopt.init(key(3));
      return { opt: lopt.optimizer(theta), dispose: () => disposeTree(theta) };
    };
    const here = await runOn(active, make, true);
    const cpu = await runOn('cpu', make, true);
    expectBackendsAgree(here, cpu, 'rnnMlpLOpt');
    expect(Math.max(...cpu.params.flat().map(Math.abs))).toBeGreaterThan(1e-6); // the steps dwarf the 1e-9 start
  });
});
