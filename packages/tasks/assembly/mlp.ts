// Building blocks of the fused MLP softmax-cross-entropy loss and gradient (src/fused/), over
// float32 arrays in the caller's memory (tfjs-backend-wasm's heap), 4 lanes at a time with
// WebAssembly SIMD. Pointers are byte offsets. The JS orchestration (src/fused/mlp-loss-grad.ts)
// calls these per layer; src/fused/mlp-loss-grad-js.ts holds the same formulas in plain JS.
// Build: pnpm --filter @lopt/tasks build:wasm  (writes src/fused/mlp-wasm-binary.ts)

/**
 * C[M,N] = A·B (+ bias[N] on every row when bias != 0). A's element (m, k) is at
 * a + 4 (m sam + k sak), so A may be read transposed; B is [K, N] and C [M, N], row-major.
 */
export function gemm(a: usize, sam: i32, sak: i32, b: usize, c: usize, M: i32, N: i32, K: i32, bias: usize): void {
  const bStep = <usize>N << 2;
  const aStep = <usize>sak << 2;
  let m: i32 = 0;
  for (; m + 4 <= M; m += 4) {
    const r0 = a + (<usize>(m * sam) << 2);
    const r1 = a + (<usize>((m + 1) * sam) << 2);
    const r2 = a + (<usize>((m + 2) * sam) << 2);
    const r3 = a + (<usize>((m + 3) * sam) << 2);
    let n: i32 = 0;
    for (; n + 8 <= N; n += 8) {
      let lo = f32x4.splat(0);
      let hi = f32x4.splat(0);
      if (bias != 0) {
        lo = v128.load(bias + (<usize>n << 2));
        hi = v128.load(bias + (<usize>n << 2), 16);
      }
      let c0 = lo, c1 = hi, c2 = lo, c3 = hi, c4 = lo, c5 = hi, c6 = lo, c7 = hi;
      let bp = b + (<usize>n << 2);
      let ak: usize = 0;
      for (let k: i32 = 0; k < K; k++) {
        const b0 = v128.load(bp);
        const b1 = v128.load(bp, 16);
        const x0 = f32x4.splat(load<f32>(r0 + ak));
        const x1 = f32x4.splat(load<f32>(r1 + ak));
        const x2 = f32x4.splat(load<f32>(r2 + ak));
        const x3 = f32x4.splat(load<f32>(r3 + ak));
        c0 = f32x4.add(c0, f32x4.mul(x0, b0));
        c1 = f32x4.add(c1, f32x4.mul(x0, b1));
        c2 = f32x4.add(c2, f32x4.mul(x1, b0));
        c3 = f32x4.add(c3, f32x4.mul(x1, b1));
        c4 = f32x4.add(c4, f32x4.mul(x2, b0));
        c5 = f32x4.add(c5, f32x4.mul(x2, b1));
        c6 = f32x4.add(c6, f32x4.mul(x3, b0));
        c7 = f32x4.add(c7, f32x4.mul(x3, b1));
        bp += bStep;
        ak += aStep;
      }
      const cp = c + (<usize>(m * N + n) << 2);
      v128.store(cp, c0);
      v128.store(cp, c1, 16);
      v128.store(cp + bStep, c2);
      v128.store(cp + bStep, c3, 16);
      v128.store(cp + 2 * bStep, c4);
      v128.store(cp + 2 * bStep, c5, 16);
      v128.store(cp + 3 * bStep, c6);
      v128.store(cp + 3 * bStep, c7, 16);
    }
    // the last 1-7 columns four at a time; a partial block reads past its row of B (and of bias)
    // into the next row, or up to 12 bytes past B's end while that stays inside the memory, and
    // stores only its valid lanes
    for (; n < N; n += 4) {
      const left = N - n;
      if (left < 4 && (!loadable(b + (<usize>((K - 1) * N + n) << 2)) || (bias != 0 && !loadable(bias + (<usize>n << 2))))) break;
      const z = bias != 0 ? v128.load(bias + (<usize>n << 2)) : f32x4.splat(0);
      let c0 = z, c1 = z, c2 = z, c3 = z;
      for (let k: i32 = 0, ak: usize = 0; k < K; k++, ak += aStep) {
        const b0 = v128.load(b + (<usize>(k * N + n) << 2));
        c0 = f32x4.add(c0, f32x4.mul(f32x4.splat(load<f32>(r0 + ak)), b0));
        c1 = f32x4.add(c1, f32x4.mul(f32x4.splat(load<f32>(r1 + ak)), b0));
        c2 = f32x4.add(c2, f32x4.mul(f32x4.splat(load<f32>(r2 + ak)), b0));
        c3 = f32x4.add(c3, f32x4.mul(f32x4.splat(load<f32>(r3 + ak)), b0));
      }
      const cp = c + (<usize>(m * N + n) << 2);
      storeLanes(cp, c0, left);
      storeLanes(cp + bStep, c1, left);
      storeLanes(cp + 2 * bStep, c2, left);
      storeLanes(cp + 3 * bStep, c3, left);
    }
    for (; n < N; n++) {
      for (let r: i32 = 0; r < 4; r++) rowScalar(a, sam, sak, b, c, m + r, n, N, K, bias);
    }
  }
  for (; m < M; m++) {
    let n: i32 = 0;
    const ra = a + (<usize>(m * sam) << 2);
    for (; n + 4 <= N; n += 4) {
      let acc = bias != 0 ? v128.load(bias + (<usize>n << 2)) : f32x4.splat(0);
      for (let k: i32 = 0; k < K; k++) {
        const x = f32x4.splat(load<f32>(ra + (<usize>(k * sak) << 2)));
        acc = f32x4.add(acc, f32x4.mul(x, v128.load(b + (<usize>(k * N + n) << 2))));
      }
      v128.store(c + (<usize>(m * N + n) << 2), acc);
    }
    for (; n < N; n++) rowScalar(a, sam, sak, b, c, m, n, N, K, bias);
  }
}

