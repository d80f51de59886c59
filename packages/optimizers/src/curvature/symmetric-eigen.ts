/**
 * Float64 host linear algebra for the Kronecker-factored preconditioners (Shampoo, SOAP):
 * the eigendecomposition of a small symmetric matrix by cyclic Jacobi rotations, matrix
 * roots built from it, and a thin QR by modified Gram–Schmidt. Matrices are row-major
 * `Float64Array`s of n x n (or n x k) numbers.
 */

/** Eigenvalues (ascending) and the eigenvectors as the columns of a row-major matrix. */
export interface SymmetricEigen {
  readonly n: number;
  readonly values: Float64Array;
  readonly vectors: Float64Array;
}

const MAX_SWEEPS = 60;

/** `sum of squares of the off-diagonal entries` of a row-major n x n matrix. */
function offDiagonalNorm2(a: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) s += (a[i * n + j] as number) ** 2;
  return s;
}

/** Applies the Jacobi rotation that zeroes `a[p][q]` to `a` (both sides) and to `v` (columns). */
function rotate(a: Float64Array, v: Float64Array, n: number, p: number, q: number): void {
  const apq = a[p * n + q] as number;
  if (apq === 0) return;
  const app = a[p * n + p] as number;
  const aqq = a[q * n + q] as number;
  const theta = (aqq - app) / (2 * apq);
  const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
  const c = 1 / Math.sqrt(t * t + 1);
  const s = t * c;
  for (let k = 0; k < n; k++) {
    const akp = a[k * n + p] as number;
    const akq = a[k * n + q] as number;
    a[k * n + p] = c * akp - s * akq;
    a[k * n + q] = s * akp + c * akq;
  }
  for (let k = 0; k < n; k++) {
    const apk = a[p * n + k] as number;
    const aqk = a[q * n + k] as number;
    a[p * n + k] = c * apk - s * aqk;
    a[q * n + k] = s * apk + c * aqk;
  }
  for (let k = 0; k < n; k++) {
    const vkp = v[k * n + p] as number;
    const vkq = v[k * n + q] as number;
    v[k * n + p] = c * vkp - s * vkq;
    v[k * n + q] = s * vkp + c * vkq;
  }
}

/**
 * The eigendecomposition of the symmetric part of `matrix` (row-major n x n) by cyclic
 * Jacobi sweeps, to float64 round-off. Throws a plain `Error` on non-finite input (the callers
 * decide what a failed decomposition means).
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): SymmetricEigen {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = 0.5 * ((matrix[i * n + j] as number) + (matrix[j * n + i] as number));
  if (!a.every(Number.isFinite)) throw new Error('symmetricEigen: the matrix has non-finite entries');
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += (a[i] as number) ** 2;
  for (let sweep = 0; sweep < MAX_SWEEPS && offDiagonalNorm2(a, n) > 1e-30 * scale; sweep++) {
    for (let p = 0; p < n - 1; p++) for (let q = p + 1; q < n; q++) rotate(a, v, n, p, q);
  }
  return sortedEigen(a, v, n);
}

function sortedEigen(a: Float64Array, v: Float64Array, n: number): SymmetricEigen {
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => (a[i * n + i] as number) - (a[j * n + j] as number));
  const values = new Float64Array(order.map((i) => a[i * n + i] as number));
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
