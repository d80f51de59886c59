import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { key, normal } from '@lopt/core';
import { expectClose } from '@lopt/testkit';
import { lstmL2L } from './lstm-l2l.js';

describe('lstmL2L', () => {
  it('is coordinatewise: a coordinate gets the same update alone as inside a large (chunked) tensor', () => {
    const lopt = lstmL2L({ chunkRows: 64 });
    const opt = lopt.optimizer(lopt.init(key(1)));
    const n = 64 * 5 + 20; // six chunks, the last one partial
    const p = normal(key(2), [n]);
    const g = normal(key(3), [n], { std: 0.01 });
    let big = opt.init(p);
    big = opt.update(big, g);
    big = opt.update(big, tf.mul(g, -2));
    const tail = (t: tf.Tensor): tf.Tensor => tf.slice(t, [n - 150], [150]); // spans the last four chunks
    let small = opt.init(tail(p));
    small = opt.update(small, tail(g));
    small = opt.update(small, tail(tf.mul(g, -2)));
    expectClose(tail(big.params as tf.Tensor), (small.params as tf.Tensor).dataSync(), { rtol: 1e-6, atol: 1e-7 });
  });

  it('one step equals a float64 reference (log-and-sign preprocessing, 2 LSTM layers, linear output)', () => {
    const lopt = lstmL2L();
    const theta = lopt.init(key(4));
    const opt = lopt.optimizer(theta);
    const gv = [1e-6, -0.3, 2.5];
    const pv = [0.1, -0.2, 0.3];
    const next = opt.update(opt.init(tf.tensor1d(pv)), tf.tensor1d(gv));
    const mat = (t: tf.Tensor): number[][] => t.arraySync() as number[][];
    const vec = (t: tf.Tensor): number[] => Array.from(t.dataSync());
    const layers = [1, 2].map((i) => {
      const l = theta[`lstm_${i}`] as { w_gates: tf.Tensor; b_gates: tf.Tensor };
      return { w: mat(l.w_gates), b: vec(l.b_gates) };
    });
    const lin = theta.linear as { w: tf.Tensor; b: tf.Tensor };
    const sig = (x: number): number => 1 / (1 + Math.exp(-x));
    const expected = gv.map((g, e) => {
      let x = [Math.max(Math.log(Math.abs(g) + 1.1920928955078125e-7) / 5, -1), Math.min(1, Math.max(-1, g * Math.exp(5)))];
      for (const { w, b } of layers) {
        const H = b.length / 4;
        const inp = [...x, ...new Array<number>(H).fill(0)]; // zero initial state
        const z = b.map((bb, o) => inp.reduce((a, v, i) => a + v * ((w[i] as number[])[o] as number), bb));
        const c = z.slice(0, H).map((iz, u) => sig(iz) * Math.tanh(z[H + u] as number)); // f * c_prev = 0
        x = c.map((cc, u) => sig(z[3 * H + u] as number) * Math.tanh(cc));
      }
      const out = x.reduce((a, v, i) => a + v * ((mat(lin.w)[i] as number[])[0] as number), vec(lin.b)[0] as number);
      return (pv[e] as number) + 0.01 * out;
    });
    expectClose(next.params as tf.Tensor, expected, { rtol: 1e-5, atol: 1e-7 });
    expect(Math.max(...expected.map((v, i) => Math.abs(v - (pv[i] as number))))).toBeGreaterThan(1e-4);
  });
});
