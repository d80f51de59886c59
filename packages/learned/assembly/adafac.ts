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

// Scratch for row tails (C not a multiple of 4): 4 lanes for each of 12 arrays.
let scratch: usize = 0;

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

// Running sums of squares for the 16 features (f32 lanes within a row, f64 across rows).
let s0: v128 = f32x4.splat(0);
let s1: v128 = f32x4.splat(0);
let s2: v128 = f32x4.splat(0);
let s3: v128 = f32x4.splat(0);
let s4: v128 = f32x4.splat(0);
let s5: v128 = f32x4.splat(0);
let s6: v128 = f32x4.splat(0);
let s7: v128 = f32x4.splat(0);
let s8: v128 = f32x4.splat(0);
let s9: v128 = f32x4.splat(0);
let s10: v128 = f32x4.splat(0);
let s11: v128 = f32x4.splat(0);
let s12: v128 = f32x4.splat(0);
let s13: v128 = f32x4.splat(0);
let s14: v128 = f32x4.splat(0);
let s15: v128 = f32x4.splat(0);

@inline function sq(x: v128, mask: v128): v128 {
  return v128.and(f32x4.mul(x, x), mask);
}

// One group of 4 elements of pass 2.
@inline function statsBody(
  g: usize, p: usize, m0: usize, m1: usize, m2: usize, r: usize,
  om0: usize, om1: usize, om2: usize, or: usize,
  a0: v128, a1: v128, a2: v128, b0: usize, b1: usize, b2: usize,
  d0: v128, d1: v128, d2: v128, c: v128, mask: v128,
): void {
  const one = f32x4.splat(1.0);
  const gv = v128.load(g);
  const pv = v128.load(p);
  const n0 = f32x4.add(f32x4.mul(d0, v128.load(m0)), f32x4.mul(f32x4.sub(one, d0), gv));
  const n1 = f32x4.add(f32x4.mul(d1, v128.load(m1)), f32x4.mul(f32x4.sub(one, d1), gv));
  const n2 = f32x4.add(f32x4.mul(d2, v128.load(m2)), f32x4.mul(f32x4.sub(one, d2), gv));
  const rv = f32x4.add(f32x4.mul(c, v128.load(r)), f32x4.mul(f32x4.sub(one, c), f32x4.mul(gv, gv)));
  v128.store(om0, n0);
  v128.store(om1, n1);
  v128.store(om2, n2);
  v128.store(or, rv);
  const q = f32x4.div(one, f32x4.sqrt(f32x4.add(rv, f32x4.splat(1e-6))));
  const f0 = f32x4.mul(a0, v128.load(b0));
  const f1 = f32x4.mul(a1, v128.load(b1));
  const f2 = f32x4.mul(a2, v128.load(b2));
  s0 = f32x4.add(s0, sq(gv, mask));
  s1 = f32x4.add(s1, sq(pv, mask));
  s2 = f32x4.add(s2, sq(n0, mask));
  s3 = f32x4.add(s3, sq(n1, mask));
  s4 = f32x4.add(s4, sq(n2, mask));
  s5 = f32x4.add(s5, sq(rv, mask));
  s6 = f32x4.add(s6, sq(f32x4.mul(n0, q), mask));
  s7 = f32x4.add(s7, sq(f32x4.mul(n1, q), mask));
  s8 = f32x4.add(s8, sq(f32x4.mul(n2, q), mask));
  s9 = f32x4.add(s9, sq(q, mask));
  s10 = f32x4.add(s10, sq(f32x4.mul(gv, f0), mask));
  s11 = f32x4.add(s11, sq(f32x4.mul(gv, f1), mask));
  s12 = f32x4.add(s12, sq(f32x4.mul(gv, f2), mask));
  s13 = f32x4.add(s13, sq(f32x4.mul(n0, f0), mask));
  s14 = f32x4.add(s14, sq(f32x4.mul(n1, f1), mask));
  s15 = f32x4.add(s15, sq(f32x4.mul(n2, f2), mask));
}

