// Fused AdafacMLPLOpt step for one rank-2 tensor [R, C], WebAssembly SIMD (AssemblyScript).
//
// Built by `pnpm build:wasm` (scripts/build-wasm.mjs) into src/adafac-wasm-binary.ts.
// The JS side (src/adafac-fused.ts) owns the memory layout: it copies tensors in, calls
// the three passes, and copies the results out. All arrays are float32, row-major; the
// accumulators are decay-first planes ([3, R, C] is three consecutive [R, C] planes).
//
// Per element (i, j) with per-row factors A_k[i] and per-column factors B_k[j] (k = 0..2):
//   features f = [g, p, m0, m1, m2, r, m0*q, m1*q, m2*q, q, g*A0*B0, g*A1*B1, g*A2*B2,
//                 m0*A0*B0, m1*A1*B1, m2*A2*B2],  q = 1 / sqrt(r + 1e-6)
// pass 1: row and column sums of g^2 + 1e-30 (for the factored accumulators)
// pass 2: update m_k, r; accumulate sum(f^2) for the normalization
// pass 3: recompute f, run the 16(+row/col contributions) -> 4 -> 4 -> 2 MLP, update p.
// Both passes compute the features with `features`, which hands each to `emit`: pass 2 adds its
// square to a lane accumulator, pass 3 stores it in a feature block the first layer loops over.

// ---------------------------------------------------------------------------------------
// Weights block layout (floats), written by JS before pass 3:
//   W0 [16][4] pre-scaled by the feature normalizers, B0 [4] (bias + step features),
//   W1 [4][4], B1 [4], W2 [4][2], B2 [2], EXP_MULT, STEP_MULT
const W0: usize = 0;
const B0: usize = 64;
const W1: usize = 68;
const B1: usize = 84;
const W2: usize = 88;
const B2: usize = 96;
const EXPM: usize = 98;
const STEPM: usize = 99;

@inline function splat(ptr: usize): v128 {
  return v128.load32_splat(ptr);
}

@inline function wt(w: usize, idx: usize): v128 {
  return v128.load32_splat(w + (idx << 2));
}

// exp for 4 lanes (Cephes expf: range reduction by ln2, degree-6 polynomial); rel. error ~1e-7.
@inline function exp4(v: v128): v128 {
  let x = f32x4.min(v, f32x4.splat(88.0));
  x = f32x4.max(x, f32x4.splat(-87.0));
  const fx = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(0.693359375)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  const z = f32x4.mul(x, x);
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.mul(y, z), x);
  y = f32x4.add(y, f32x4.splat(1.0));
  const n = i32x4.trunc_sat_f32x4_s(fx);
  const pow2n = i32x4.shl(i32x4.add(n, i32x4.splat(127)), 23);
  return f32x4.mul(y, pow2n);
}

@inline function hsum(v: v128): f64 {
  return (
    <f64>f32x4.extract_lane(v, 0) +
    <f64>f32x4.extract_lane(v, 1) +
    <f64>f32x4.extract_lane(v, 2) +
    <f64>f32x4.extract_lane(v, 3)
  );
}

/** Pass 1: rowSum[i] = sum_j (g^2 + 1e-30), colSum[j] = sum_i (g^2 + 1e-30). `colSum` must be zeroed. C4 = C rounded down to 4. */
export function rowColSums(g: usize, R: i32, C: i32, rowSum: usize, colSum: usize): void {
  const eps = f32x4.splat(1e-30);
  const C4 = C & ~3;
  for (let i = 0; i < R; i++) {
    const row = g + ((<usize>i * <usize>C) << 2);
    let acc = f32x4.splat(0);
    for (let j = 0; j < C4; j += 4) {
      const gv = v128.load(row + (<usize>j << 2));
      const s = f32x4.add(f32x4.mul(gv, gv), eps);
      acc = f32x4.add(acc, s);
      const cp = colSum + (<usize>j << 2);
      v128.store(cp, f32x4.add(v128.load(cp), s));
    }
    let total = <f32>hsum(acc);
    for (let j = C4; j < C; j++) {
      const gv = load<f32>(row + (<usize>j << 2));
      const s = gv * gv + <f32>1e-30;
      total += s;
      const cp = colSum + (<usize>j << 2);
      store<f32>(cp, load<f32>(cp) + s);
    }
    store<f32>(rowSum + (<usize>i << 2), total);
  }
}

// Scratch (JS-owned, 1 KiB; byte offsets): row tails (C not a multiple of 4) in 4-float slots at
// 0..320 (see padLeafTail), the 16 features of the current group of 4 elements at FEAT (pass 3),
// the 16 lane accumulators of the sums of squares at ACC (pass 2).
let scratch: usize = 0;
const FEAT: usize = 320;
const ACC: usize = FEAT + 256;
const NF: usize = 16;

