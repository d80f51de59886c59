// The building blocks of the fused MLP loss and gradient as plain JS over one ArrayBuffer (the
// CPU backend's path, and the WASM backend's when WebAssembly SIMD is unavailable), and the
// per-layer orchestration both implementations share. Pointers are byte offsets into the
// buffer (0 means "none"); assembly/mlp.ts has the same blocks with SIMD.

/** The building blocks (see assembly/mlp.ts for each one's contract). */
export interface MlpBlocks {
  gemm(a: number, sam: number, sak: number, b: number, c: number, M: number, N: number, K: number, bias: number): void;
  activate(x: number, n: number, act: number): void;
  activateBackward(d: number, h: number, n: number, act: number): void;
  softmaxXent(z: number, labels: number, dz: number, B: number, C: number): number;
  sigmoidMse(z: number, x: number, dz: number, n: number): number;
  colSum(x: number, out: number, B: number, N: number): void;
  transpose(src: number, dst: number, R: number, C: number): void;
}

/** The blocks in plain JS over `buffer` (float64 arithmetic, float32 storage). */
export function jsBlocks(buffer: ArrayBufferLike): MlpBlocks {
  const f = new Float32Array(buffer);
  const i32 = new Int32Array(buffer);
  return {
    gemm(a, sam, sak, b, c, M, N, K, bias) {
      const [A, Bo, Co, Z] = [a >> 2, b >> 2, c >> 2, bias >> 2];
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let acc = bias !== 0 ? (f[Z + n] as number) : 0;
          for (let k = 0; k < K; k++) acc += (f[A + m * sam + k * sak] as number) * (f[Bo + k * N + n] as number);
          f[Co + m * N + n] = acc;
        }
      }
    },
    activate(x, n, act) {
      const o = x >> 2;
      for (let i = o; i < o + n; i++) {
        const v = f[i] as number;
        f[i] = act === 0 ? (v > 0 ? v : 0) : act === 1 ? Math.tanh(v) : 1 / (1 + Math.exp(-v));
      }
    },
    activateBackward(d, h, n, act) {
      const [D, H] = [d >> 2, h >> 2];
      for (let i = 0; i < n; i++) {
        const hv = f[H + i] as number;
        const dv = f[D + i] as number;
        f[D + i] = act === 0 ? (hv > 0 ? dv : 0) : act === 1 ? dv * (1 - hv * hv) : dv * hv * (1 - hv);
      }
    },
    softmaxXent(z, labels, dz, B, C) {
      const [Zo, Lo, Do] = [z >> 2, labels >> 2, dz >> 2];
      let total = 0;
      for (let r = 0; r < B; r++) {
        const row = Zo + r * C;
        let mx = -Infinity;
        for (let j = 0; j < C; j++) mx = Math.max(mx, f[row + j] as number);
        let s = 0;
        for (let j = 0; j < C; j++) s += Math.exp((f[row + j] as number) - mx);
        const lse = mx + Math.log(s);
        const y = i32[Lo + r] as number;
        const hit = y >= 0 && y < C; // else an all-zero one-hot row: no loss, no gradient
        if (hit) total += lse - (f[row + y] as number);
        if (dz !== 0) for (let j = 0; j < C; j++) f[Do + r * C + j] = hit ? (Math.exp((f[row + j] as number) - lse) - (j === y ? 1 : 0)) / B : 0;
      }
      return total / B;
    },
    sigmoidMse(z, x, dz, n) {
      const [Zo, Xo, Do] = [z >> 2, x >> 2, dz >> 2];
      let total = 0;
      for (let i = 0; i < n; i++) {
        const s = 1 / (1 + Math.exp(-(f[Zo + i] as number)));
        const d = (f[Xo + i] as number) - s;
        total += d * d;
        if (dz !== 0) f[Do + i] = ((-2 / n) * d) * s * (1 - s);
      }
      return total / n;
    },
    colSum(x, out, B, N) {
      const [X, O] = [x >> 2, out >> 2];
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let r = 0; r < B; r++) acc += f[X + r * N + n] as number;
        f[O + n] = acc;
      }
    },
    transpose(src, dst, R, C) {
      const [S, D] = [src >> 2, dst >> 2];
      for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) f[D + c * R + r] = f[S + r * C + c] as number;
    },
  };
}