/** Whether the 16 bytes at `p` lie inside the memory (a v128 load there cannot trap). */
// @ts-ignore: decorator
@inline function loadable(p: usize): bool {
  return p + 16 <= (<usize>memory.size() << 16);
}

/** Stores the first min(4, count) lanes of `v` at `p`. */
// @ts-ignore: decorator
@inline function storeLanes(p: usize, v: v128, count: i32): void {
  if (count >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** One element C[m, n] of {@link gemm}, in the same summation order (k ascending, float32). */
function rowScalar(a: usize, sam: i32, sak: i32, b: usize, c: usize, m: i32, n: i32, N: i32, K: i32, bias: usize): void {
  let acc: f32 = bias != 0 ? load<f32>(bias + (<usize>n << 2)) : 0;
  for (let k: i32 = 0; k < K; k++) {
    acc += load<f32>(a + (<usize>(m * sam + k * sak) << 2)) * load<f32>(b + (<usize>(k * N + n) << 2));
  }
  store<f32>(c + (<usize>(m * N + n) << 2), acc);
}

/** In place x = act(x) over n elements; act 0 relu, 1 tanh, 2 sigmoid. */
export function activate(x: usize, n: i32, act: i32): void {
  let i: i32 = 0;
  if (act == 0) {
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const p = x + (<usize>i << 2);
      v128.store(p, f32x4.max(v128.load(p), zero));
    }
    for (; i < n; i++) {
      const p = x + (<usize>i << 2);
      const v = load<f32>(p);
      store<f32>(p, v > 0 ? v : 0);
    }
    return;
  }
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    const v = <f64>load<f32>(p);
    store<f32>(p, <f32>(act == 1 ? Math.tanh(v) : 1 / (1 + Math.exp(-v))));
  }
}

/** In place d = d · act'(from h = act(z)) over n elements; act 0 relu (1 where h > 0), 1 tanh (1 - h²), 2 sigmoid (h (1 - h)). */
export function activateBackward(d: usize, h: usize, n: i32, act: i32): void {
  let i: i32 = 0;
  const zero = f32x4.splat(0);
  const one = f32x4.splat(1);
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const hv = v128.load(h + o);
    const dv = v128.load(d + o);
    let r: v128;
    if (act == 0) r = v128.and(dv, f32x4.gt(hv, zero));
    else if (act == 1) r = f32x4.mul(dv, f32x4.sub(one, f32x4.mul(hv, hv)));
    else r = f32x4.mul(dv, f32x4.mul(hv, f32x4.sub(one, hv)));
    v128.store(d + o, r);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const hv = load<f32>(h + o);
    const dv = load<f32>(d + o);
    store<f32>(d + o, act == 0 ? (hv > 0 ? dv : 0) : act == 1 ? dv * (1 - hv * hv) : dv * (hv * (1 - hv)));
  }
}