@inline function flushStats(stats: usize): void {
  store<f64>(stats + 0, load<f64>(stats + 0) + hsum(s0));
  store<f64>(stats + 8, load<f64>(stats + 8) + hsum(s1));
  store<f64>(stats + 16, load<f64>(stats + 16) + hsum(s2));
  store<f64>(stats + 24, load<f64>(stats + 24) + hsum(s3));
  store<f64>(stats + 32, load<f64>(stats + 32) + hsum(s4));
  store<f64>(stats + 40, load<f64>(stats + 40) + hsum(s5));
  store<f64>(stats + 48, load<f64>(stats + 48) + hsum(s6));
  store<f64>(stats + 56, load<f64>(stats + 56) + hsum(s7));
  store<f64>(stats + 64, load<f64>(stats + 64) + hsum(s8));
  store<f64>(stats + 72, load<f64>(stats + 72) + hsum(s9));
  store<f64>(stats + 80, load<f64>(stats + 80) + hsum(s10));
  store<f64>(stats + 88, load<f64>(stats + 88) + hsum(s11));
  store<f64>(stats + 96, load<f64>(stats + 96) + hsum(s12));
  store<f64>(stats + 104, load<f64>(stats + 104) + hsum(s13));
  store<f64>(stats + 112, load<f64>(stats + 112) + hsum(s14));
  store<f64>(stats + 120, load<f64>(stats + 120) + hsum(s15));
  const z = f32x4.splat(0);
  s0 = z; s1 = z; s2 = z; s3 = z; s4 = z; s5 = z; s6 = z; s7 = z;
  s8 = z; s9 = z; s10 = z; s11 = z; s12 = z; s13 = z; s14 = z; s15 = z;
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
  const N = <usize>R * <usize>C;
  const plane = N << 2;
  const d0 = splat(dec);
  const d1 = splat(dec + 4);
  const d2 = splat(dec + 8);
  const c = splat(dec + 12);
  const ones = i32x4.splat(-1);
  const C4 = C & ~3;
  const tail = C - C4;
  const tailMask = i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(tail));
  const Rb = <usize>R << 2;
  const Cb = <usize>C << 2;
  flushStats(scratch + 768); // zero the lane accumulators (writes into scratch)
  for (let i = 0; i < R; i++) {
    const base = (<usize>i * <usize>C) << 2;
    const ib = <usize>i << 2;
    const a0 = splat(A + ib);
    const a1 = splat(A + Rb + ib);
    const a2 = splat(A + 2 * Rb + ib);
    for (let j = 0; j < C4; j += 4) {
      const o = base + (<usize>j << 2);
      const jb = <usize>j << 2;
      statsBody(
        g + o, p + o, m + o, m + plane + o, m + 2 * plane + o, r + o,
        om + o, om + plane + o, om + 2 * plane + o, or + o,
        a0, a1, a2, B + jb, B + Cb + jb, B + 2 * Cb + jb,
        d0, d1, d2, c, ones,
      );
    }
    if (tail > 0) {
      const o = base + (<usize>C4 << 2);
      const jb = <usize>C4 << 2;
      const S = scratch;
      padLeafTail(S, g, p, m, r, B, o, jb, plane, Cb, tail);
      statsBody(S, S + 16, S + 32, S + 48, S + 64, S + 80, S + 144, S + 160, S + 176, S + 192, a0, a1, a2, S + 96, S + 112, S + 128, d0, d1, d2, c, tailMask);
      unpad(om + o, S + 144, tail);
      unpad(om + plane + o, S + 160, tail);
      unpad(om + 2 * plane + o, S + 176, tail);
      unpad(or + o, S + 192, tail);
    }
    flushStats(stats);
  }
}

// Copies the last `tail` (< 4) elements of a row (byte offset `o`, column byte offset `jb`) of
// g, p, the three moment planes, r and the three column factors into 4-float slots of the
// scratch `S` (S, S + 16, ..., S + 128), zero-padded, so the 4-wide bodies can run on them.
@inline function padLeafTail(
  S: usize, g: usize, p: usize, m: usize, r: usize, B: usize,
  o: usize, jb: usize, plane: usize, Cb: usize, tail: i32,
): void {
  pad(S, g + o, tail);
  pad(S + 16, p + o, tail);
  pad(S + 32, m + o, tail);
  pad(S + 48, m + plane + o, tail);
  pad(S + 64, m + 2 * plane + o, tail);
  pad(S + 80, r + o, tail);
  pad(S + 96, B + jb, tail);
  pad(S + 112, B + Cb + jb, tail);
  pad(S + 128, B + 2 * Cb + jb, tail);
}