/** Sets the address of a 1 KiB scratch area (JS-owned). */
export function setScratch(ptr: usize): void {
  scratch = ptr;
}

// Copies `count` (< 4) floats from src into a zero-padded 4-float slot dst.
@inline function pad(dst: usize, src: usize, count: i32): void {
  v128.store(dst, f32x4.splat(0));
  for (let l = 0; l < count; l++) store<f32>(dst + (<usize>l << 2), load<f32>(src + (<usize>l << 2)));
}

@inline function unpad(dst: usize, src: usize, count: i32): void {
  for (let l = 0; l < count; l++) store<f32>(dst + (<usize>l << 2), load<f32>(src + (<usize>l << 2)));
}

// Hands feature `f` (0..15) of a group to its pass: pass 2 (`toStats`, `to` = scratch + ACC) adds
// its square, lanes selected by `mask`, to lane accumulator f; pass 3 (`to` = scratch + FEAT)
// stores it in the feature block.
@inline function emit(to: usize, f: usize, x: v128, toStats: bool, mask: v128): void {
  const at = to + (f << 4);
  if (toStats) {
    v128.store(at, f32x4.add(v128.load(at), v128.and(f32x4.mul(x, x), mask)));
  } else {
    v128.store(at, x);
  }
}

// The 16 features of one group of 4 elements (order of the header), each handed to `emit`.
// Moment k (k = 0..2) is at m + k * plane, column factor k at b + k * colPlane and row factor k
// (one float, splatted) at a + k * rowPlane.
@inline function features(
  gv: v128, pv: v128, rv: v128, m: usize, plane: usize,
  a: usize, rowPlane: usize, b: usize, colPlane: usize, to: usize, toStats: bool, mask: v128,
): void {
  const q = f32x4.div(f32x4.splat(1.0), f32x4.sqrt(f32x4.add(rv, f32x4.splat(1e-6))));
  emit(to, 0, gv, toStats, mask);
  emit(to, 1, pv, toStats, mask);
  emit(to, 5, rv, toStats, mask);
  emit(to, 9, q, toStats, mask);
  momentFeatures(0, gv, q, m, plane, a, rowPlane, b, colPlane, to, toStats, mask);
  momentFeatures(1, gv, q, m, plane, a, rowPlane, b, colPlane, to, toStats, mask);
  momentFeatures(2, gv, q, m, plane, a, rowPlane, b, colPlane, to, toStats, mask);
}

// The four features of moment k: m_k, m_k q, g A_k B_k, m_k A_k B_k.
@inline function momentFeatures(
  k: usize, gv: v128, q: v128, m: usize, plane: usize,
  a: usize, rowPlane: usize, b: usize, colPlane: usize, to: usize, toStats: bool, mask: v128,
): void {
  const mk = v128.load(m + k * plane);
  const fk = f32x4.mul(splat(a + k * rowPlane), v128.load(b + k * colPlane));
  emit(to, 2 + k, mk, toStats, mask);
  emit(to, 6 + k, f32x4.mul(mk, q), toStats, mask);
  emit(to, 10 + k, f32x4.mul(gv, fk), toStats, mask);
  emit(to, 13 + k, f32x4.mul(mk, fk), toStats, mask);
}

// Zeroes the lane accumulators of pass 2.
@inline function clearStats(): void {
  for (let f: usize = 0; f < NF; f++) v128.store(scratch + ACC + (f << 4), f32x4.splat(0));
}

// Adds the lane accumulators (f32 lanes within a row) to the 16 f64 sums at `stats` (f64 across
// rows) and zeroes them.
@inline function flushStats(stats: usize): void {
  for (let f: usize = 0; f < NF; f++) {
    const acc = scratch + ACC + (f << 4);
    store<f64>(stats + (f << 3), load<f64>(stats + (f << 3)) + hsum(v128.load(acc)));
    v128.store(acc, f32x4.splat(0));
  }
}

// Exponential moving average: d * old + (1 - d) * x.
@inline function ema(d: v128, old: v128, x: v128): v128 {
  return f32x4.add(f32x4.mul(d, old), f32x4.mul(f32x4.sub(f32x4.splat(1.0), d), x));
}

// Moment k of a group (decay dec[k]): om_k = ema(d_k, m_k, g).
@inline function updateMoment(k: usize, gv: v128, m: usize, om: usize, plane: usize, dec: usize): void {
  v128.store(om + k * plane, ema(splat(dec + (k << 2)), v128.load(m + k * plane), gv));
}

