/**
 * Float64 host linear algebra for the Kronecker-factored preconditioners (Shampoo, SOAP):
 * the eigendecomposition of a symmetric matrix (Householder + implicit QL), matrix
 * roots built from it, and a thin QR by modified Gram–Schmidt. Matrices are row-major
 * `Float64Array`s of n x n (or n x k) numbers.
 */

/** Eigenvalues (ascending) and the eigenvectors as the columns of a row-major matrix. */
export interface SymmetricEigen {
  readonly n: number;
  readonly values: Float64Array;
  readonly vectors: Float64Array;
}

/** Householder reduction of the symmetric matrix in `v` to tridiagonal form (EISPACK `tred2`, as in JAMA). */
function tridiagonalize(v: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  const V = (i: number, j: number) => v[i * n + j] as number;
  const set = (i: number, j: number, x: number) => (v[i * n + j] = x);
  for (let j = 0; j < n; j++) d[j] = V(n - 1, j);
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k] as number);
    if (scale === 0) {
      e[i] = d[i - 1] as number;
      for (let j = 0; j < i; j++) {
        d[j] = V(i - 1, j);
        set(i, j, 0);
        set(j, i, 0);
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = (d[k] as number) / scale;
        h += (d[k] as number) ** 2;
      }
      let f = d[i - 1] as number;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j] as number;
        set(j, i, f);
        g = (e[j] as number) + V(j, j) * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V(k, j) * (d[k] as number);
          e[k] = (e[k] as number) + V(k, j) * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = (e[j] as number) / h;
        f += (e[j] as number) * (d[j] as number);
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = (e[j] as number) - hh * (d[j] as number);
      for (let j = 0; j < i; j++) {
        f = d[j] as number;
        g = e[j] as number;
        for (let k = j; k <= i - 1; k++) set(k, j, V(k, j) - (f * (e[k] as number) + g * (d[k] as number)));
        d[j] = V(i - 1, j);
        set(i, j, 0);
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    set(n - 1, i, V(i, i));
    set(i, i, 1);
    const h = d[i + 1] as number;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V(k, i + 1) / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V(k, i + 1) * V(k, j);
        for (let k = 0; k <= i; k++) set(k, j, V(k, j) - g * (d[k] as number));
      }
    }
    for (let k = 0; k <= i; k++) set(k, i + 1, 0);
  }
  for (let j = 0; j < n; j++) {
    d[j] = V(n - 1, j);
    set(n - 1, j, 0);
  }
  set(n - 1, n - 1, 1);
  e[0] = 0;
}

/** Implicit QL iterations on the tridiagonal form, accumulating the rotations into `v` (EISPACK `tql2`). */
function diagonalize(v: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i] as number;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l] as number) + Math.abs(e[l] as number));
    let m = l;
    while (m < n && Math.abs(e[m] as number) > eps * tst1) m++;
    if (m > l) {
      for (let iter = 0; iter < 60 && Math.abs(e[l] as number) > eps * tst1; iter++) {
        let g = d[l] as number;
        let p = ((d[l + 1] as number) - g) / (2 * (e[l] as number));
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = (e[l] as number) / (p + r);
        d[l + 1] = (e[l] as number) * (p + r);
        const dl1 = d[l + 1] as number;
        let h = g - (d[l] as number);
        for (let i = l + 2; i < n; i++) d[i] = (d[i] as number) - h;
        f += h;
        p = d[m] as number;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1] as number;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * (e[i] as number);
          h = c * p;
          r = Math.hypot(p, e[i] as number);
          e[i + 1] = s * r;
          s = (e[i] as number) / r;
          c = p / r;
          p = c * (d[i] as number) - s * g;
          d[i + 1] = h + s * (c * g + s * (d[i] as number));
          for (let k = 0; k < n; k++) {
            const vk1 = v[k * n + i + 1] as number;
            const vk = v[k * n + i] as number;
            v[k * n + i + 1] = s * vk + c * vk1;
            v[k * n + i] = c * vk - s * vk1;
          }
        }
        p = (-s * s2 * c3 * el1 * (e[l] as number)) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      }
    }
    d[l] = (d[l] as number) + f;
    e[l] = 0;
  }
}