/**
 * Mean softmax cross-entropy of logits z [B, C] against int32 labels; returns the loss and,
 * when dz != 0, writes dz = (softmax(z) - onehot) / B. A label outside [0, C) is an all-zero
 * one-hot row, as tf.oneHot makes it: the row adds 0 to the loss and gets dz = 0. Row sums in float64.
 */
export function softmaxXent(z: usize, labels: usize, dz: usize, B: i32, C: i32): f64 {
  let total: f64 = 0;
  const invB: f64 = 1 / <f64>B;
  for (let r: i32 = 0; r < B; r++) {
    const row = z + (<usize>(r * C) << 2);
    let mx: f64 = -Infinity;
    for (let j: i32 = 0; j < C; j++) mx = Math.max(mx, <f64>load<f32>(row + (<usize>j << 2)));
    // one exp per logit: with a gradient the exponentials wait in dz (float32) and become
    // softmax(z) / B there; the label's own entry, where p - 1 cancels, is recomputed in float64
    // (dz may alias z: the label's logit is read first)
    const y = load<i32>(labels + (<usize>r << 2));
    const hit = y >= 0 && y < C;
    const zy: f64 = hit ? <f64>load<f32>(row + (<usize>y << 2)) : 0;
    const out = dz + (<usize>(r * C) << 2);
    let s: f64 = 0;
    for (let j: i32 = 0; j < C; j++) {
      const e = Math.exp(<f64>load<f32>(row + (<usize>j << 2)) - mx);
      s += e;
      if (dz != 0) store<f32>(out + (<usize>j << 2), <f32>e);
    }
    const lse = mx + Math.log(s);
    if (hit) total += lse - zy;
    if (dz != 0) {
      const scale: f64 = hit ? invB / s : 0;
      for (let j: i32 = 0; j < C; j++) {
        const at = out + (<usize>j << 2);
        store<f32>(at, <f32>(j == y ? (Math.exp(zy - lse) - 1) * invB : <f64>load<f32>(at) * scale));
      }
    }
  }
  return total * invB;
}

/**
 * Mean over n of (x - sigmoid(z))^2 (the autoencoder's reconstruction loss) for z, x [n]; with
 * dz != 0 also writes d loss / dz = -2 (x - s) / n * s (1 - s), s = sigmoid(z) (dz may alias z).
 */
export function sigmoidMse(z: usize, x: usize, dz: usize, n: i32): f64 {
  let total: f64 = 0;
  const scale: f64 = -2 / <f64>n;
  for (let i: i32 = 0; i < n; i++) {
    const at = <usize>i << 2;
    const s: f64 = 1 / (1 + Math.exp(-<f64>load<f32>(z + at)));
    const d: f64 = <f64>load<f32>(x + at) - s;
    total += d * d;
    if (dz != 0) store<f32>(dz + at, <f32>(scale * d * s * (1 - s)));
  }
  return total / <f64>n;
}

/** out[N] = column sums of x [B, N]. */
export function colSum(x: usize, out: usize, B: i32, N: i32): void {
  let n: i32 = 0;
  for (; n + 4 <= N; n += 4) {
    let acc = f32x4.splat(0);
    for (let r: i32 = 0; r < B; r++) acc = f32x4.add(acc, v128.load(x + (<usize>(r * N + n) << 2)));
    v128.store(out + (<usize>n << 2), acc);
  }
  for (; n < N; n++) {
    let acc: f32 = 0;
    for (let r: i32 = 0; r < B; r++) acc += load<f32>(x + (<usize>(r * N + n) << 2));
    store<f32>(out + (<usize>n << 2), acc);
  }
}

/** dst [C, R] = transpose of src [R, C]. */
export function transpose(src: usize, dst: usize, R: i32, C: i32): void {
  for (let r: i32 = 0; r < R; r++) {
    for (let c: i32 = 0; c < C; c++) store<f32>(dst + (<usize>(c * R + r) << 2), load<f32>(src + (<usize>(r * C + c) << 2)));
  }
}
