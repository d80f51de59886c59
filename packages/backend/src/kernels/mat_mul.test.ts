// lopt's WASM BatchMatMul / _FusedMatMul: the layouts tfjs-backend-wasm runs on a scalar loop
// (transposed or batched operands) are rewritten into its XNNPACK layout. Every route is checked
// against the CPU backend and a float64 reference; a 784x128 dense layer's gradient against
// central finite differences of a float64 loss.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LoptError, randintArray, split } from '@lopt/core';
import { caseKey, maxAbs, randomValues, relativeError, runOn, wasmMemoryGrowth, wasmVsCpu } from '../../test/harness.js';
import { fillWasmKernelGaps, initBackend } from '../index.js';
import { SLOW_FACTOR, matMulRewrites, probeMatMulKernel, setMatMulRewrites, type MatMulSlowLayouts } from './mat_mul_fixes.js';

const TOL = 1e-5;
const ALL: MatMulSlowLayouts = { transposeA: true, transposeB: true, batched: true };
const NONE: MatMulSlowLayouts = { transposeA: false, transposeB: false, batched: false };

/** float64 matmul with numpy broadcasting of the batch dimensions (independent of tfjs). */
function matMulReference(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], tA: boolean, tB: boolean): { values: Float64Array; shape: number[] } {
  const ra = aShape.length;
  const rb = bShape.length;
  const [ar, ac] = [aShape[ra - 2]!, aShape[ra - 1]!];
  const [br, bc] = [bShape[rb - 2]!, bShape[rb - 1]!];
  const m = tA ? ac : ar;
  const k = tA ? ar : ac;
  const n = tB ? br : bc;
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const pad = (s: number[]): number[] => [...Array<number>(rank - s.length).fill(1), ...s];
  const [pa, pb] = [pad(aBatch), pad(bBatch)];
  const outBatch = pa.map((d, i) => Math.max(d, pb[i]!));
  const count = outBatch.reduce((x, y) => x * y, 1);
  const values = new Float64Array(count * m * n);
  const offset = (idx: number[], dims: number[]): number => idx.reduce((acc, v, i) => acc * dims[i]! + (dims[i] === 1 ? 0 : v), 0);
  for (let bi = 0; bi < count; bi++) {
    const idx: number[] = [];
    let r = bi;
    for (let i = rank - 1; i >= 0; i--) {
      idx.unshift(r % outBatch[i]!);
      r = Math.floor(r / outBatch[i]!);
    }
    const ao = offset(idx, pa) * ar * ac;
    const bo = offset(idx, pb) * br * bc;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += a[ao + (tA ? q * ac + i : i * ac + q)]! * b[bo + (tB ? j * bc + q : q * bc + j)]!;
        values[(bi * m + i) * n + j] = s;
      }
  }
  return { values, shape: [...outBatch, m, n] };
}

interface Case {
  readonly name: string;
  readonly a: number[];
  readonly b: number[];
  readonly tA: boolean;
  readonly tB: boolean;
}

const cases: Case[] = [
  { name: 'plain 2-D', a: [33, 70], b: [70, 19], tA: false, tB: false },
  { name: 'transposeA (a dense weight gradient x^T dy)', a: [50, 37], b: [50, 21], tA: true, tB: false },
  { name: 'transposeB (a dense input gradient dy W^T)', a: [40, 23], b: [31, 23], tA: false, tB: true },
  { name: 'both transposed', a: [29, 17], b: [13, 29], tA: true, tB: true },
  { name: 'batched a x unbatched b', a: [3, 17, 40], b: [40, 11], tA: false, tB: false },
  { name: 'batched a (transposed) x unbatched b (transposed)', a: [4, 40, 17], b: [11, 40], tA: true, tB: true },
  { name: 'rank-4 a x rank-3 b with batch 1', a: [2, 3, 9, 14], b: [1, 14, 6], tA: false, tB: false },
  { name: 'unbatched a x batched b (left to the backend)', a: [9, 14], b: [5, 14, 6], tA: false, tB: false },
  { name: 'both batched, transposeB', a: [5, 9, 14], b: [5, 6, 14], tA: false, tB: true },
  { name: 'one row, transposeA', a: [64, 1], b: [64, 10], tA: true, tB: false },
];