// One group of 4 elements of pass 2: new moments to om + k * plane, new r to `or`, and the
// squared features (the lanes `mask` keeps) added to the lane accumulators.
@inline function statsBody(
  g: usize, p: usize, m: usize, om: usize, plane: usize, r: usize, or: usize,
  a: usize, rowPlane: usize, b: usize, colPlane: usize, dec: usize, mask: v128,
): void {
  const gv = v128.load(g);
  updateMoment(0, gv, m, om, plane, dec);
  updateMoment(1, gv, m, om, plane, dec);
  updateMoment(2, gv, m, om, plane, dec);
  const rv = ema(splat(dec + 12), v128.load(r), f32x4.mul(gv, gv));
  v128.store(or, rv);
  features(gv, v128.load(p), rv, om, plane, a, rowPlane, b, colPlane, scratch + ACC, true, mask);
}

/**
 * Pass 2: accumulator update and feature statistics. `m` and `om` hold 3 planes of R*C
 * floats, `A` 3 planes of R, `B` 3 planes of C; `dec` = [d0, d1, d2, c] (momentum decays,
 * clipped rms decay); `stats` receives 16 f64 sums of squares (must be zeroed).
 */
export function stats(
  g: usize, p: usize, m: usize, r: usize, om: usize, or: usize,
  A: usize, B: usize, R: i32, C: i32, dec: usize, stats: usize,
): void {
  const plane = (<usize>R * <usize>C) << 2;
  const ones = i32x4.splat(-1);
  const C4 = C & ~3;
  const tail = C - C4;
  const tailMask = i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(tail));
  const Rb = <usize>R << 2;
  const Cb = <usize>C << 2;
  clearStats();
  for (let i = 0; i < R; i++) {
    const base = (<usize>i * <usize>C) << 2;
    const a = A + (<usize>i << 2);
    for (let j = 0; j < C4; j += 4) {
      const o = base + (<usize>j << 2);
      statsBody(g + o, p + o, m + o, om + o, plane, r + o, or + o, a, Rb, B + (<usize>j << 2), Cb, dec, ones);
    }
    if (tail > 0) {
      const o = base + (<usize>C4 << 2);
      const S = scratch;
      padLeafTail(S, g, p, m, r, B, o, <usize>C4 << 2, plane, Cb, tail);
      statsBody(S, S + 16, S + 32, S + 144, 16, S + 80, S + 192, a, Rb, S + 96, 16, dec, tailMask);
      for (let k: usize = 0; k < 3; k++) unpad(om + k * plane + o, S + 144 + (k << 4), tail);
      unpad(or + o, S + 192, tail);
    }
    flushStats(stats);
  }
}

// Copies the last `tail` (< 4) elements of a row (byte offset `o`, column byte offset `jb`) of
// g, p, the three moment planes, r and the three column factors into 4-float slots of the
// scratch `S` (g, p, m0..m2, r, B0..B2 at S, S + 16, ..., S + 128), zero-padded, so the 4-wide
// bodies can run on them.
@inline function padLeafTail(
  S: usize, g: usize, p: usize, m: usize, r: usize, B: usize,
  o: usize, jb: usize, plane: usize, Cb: usize, tail: i32,
): void {
  pad(S, g + o, tail);
  pad(S + 16, p + o, tail);
  pad(S + 80, r + o, tail);
  for (let k: usize = 0; k < 3; k++) {
    pad(S + 32 + (k << 4), m + k * plane + o, tail);
    pad(S + 96 + (k << 4), B + k * Cb + jb, tail);
  }
}

// Unit `o` of a dense layer on 4 inputs x0..x3: weights W [4][n] and bias B (float indices
// into the weights block `w`).
@inline function dense4(x0: v128, x1: v128, x2: v128, x3: v128, w: usize, W: usize, B: usize, n: usize, o: usize): v128 {
  const s01 = f32x4.add(f32x4.mul(x0, wt(w, W + o)), f32x4.mul(x1, wt(w, W + n + o)));
  const s23 = f32x4.add(f32x4.mul(x2, wt(w, W + 2 * n + o)), f32x4.mul(x3, wt(w, W + 3 * n + o)));
  return f32x4.add(wt(w, B + o), f32x4.add(s01, s23));
}

@inline function relu(x: v128): v128 {
  return f32x4.max(x, f32x4.splat(0));
}

