// Float64 reference implementations of the filled kernels, written from their definitions as
// plain loops (independent of every tfjs backend). NHWC layout throughout.

/** Geometry of a 2-D convolution, as the references need it. */
export interface RefConv {
  readonly x: readonly [number, number, number, number];
  readonly filter: readonly [number, number, number, number];
  readonly out: readonly number[];
  readonly strides: readonly [number, number];
  readonly dilations: readonly [number, number];
  readonly padTop: number;
  readonly padLeft: number;
}

function forEachTap(g: RefConv, visit: (b: number, y: number, xo: number, i: number, j: number, h: number, w: number) => void): void {
  const [batch, inH, inW] = g.x;
  const [fH, fW] = g.filter;
  const outH = g.out[1]!;
  const outW = g.out[2]!;
  for (let b = 0; b < batch; b++)
    for (let y = 0; y < outH; y++)
      for (let xo = 0; xo < outW; xo++)
        for (let i = 0; i < fH; i++)
          for (let j = 0; j < fW; j++) {
            const h = y * g.strides[0] + i * g.dilations[0] - g.padTop;
            const w = xo * g.strides[1] + j * g.dilations[1] - g.padLeft;
            if (h >= 0 && h < inH && w >= 0 && w < inW) visit(b, y, xo, i, j, h, w);
          }
}

/**
 * The gradient with respect to the filter (`wrt: 'filter'`, `operand` = x) or the input
 * (`wrt: 'input'`, `operand` = the filter) of a conv2d (filter [fH, fW, C, O]) or, when
 * `depthwise`, of a depthwise conv (filter [fH, fW, C, M], input channel c feeding outputs
 * c*M ... c*M + M - 1).
 */
function convGrad(g: RefConv, operand: ArrayLike<number>, dy: ArrayLike<number>, depthwise: boolean, wrt: 'filter' | 'input'): Float64Array {
  const [, inH, inW, c] = g.x;
  const [, fW, , k] = g.filter;
  const [, outH = 0, outW = 0] = g.out;
  const dyChannels = depthwise ? c * k : k;
  const out = new Float64Array((wrt === 'filter' ? g.filter : g.x).reduce((a, v) => a * v, 1));
  forEachTap(g, (b, y, xo, i, j, h, w) => {
    for (let ci = 0; ci < c; ci++) {
      const dy0 = ((b * outH + y) * outW + xo) * dyChannels + (depthwise ? ci * k : 0);
      const xAt = ((b * inH + h) * inW + w) * c + ci;
      const fAt = ((i * fW + j) * c + ci) * k;
      if (wrt === 'filter') {
        const xv = operand[xAt]!;
        for (let ki = 0; ki < k; ki++) out[fAt + ki]! += xv * dy[dy0 + ki]!;
      } else {
        let acc = 0;
        for (let ki = 0; ki < k; ki++) acc += operand[fAt + ki]! * dy[dy0 + ki]!;
        out[xAt]! += acc;
      }
    }
  });
  return out;
}

/** dW of a full conv2d: filter [fH, fW, C, O]. */
export function conv2dFilterGrad(g: RefConv, x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return convGrad(g, x, dy, false, 'filter');
}

/** dx of a full conv2d: input [B, H, W, C]. */
export function conv2dInputGrad(g: RefConv, filter: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return convGrad(g, filter, dy, false, 'input');
}

/** dW of a depthwise conv: filter [fH, fW, C, M]. */
export function depthwiseFilterGrad(g: RefConv, x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return convGrad(g, x, dy, true, 'filter');
}

/** dx of a depthwise conv: input [B, H, W, C]. */
export function depthwiseInputGrad(g: RefConv, filter: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return convGrad(g, filter, dy, true, 'input');
}

/** Einsum from its definition: loops over every assignment of the labels, float64. */
export function einsumReference(equation: string, operands: { values: ArrayLike<number>; shape: readonly number[] }[]): { values: Float64Array; shape: number[] } {
  const [lhs = '', out = ''] = equation.replace(/\s/g, '').split('->');
  const terms = lhs.split(',');
  const size = new Map<string, number>();
  terms.forEach((t, k) => [...t].forEach((l, i) => size.set(l, operands[k]!.shape[i]!)));
  const labels = [...size.keys()];
  const shape = [...out].map((l) => size.get(l)!);
  const values = new Float64Array(shape.reduce((a, b) => a * b, 1));
  const at = new Map<string, number>(labels.map((l) => [l, 0]));
  const flat = (term: string, dims: readonly number[]): number => [...term].reduce((idx, l, i) => idx * dims[i]! + at.get(l)!, 0);
  const total = labels.reduce((a, l) => a * size.get(l)!, 1);
  for (let n = 0; n < total; n++) {
    let r = n;
    for (let i = labels.length - 1; i >= 0; i--) {
      const l = labels[i]!;
      at.set(l, r % size.get(l)!);
      r = Math.floor(r / size.get(l)!);
    }
    let p = 1;
    terms.forEach((t, k) => {
      p *= operands[k]!.values[flat(t, operands[k]!.shape)]!;
    });
    values[flat(out, shape)]! += p;
  }
  return { values, shape };
}

