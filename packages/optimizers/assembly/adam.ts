// Fused Adam/AdamW step over float32 arrays in the caller's memory (tfjs-backend-wasm's heap):
// one pass, 4 lanes at a time with WebAssembly SIMD. Pointers are byte offsets.
// m' = c1 g + b1 m; v' = c2 g^2 + b2 v; p' = p - lr ((m' ib1) / (sqrt(v' ib2 + er) + eps) + wd p)
// Build: pnpm --filter @lopt/optimizers build:wasm  (writes src/fused/adam-wasm-binary.ts)

export function adam(
  p: usize, g: usize, m: usize, v: usize, po: usize, mo: usize, vo: usize, n: i32,
  b1: f32, b2: f32, c1: f32, c2: f32, ib1: f32, ib2: f32, er: f32, eps: f32, lr: f32, wd: f32,
): void {
  const vb1 = f32x4.splat(b1);
  const vb2 = f32x4.splat(b2);
  const vc1 = f32x4.splat(c1);
  const vc2 = f32x4.splat(c2);
  const vib1 = f32x4.splat(ib1);
  const vib2 = f32x4.splat(ib2);
  const ver = f32x4.splat(er);
  const veps = f32x4.splat(eps);
  const vlr = f32x4.splat(lr);
  const vwd = f32x4.splat(wd);
  const n4 = n & ~3;
  let i: i32 = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i << 2;
    const gi = v128.load(g + o);
    const pi = v128.load(p + o);
    const mi = f32x4.add(f32x4.mul(vc1, gi), f32x4.mul(vb1, v128.load(m + o)));
    const vi = f32x4.add(f32x4.mul(vc2, f32x4.mul(gi, gi)), f32x4.mul(vb2, v128.load(v + o)));
    const den = f32x4.add(f32x4.sqrt(f32x4.add(f32x4.mul(vi, vib2), ver)), veps);
    const u = f32x4.add(f32x4.div(f32x4.mul(mi, vib1), den), f32x4.mul(vwd, pi));
    v128.store(mo + o, mi);
    v128.store(vo + o, vi);
    v128.store(po + o, f32x4.sub(pi, f32x4.mul(vlr, u)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const pi = load<f32>(p + o);
    const mi = c1 * gi + b1 * load<f32>(m + o);
    const vi = c2 * (gi * gi) + b2 * load<f32>(v + o);
    const u = (mi * ib1) / (Mathf.sqrt(vi * ib2 + er) + eps) + wd * pi;
    store<f32>(mo + o, mi);
    store<f32>(vo + o, vi);
    store<f32>(po + o, pi - lr * u);
  }
}