describe('WASM BatchMatMul with lopt\'s rewrites matches the CPU backend and float64', () => {
  cases.forEach((c, n) => {
    it(c.name, async () => {
      const [ka, kb] = split(caseKey(1100 + n));
      const av = randomValues(ka!, c.a);
      const bv = randomValues(kb!, c.b);
      const ref = matMulReference(av, c.a, bv, c.b, c.tA, c.tB);
      const body = (): tf.Tensor => tf.matMul(tf.tensor(av, c.a), tf.tensor(bv, c.b), c.tA, c.tB);
      const { error, shapes, cpu } = await wasmVsCpu(body);
      expect(shapes[0]).toEqual(ref.shape);
      expect(maxAbs(cpu)).toBeGreaterThan(1);
      expect(error).toBeLessThan(TOL);
      expect(relativeError(cpu[0]!, ref.values)).toBeLessThan(TOL);
      // the backend's own kernel (every rewrite off) gives the same numbers
      const rewritten = await runOn('wasm', body);
      const before = setMatMulRewrites(tf.BatchMatMul, NONE);
      try {
        const own = await runOn('wasm', body);
        expect(relativeError(rewritten.values[0]!, own.values[0]!)).toBeLessThan(TOL);
      } finally {
        setMatMulRewrites(tf.BatchMatMul, before);
      }
    });
  });
});

describe('WASM _FusedMatMul with lopt\'s rewrites', () => {
  // tfjs-backend-wasm 4.22's own batched fused PReLU is wrong (max error ~0.7 here); folded, it is right.
  const fusedCases: { name: string; a: number[]; b: number[]; tA: boolean; tB: boolean; activation: 'relu' | 'linear' | 'prelu'; alphaPerColumn?: true }[] = [
    { name: 'transposeA, bias, relu', a: [40, 12], b: [40, 9], tA: true, tB: false, activation: 'relu' },
    { name: 'transposeB, bias, linear', a: [12, 40], b: [9, 40], tA: false, tB: true, activation: 'linear' },
    { name: 'batched a x unbatched b, bias, relu (a dense layer on rank-3 input)', a: [3, 7, 20], b: [20, 9], tA: false, tB: false, activation: 'relu' },
    { name: 'batched a, prelu weights of the output shape', a: [3, 7, 20], b: [20, 9], tA: false, tB: false, activation: 'prelu' },
    { name: 'batched a, prelu weights per column', a: [3, 7, 20], b: [20, 9], tA: false, tB: false, activation: 'prelu', alphaPerColumn: true },
  ];
  fusedCases.forEach((c, n) => {
    it(c.name, async () => {
      const [ka, kb, kc, kp] = split(caseKey(1200 + n), 4);
      const av = randomValues(ka!, c.a);
      const bv = randomValues(kb!, c.b);
      const biasv = randomValues(kc!, [c.tB ? c.b[0]! : c.b[c.b.length - 1]!]);
      const ref = matMulReference(av, c.a, bv, c.b, c.tA, c.tB);
      const cols = biasv.length;
      const alphaShape = c.alphaPerColumn ? [cols] : ref.shape;
      const alpha = Float32Array.from(randomValues(kp!, alphaShape), (v) => Math.abs(v) * 0.3);
      const expected = ref.values.map((v, i) => {
        const z = v + biasv[i % cols]!;
        if (c.activation === 'relu') return Math.max(0, z);
        if (c.activation === 'prelu') return z < 0 ? z * alpha[i % alpha.length]! : z;
        return z;
      });
      const body = (): tf.Tensor =>
        tf.fused.matMul({
          a: tf.tensor(av, c.a),
          b: tf.tensor(bv, c.b),
          transposeA: c.tA,
          transposeB: c.tB,
          bias: tf.tensor1d(biasv),
          activation: c.activation,
          ...(c.activation === 'prelu' ? { preluActivationWeights: tf.tensor(alpha, alphaShape) } : {}),
        });
      const { error, shapes, cpu } = await wasmVsCpu(body);
      expect(shapes[0]).toEqual(ref.shape);
      expect(error).toBeLessThan(TOL);
      expect(relativeError(cpu[0]!, expected)).toBeLessThan(TOL);
    });
  });
});