// First-layer unit `u` before the features: row contribution (ci, planes rowPlane apart,
// splatted) + column contribution (cj, planes colPlane apart) + bias.
@inline function unit0(ci: usize, rowPlane: usize, cj: usize, colPlane: usize, w: usize, u: usize): v128 {
  return f32x4.add(f32x4.add(splat(ci + u * rowPlane), v128.load(cj + u * colPlane)), wt(w, B0 + u));
}

// One group of 4 elements of pass 3: moments (m + k * plane), factors and contributions as in
// `features` and `unit0`; the new parameters go to `op`.
@inline function applyBody(
  g: usize, p: usize, m: usize, plane: usize, r: usize, op: usize,
  a: usize, rowPlane: usize, b: usize, colPlane: usize, ci: usize, cj: usize, w: usize,
): void {
  const pv = v128.load(p);
  const F = scratch + FEAT;
  features(v128.load(g), pv, v128.load(r), m, plane, a, rowPlane, b, colPlane, F, false, i32x4.splat(-1));
  // hidden layer 1: 4 units; W0 is [16 features][4 units]
  let h0 = unit0(ci, rowPlane, cj, colPlane, w, 0);
  let h1 = unit0(ci, rowPlane, cj, colPlane, w, 1);
  let h2 = unit0(ci, rowPlane, cj, colPlane, w, 2);
  let h3 = unit0(ci, rowPlane, cj, colPlane, w, 3);
  for (let f: usize = 0; f < NF; f++) {
    const x = v128.load(F + (f << 4));
    const wf = W0 + (f << 2);
    h0 = f32x4.add(h0, f32x4.mul(x, wt(w, wf)));
    h1 = f32x4.add(h1, f32x4.mul(x, wt(w, wf + 1)));
    h2 = f32x4.add(h2, f32x4.mul(x, wt(w, wf + 2)));
    h3 = f32x4.add(h3, f32x4.mul(x, wt(w, wf + 3)));
  }
  h0 = relu(h0);
  h1 = relu(h1);
  h2 = relu(h2);
  h3 = relu(h3);
  // hidden layer 2: W1 is [4 in][4 out]
  const k0 = relu(dense4(h0, h1, h2, h3, w, W1, B1, 4, 0));
  const k1 = relu(dense4(h0, h1, h2, h3, w, W1, B1, 4, 1));
  const k2 = relu(dense4(h0, h1, h2, h3, w, W1, B1, 4, 2));
  const k3 = relu(dense4(h0, h1, h2, h3, w, W1, B1, 4, 3));
  // output layer: W2 is [4 in][2 out]
  const dir = dense4(k0, k1, k2, k3, w, W2, B2, 2, 0);
  const mag = dense4(k0, k1, k2, k3, w, W2, B2, 2, 1);
  const step = f32x4.mul(f32x4.mul(dir, exp4(f32x4.mul(mag, wt(w, EXPM)))), wt(w, STEPM));
  v128.store(op, f32x4.sub(pv, step));
}

/**
 * Pass 3: features, MLP and parameter update. `m`, `r` are the updated accumulators from
 * pass 2; `ci` holds 4 planes of R floats (per-row first-layer contributions), `cj` 4 planes
 * of C floats (per-column contributions); `w` the weights block; `op` receives new params.
 */
export function apply(
  g: usize, p: usize, m: usize, r: usize, op: usize,
  A: usize, B: usize, ci: usize, cj: usize, R: i32, C: i32, w: usize,
): void {
  const plane = (<usize>R * <usize>C) << 2;
  const C4 = C & ~3;
  const tail = C - C4;
  const Rb = <usize>R << 2;
  const Cb = <usize>C << 2;
  for (let i = 0; i < R; i++) {
    const base = (<usize>i * <usize>C) << 2;
    const ib = <usize>i << 2;
    for (let j = 0; j < C4; j += 4) {
      const o = base + (<usize>j << 2);
      const jb = <usize>j << 2;
      applyBody(g + o, p + o, m + o, plane, r + o, op + o, A + ib, Rb, B + jb, Cb, ci + ib, cj + jb, w);
    }
    if (tail > 0) {
      const o = base + (<usize>C4 << 2);
      const jb = <usize>C4 << 2;
      const S = scratch;
      padLeafTail(S, g, p, m, r, B, o, jb, plane, Cb, tail);
      // column contributions: 4 planes of 4 floats at S + 256, plane stride 16 bytes
      for (let u: usize = 0; u < 4; u++) pad(S + 256 + (u << 4), cj + u * Cb + jb, tail);
      applyBody(S, S + 16, S + 32, 16, S + 80, S + 144, A + ib, Rb, S + 96, 16, ci + ib, S + 256, w);
      unpad(op + o, S + 144, tail);
    }
  }
}