/**
 * The eigendecomposition of the symmetric part of `matrix` (row-major n x n), in float64:
 * Householder tridiagonalization and implicit QL iterations (EISPACK `tred2`/`tql2`, as in
 * JAMA), about `9 n^3` flops. Throws a plain `Error` on non-finite input (the callers decide
 * what a failed decomposition means).
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): SymmetricEigen {
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) v[i * n + j] = 0.5 * ((matrix[i * n + j] as number) + (matrix[j * n + i] as number));
  if (!v.every(Number.isFinite)) throw new Error('symmetricEigen: the matrix has non-finite entries');
  if (n === 0) return { n, values: new Float64Array(0), vectors: v };
  // work on A / max|A| with entries far below double precision flushed to zero (denormals
  // would turn the Householder scaling into 0/0), then scale the eigenvalues back
  let scale = 0;
  for (const x of v) scale = Math.max(scale, Math.abs(x));
  if (scale > 0) for (let i = 0; i < n * n; i++) v[i] = Math.abs(v[i] as number) < 1e-150 * scale ? 0 : (v[i] as number) / scale;
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalize(v, d, e, n);
  diagonalize(v, d, e, n);
  if (scale > 0) for (let i = 0; i < n; i++) d[i] = (d[i] as number) * scale;
  return sortedEigen(d, v, n);
}

function sortedEigen(d: Float64Array, v: Float64Array, n: number): SymmetricEigen {
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => (d[i] as number) - (d[j] as number));
  const values = new Float64Array(order.map((i) => d[i] as number));
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src] as number;
  });
  return { n, values, vectors };
}

/** `V diag(f(values)) V^T` for an eigendecomposition. */
export function eigenFunction(e: SymmetricEigen, f: (value: number) => number): Float64Array {
  const { n, values, vectors } = e;
  const fv = values.map(f);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += (vectors[i * n + k] as number) * (fv[k] as number) * (vectors[j * n + k] as number);
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/**
 * `(A + ridge I)^(-1/p)` of a symmetric positive semi-definite A, with
 * `ridge = epsilon * max(lambda_max, 1e-6)` when `relative` (distributed Shampoo's
 * `relative_matrix_epsilon`) and `epsilon` otherwise. Eigenvalues below zero from round-off
 * are clamped to zero first.
 */
export function inversePthRoot(matrix: ArrayLike<number>, n: number, p: number, epsilon: number, relative: boolean): Float64Array {
  const e = symmetricEigen(matrix, n);
  const maxEv = n > 0 ? Math.max(e.values[n - 1] as number, 0) : 0;
  const ridge = relative ? epsilon * Math.max(maxEv, 1e-6) : epsilon;
  return eigenFunction(e, (l) => (Math.max(l, 0) + ridge) ** (-1 / p));
}

/**
 * The orthogonal factor Q of the QR decomposition of a row-major n x n matrix by Householder
 * reflections (LAPACK's `geqrf` convention: `R_jj = -sign(a_jj) * norm`), so Q is orthonormal
 * even when `a` is rank-deficient. Column signs may differ from other libraries'; SOAP's
 * Adam in the eigenbasis does not depend on them.
 */
export function householderQ(a: ArrayLike<number>, n: number): Float64Array {
  const r = Float64Array.from(a as ArrayLike<number>);
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  const v = new Float64Array(n);
  for (let j = 0; j < n - 1; j++) {
    // the reflector is scale-free: work on the column divided by its largest entry (no underflow)
    let scale = 0;
    for (let i = j; i < n; i++) scale = Math.max(scale, Math.abs(r[i * n + j] as number));
    if (scale === 0) continue;
    let norm = 0;
    for (let i = j; i < n; i++) norm += ((r[i * n + j] as number) / scale) ** 2;
    norm = Math.sqrt(norm);
    const x0 = (r[j * n + j] as number) / scale;
    const alpha = x0 >= 0 ? -norm : norm;
    let vnorm2 = 0;
    for (let i = j; i < n; i++) {
      v[i] = (r[i * n + j] as number) / scale - (i === j ? alpha : 0);
      vnorm2 += (v[i] as number) ** 2;
    }
    reflect(r, v, j, n, vnorm2, false);
    reflect(q, v, j, n, vnorm2, true);
  }
  return q;
}

/** `R <- H R` (rows j..n-1), or `Q <- Q H` (columns j..n-1), with `H = I - 2 v v^T / |v|^2`. */
function reflect(m: Float64Array, v: Float64Array, j: number, n: number, vnorm2: number, fromRight: boolean): void {
  for (let c = 0; c < n; c++) {
    let dot = 0;
    for (let i = j; i < n; i++) dot += (v[i] as number) * (fromRight ? (m[c * n + i] as number) : (m[i * n + c] as number));
    const f = (2 * dot) / vnorm2;
    for (let i = j; i < n; i++) {
      if (fromRight) m[c * n + i] = (m[c * n + i] as number) - f * (v[i] as number);
      else m[i * n + c] = (m[i * n + c] as number) - f * (v[i] as number);
    }
  }
}

/**
 * The inverse of a symmetric positive-definite row-major n x n matrix by Cholesky
 * factorization, in float64 (`O(n^3)`, about 3x cheaper than an eigendecomposition). Returns
 * undefined when the matrix is not positive definite (a non-positive or non-finite pivot).
 */
export function spdInverse(a: ArrayLike<number>, n: number): Float64Array | undefined {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j] as number;
    for (let k = 0; k < j; k++) d -= (l[j * n + k] as number) ** 2;
    if (!(d > 0) || !Number.isFinite(d)) return undefined;
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j] as number;
      for (let k = 0; k < j; k++) s -= (l[i * n + k] as number) * (l[j * n + k] as number);
      l[i * n + j] = s / ljj;
    }
  }
  // inv(L) by forward substitution, then inv(A) = inv(L)^T inv(L)
  const li = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    li[j * n + j] = 1 / (l[j * n + j] as number);
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s -= (l[i * n + k] as number) * (li[k * n + j] as number);
      li[i * n + j] = s / (l[i * n + i] as number);
    }
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = j; k < n; k++) s += (li[k * n + i] as number) * (li[k * n + j] as number);
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}