describe('a 784x128 dense layer trained on WASM', () => {
  const batch = 32;
  const [kx, kw, kb, kv] = split(caseKey(1300), 4);
  const xv = randomValues(kx!, [batch, 784]);
  const wv = randomValues(kw!, [784, 128], 0.05);
  const bv = randomValues(kb!, [128], 0.1);
  const vv = randomValues(kv!, [batch, 128]);

  /** float64 loss sum(v * tanh(x W + b)) with W[p] replaced by `wp`. */
  function loss64(p: number, wp: number): number {
    let total = 0;
    for (let r = 0; r < batch; r++)
      for (let j = 0; j < 128; j++) {
        let z = bv[j]!;
        for (let q = 0; q < 784; q++) z += xv[r * 784 + q]! * (q * 128 + j === p ? wp : wv[q * 128 + j]!);
        total += vv[r * 128 + j]! * Math.tanh(z);
      }
    return total;
  }

  const grads = (): tf.Tensor[] => {
    const x = tf.tensor2d(xv, [batch, 784]);
    const v = tf.tensor2d(vv, [batch, 128]);
    const f = (w: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.sum(tf.mul(v, tf.tanh(tf.add(tf.matMul(x, w as tf.Tensor2D), b))));
    const fx = (xi: tf.Tensor): tf.Scalar => tf.sum(tf.mul(v, tf.tanh(tf.add(tf.matMul(xi as tf.Tensor2D, tf.tensor2d(wv, [784, 128])), tf.tensor1d(bv)))));
    return [...tf.grads(f)([tf.tensor2d(wv, [784, 128]), tf.tensor1d(bv)]), tf.grad(fx)(x)];
  };

  it('weight, bias and input gradients match the CPU backend', async () => {
    const { error, shapes } = await wasmVsCpu(grads);
    expect(shapes).toEqual([[784, 128], [128], [batch, 784]]);
    expect(error).toBeLessThan(1e-4);
  });

  it('the weight gradient matches central finite differences of the float64 loss', async () => {
    const { values } = await runOn('wasm', grads);
    const dW = values[0]!;
    const picks = randintArray(caseKey(1301), 24, 0, 784 * 128);
    const h = 1e-4;
    for (const p of picks) {
      const fd = (loss64(p, wv[p]! + h) - loss64(p, wv[p]! - h)) / (2 * h);
      expect(Math.abs(dW[p]! - fd)).toBeLessThan(2e-4 * Math.max(1, Math.abs(fd)));
    }
  });
});

describe('the matmul probe', () => {
  it('times each layout and decides slow by the documented factor; the fill follows the verdict', async () => {
    await initBackend({ backend: 'wasm' });
    for (const name of [tf.BatchMatMul, tf._FusedMatMul]) {
      const probe = probeMatMulKernel(name)!;
      expect(Object.keys(probe).sort()).toEqual(['batched', 'transposeA', 'transposeB']);
      for (const c of Object.values(probe)) {
        expect(c.directMs).toBeGreaterThan(0);
        expect(c.composedMs).toBeGreaterThan(0);
        expect(c.slow).toBe(c.directMs > SLOW_FACTOR * c.composedMs);
      }
      const anySlow = Object.values(probe).some((c) => c.slow);
      expect(fillWasmKernelGaps().includes(name)).toBe(anySlow);
      if (anySlow) {
        expect(matMulRewrites(name)).toEqual({ transposeA: probe.transposeA.slow, transposeB: probe.transposeB.slow, batched: probe.batched.slow });
      }
    }
  });

  it('setMatMulRewrites validates its input with LoptErrors naming the option', () => {
    const err = (f: () => unknown): LoptError => {
      try {
        f();
      } catch (e) {
        return e as LoptError;
      }
      throw new Error('did not throw');
    };
    const wrongKernel = err(() => setMatMulRewrites('Conv2D', ALL));
    expect(wrongKernel).toBeInstanceOf(LoptError);
    expect([wrongKernel.code, wrongKernel.option]).toEqual(['INVALID_OPTION', 'kernelName']);
    const wrongLayout = err(() => setMatMulRewrites(tf.BatchMatMul, { ...ALL, batched: 'yes' as unknown as boolean }));
    expect([wrongLayout.code, wrongLayout.option]).toEqual(['INVALID_OPTION', 'layouts.batched']);
    expect(wrongLayout.message).toMatch(/layouts\.batched/);
  });

  it('frees every intermediate over many training steps (WASM data and tensor counts flat)', async () => {
    await initBackend({ backend: 'wasm' });
    const before = setMatMulRewrites(tf.BatchMatMul, ALL);
    try {
      const x = tf.ones([8, 30]);
      const x3 = tf.ones([2, 8, 30]);
      const step = (): void =>
        tf.tidy(() => {
          tf.grads((w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.relu(tf.add(tf.matMul(x, w as tf.Tensor2D), b))))([tf.ones([30, 5]), tf.zeros([5])]);
          tf.grad((xi: tf.Tensor) => tf.sum(tf.matMul(xi, tf.ones([30, 4]))))(x3);
          tf.fused.matMul({ a: x3 as tf.Tensor3D, b: tf.ones([30, 4]) as tf.Tensor2D, bias: tf.ones([4]), activation: 'relu' });
        });
      expect(wasmMemoryGrowth(step, 20)).toEqual({ data: 0, tensors: 0 });
      tf.dispose([x, x3]);
    } finally {
      setMatMulRewrites(tf.BatchMatMul, before);
    }
  });
});
