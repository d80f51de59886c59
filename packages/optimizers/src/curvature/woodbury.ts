/**
 * Float64 host arithmetic of M-FAC's dynamic algorithm (Frantar et al. 2021): the product of
 * the inverse of the damped empirical Fisher `F = damp I + (1/m) sum_i g_i g_i^T` of a window
 * of m gradients with a vector x, given only the Gram matrix `D = G G^T` and `G x`.
 *
 * Sherman–Morrison applied once per window gradient gives
 * `F^-1 x = x / damp - sum_i v_i (v_i^T x) / den_i` with `v_i = F_{i-1}^-1 g_i` and
 * `den_i = m + g_i^T v_i`. Every `v_i` is a combination of the window's gradients,
 * `v_i = sum_k B_ik g_k`, so `F^-1 x = x / damp - G^T w` with
 * `w_k = sum_i B_ik (B_i . Gx) / den_i`: O(m^3) here, and the two O(dm) products
 * `G x` and `G^T w` stay on the device.
 */

/** The Woodbury coefficients of a window: `B` (row-major m x m) and the denominators. */
export interface WoodburyCoefficients {
  readonly m: number;
  readonly b: Float64Array;
  readonly den: Float64Array;
}

/** Builds the coefficients from the Gram matrix `dots` (row-major m x m) and the damping. */
export function woodburyCoefficients(dots: ArrayLike<number>, m: number, damp: number): WoodburyCoefficients {
  const b = new Float64Array(m * m);
  const den = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    b[i * m + i] = 1 / damp;
    for (let j = 0; j < i; j++) {
      const s = rowDotColumn(b, j, dots, i, m) / (den[j] as number);
      for (let k = 0; k <= j; k++) b[i * m + k] = (b[i * m + k] as number) - s * (b[j * m + k] as number);
    }
    den[i] = m + rowDotColumn(b, i, dots, i, m);
  }
  return { m, b, den };
}

/** `sum_k B[row, k] * D[k, col]`. */
function rowDotColumn(b: Float64Array, row: number, dots: ArrayLike<number>, col: number, m: number): number {
  let s = 0;
  for (let k = 0; k <= row; k++) s += (b[row * m + k] as number) * (dots[k * m + col] as number);
  return s;
}

/** The weights `w` of `F^-1 x = x / damp - G^T w`, given `gx = G x`. */
export function woodburyWeights(c: WoodburyCoefficients, gx: ArrayLike<number>): Float64Array {
  const { m, b, den } = c;
  const w = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let vx = 0;
    for (let k = 0; k <= i; k++) vx += (b[i * m + k] as number) * (gx[k] as number);
    const s = vx / (den[i] as number);
    for (let k = 0; k <= i; k++) w[k] = (w[k] as number) + s * (b[i * m + k] as number);
  }
  return w;
}