/** The loss heads the fused kernel implements, by kernel code: softmax cross-entropy against int32 labels, MSE of sigmoid(output) against float32 targets. */
export const FUSED_MLP_HEADS = ['softmax-xent', 'sigmoid-mse'] as const;

/** Byte offsets of one fused call's operands. `gw`/`gb` empty: loss only. */
export interface MlpPointers {
  x: number;
  /** int32 labels [B] (softmax-xent) or float32 targets [B, D_L] (sigmoid-mse). */
  labels: number;
  w: number[];
  b: number[];
  gw: number[];
  gb: number[];
  /** Scratch of {@link scratchFloats} floats. */
  scratch: number;
}

/** Floats of scratch one call needs: the hidden activations, the logits, two backward buffers and one transposed weight. */
export function scratchFloats(sizes: readonly number[], batch: number): number {
  const hidden = sizes.slice(1, -1);
  const maxHidden = Math.max(0, ...hidden);
  const maxW = Math.max(0, ...sizes.slice(1).map((o, i) => o * (sizes[i] as number)));
  return batch * (hidden.reduce((s, h) => s + h, 0) + (sizes[sizes.length - 1] as number) + 2 * maxHidden) + maxW;
}

/**
 * The loss of the MLP with layer sizes `sizes` (input first) on `batch` examples — head 0: mean
 * softmax cross-entropy, 1: mean squared error of sigmoid(output) against targets (see
 * {@link FUSED_MLP_HEADS}) — and (when `p.gw` is not empty) its gradient, through `k`'s blocks.
 * Returns the loss.
 */
export function mlpLossGrad(k: MlpBlocks, p: MlpPointers, sizes: readonly number[], batch: number, act: number, head = 0): number {
  const L = sizes.length - 1;
  const D = (i: number): number => sizes[i] as number;
  const hs: number[] = [p.x];
  let at = p.scratch;
  for (let i = 1; i < L; i++) {
    hs.push(at);
    at += 4 * batch * D(i);
  }
  const logits = at;
  at += 4 * batch * D(L);
  const maxHidden = Math.max(0, ...sizes.slice(1, -1));
  const bufs = [at, at + 4 * batch * maxHidden];
  const wT = at + 8 * batch * maxHidden;
  for (let i = 0; i < L; i++) {
    const out = i + 1 < L ? (hs[i + 1] as number) : logits;
    k.gemm(hs[i] as number, D(i), 1, p.w[i] as number, out, batch, D(i + 1), D(i), p.b[i] as number);
    if (i + 1 < L) k.activate(out, batch * D(i + 1), act);
  }
  const withGrads = p.gw.length > 0;
  const dlogits = withGrads ? logits : 0;
  const loss = head === 0 ? k.softmaxXent(logits, p.labels, dlogits, batch, D(L)) : k.sigmoidMse(logits, p.labels, dlogits, batch * D(L));
  if (!withGrads) return loss;
  let dz = logits;
  for (let i = L - 1; i >= 0; i--) {
    k.gemm(hs[i] as number, 1, D(i), dz, p.gw[i] as number, D(i), D(i + 1), batch, 0);
    k.colSum(dz, p.gb[i] as number, batch, D(i + 1));
    if (i === 0) break;
    k.transpose(p.w[i] as number, wT, D(i), D(i + 1));
    const dh = bufs[i % 2] as number;
    k.gemm(dz, D(i + 1), 1, wT, dh, batch, D(i), D(i + 1), 0);
    k.activateBackward(dh, hs[i] as number, batch * D(i), act);
    dz = dh;
  }
  return loss;
}