// One group of 4 elements of pass 3. `ci` is this row's 4 contributions (splatted);
// cj points at the column contributions (4 planes of C floats).
@inline function applyBody(
  g: usize, p: usize, m0: usize, m1: usize, m2: usize, r: usize, op: usize,
  a0: v128, a1: v128, a2: v128, b0: usize, b1: usize, b2: usize,
  ci0: v128, ci1: v128, ci2: v128, ci3: v128, cj: usize, cjPlane: usize, w: usize,
): void {
  const one = f32x4.splat(1.0);
  const zero = f32x4.splat(0);
  const gv = v128.load(g);
  const pv = v128.load(p);
  const n0 = v128.load(m0);
  const n1 = v128.load(m1);
  const n2 = v128.load(m2);
  const rv = v128.load(r);
  const q = f32x4.div(one, f32x4.sqrt(f32x4.add(rv, f32x4.splat(1e-6))));
  const f0 = f32x4.mul(a0, v128.load(b0));
  const f1 = f32x4.mul(a1, v128.load(b1));
  const f2 = f32x4.mul(a2, v128.load(b2));
  // hidden layer 1: 4 units
  let h0 = f32x4.add(f32x4.add(ci0, v128.load(cj)), wt(w, B0));
  let h1 = f32x4.add(f32x4.add(ci1, v128.load(cj + cjPlane)), wt(w, B0 + 1));
  let h2 = f32x4.add(f32x4.add(ci2, v128.load(cj + 2 * cjPlane)), wt(w, B0 + 2));
  let h3 = f32x4.add(f32x4.add(ci3, v128.load(cj + 3 * cjPlane)), wt(w, B0 + 3));
  let x = gv;
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 0))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 1))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 2))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 3)));
  x = pv;
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 4))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 5))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 6))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 7)));
  x = n0;
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 8))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 9))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 10))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 11)));
  x = n1;
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 12))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 13))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 14))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 15)));
  x = n2;
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 16))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 17))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 18))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 19)));
  x = rv;
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 20))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 21))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 22))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 23)));
  x = f32x4.mul(n0, q);
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 24))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 25))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 26))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 27)));
  x = f32x4.mul(n1, q);
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 28))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 29))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 30))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 31)));
  x = f32x4.mul(n2, q);
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 32))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 33))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 34))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 35)));
  x = q;
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 36))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 37))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 38))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 39)));
  x = f32x4.mul(gv, f0);
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 40))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 41))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 42))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 43)));
  x = f32x4.mul(gv, f1);
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 44))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 45))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 46))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 47)));
  x = f32x4.mul(gv, f2);
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 48))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 49))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 50))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 51)));
  x = f32x4.mul(n0, f0);
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 52))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 53))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 54))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 55)));
  x = f32x4.mul(n1, f1);
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 56))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 57))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 58))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 59)));
  x = f32x4.mul(n2, f2);
  h0 = f32x4.add(h0, f32x4.mul(x, wt(w, 60))); h1 = f32x4.add(h1, f32x4.mul(x, wt(w, 61))); h2 = f32x4.add(h2, f32x4.mul(x, wt(w, 62))); h3 = f32x4.add(h3, f32x4.mul(x, wt(w, 63)));
  h0 = f32x4.max(h0, zero); h1 = f32x4.max(h1, zero); h2 = f32x4.max(h2, zero); h3 = f32x4.max(h3, zero);
  // hidden layer 2: W1 is [4 in][4 out]
  let k0 = f32x4.add(wt(w, B1), f32x4.add(f32x4.add(f32x4.mul(h0, wt(w, W1)), f32x4.mul(h1, wt(w, W1 + 4))), f32x4.add(f32x4.mul(h2, wt(w, W1 + 8)), f32x4.mul(h3, wt(w, W1 + 12)))));
  let k1 = f32x4.add(wt(w, B1 + 1), f32x4.add(f32x4.add(f32x4.mul(h0, wt(w, W1 + 1)), f32x4.mul(h1, wt(w, W1 + 5))), f32x4.add(f32x4.mul(h2, wt(w, W1 + 9)), f32x4.mul(h3, wt(w, W1 + 13)))));
  let k2 = f32x4.add(wt(w, B1 + 2), f32x4.add(f32x4.add(f32x4.mul(h0, wt(w, W1 + 2)), f32x4.mul(h1, wt(w, W1 + 6))), f32x4.add(f32x4.mul(h2, wt(w, W1 + 10)), f32x4.mul(h3, wt(w, W1 + 14)))));
  let k3 = f32x4.add(wt(w, B1 + 3), f32x4.add(f32x4.add(f32x4.mul(h0, wt(w, W1 + 3)), f32x4.mul(h1, wt(w, W1 + 7))), f32x4.add(f32x4.mul(h2, wt(w, W1 + 11)), f32x4.mul(h3, wt(w, W1 + 15)))));
  k0 = f32x4.max(k0, zero); k1 = f32x4.max(k1, zero); k2 = f32x4.max(k2, zero); k3 = f32x4.max(k3, zero);
  // output layer: W2 is [4 in][2 out]
  const dir = f32x4.add(wt(w, B2), f32x4.add(f32x4.add(f32x4.mul(k0, wt(w, W2)), f32x4.mul(k1, wt(w, W2 + 2))), f32x4.add(f32x4.mul(k2, wt(w, W2 + 4)), f32x4.mul(k3, wt(w, W2 + 6)))));
  const mag = f32x4.add(wt(w, B2 + 1), f32x4.add(f32x4.add(f32x4.mul(k0, wt(w, W2 + 1)), f32x4.mul(k1, wt(w, W2 + 3))), f32x4.add(f32x4.mul(k2, wt(w, W2 + 5)), f32x4.mul(k3, wt(w, W2 + 7)))));
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
  const N = <usize>R * <usize>C;
  const plane = N << 2;
  const C4 = C & ~3;
  const tail = C - C4;
  const Rb = <usize>R << 2;
  const Cb = <usize>C << 2;
  for (let i = 0; i < R; i++) {
    const base = (<usize>i * <usize>C) << 2;
    const ib = <usize>i << 2;
    const a0 = splat(A + ib);
    const a1 = splat(A + Rb + ib);
    const a2 = splat(A + 2 * Rb + ib);
    const ci0 = splat(ci + ib);
    const ci1 = splat(ci + Rb + ib);
    const ci2 = splat(ci + 2 * Rb + ib);
    const ci3 = splat(ci + 3 * Rb + ib);
    for (let j = 0; j < C4; j += 4) {
      const o = base + (<usize>j << 2);
      const jb = <usize>j << 2;
      applyBody(
        g + o, p + o, m + o, m + plane + o, m + 2 * plane + o, r + o, op + o,
        a0, a1, a2, B + jb, B + Cb + jb, B + 2 * Cb + jb,
        ci0, ci1, ci2, ci3, cj + jb, Cb, w,
      );
    }
    if (tail > 0) {
      const o = base + (<usize>C4 << 2);
      const jb = <usize>C4 << 2;
      const S = scratch;
      padLeafTail(S, g, p, m, r, B, o, jb, plane, Cb, tail);
      // column contributions: 4 planes of 4 floats at S + 256, plane stride 16 bytes
      pad(S + 256, cj + jb, tail);
      pad(S + 272, cj + Cb + jb, tail);
      pad(S + 288, cj + 2 * Cb + jb, tail);
      pad(S + 304, cj + 3 * Cb + jb, tail);
      applyBody(S, S + 16, S + 32, S + 48, S + 64, S + 80, S + 144, a0, a1, a2, S + 96, S + 112, S + 128, ci0, ci1, ci2, ci3, S + 256, 16, w);
      unpad(op + o, S + 144, tail);
    }
  }
}
