import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, checkOneOf, normalArray, split, truncatedNormal, uniform, normal, type DenseLayerRef, type Key, type LayerTap } from '@lopt/core';

/**
 * Activation functions a task or family can use (the list of learned_optimization's
 * `SampleActivation`, with the duplicate relu and the swish alias removed and elu and
 * softplus added): 12 in all.
 */
export const ACTIVATIONS = ['relu', 'relu6', 'selu', 'tanh', 'cos', 'sin', 'sigmoid', 'silu', 'gelu', 'leakyRelu', 'elu', 'softplus'] as const;
/** One of {@link ACTIVATIONS}. */
export type Activation = (typeof ACTIVATIONS)[number];

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** The activations that are one tfjs op of the input alone. */
const UNARY: { readonly [A in Exclude<Activation, 'silu' | 'gelu' | 'leakyRelu'>]: (x: tf.Tensor) => tf.Tensor } = { relu: tf.relu, relu6: tf.relu6, selu: tf.selu, tanh: tf.tanh, cos: tf.cos, sin: tf.sin, sigmoid: tf.sigmoid, elu: tf.elu, softplus: tf.softplus };

/** Applies activation `name` elementwise (all are differentiable with registered tfjs gradients). */
export function activate(name: Activation, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'silu':
      return tf.mul(x, tf.sigmoid(x));
    case 'gelu': {
      // tanh approximation, JAX's default `jax.nn.gelu(approximate=True)`.
      const inner = tf.mul(SQRT_2_OVER_PI, tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
      return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
    }
    case 'leakyRelu':
      // learned_optimization samples leaky_relu with negative_slope -0.5.
      return tf.leakyRelu(x, -0.5);
    default:
      return UNARY[name](x);
  }
}

/** Validates an activation name. */
export function checkActivation(option: string, value: unknown): Activation {
  return checkOneOf(option, value, ACTIVATIONS);
}

/**
 * Weight initializers. `default` is Haiku's Linear/Conv default (truncated normal at +-2
 * std with std `1/sqrt(fanIn)`); the other five are learned_optimization's
 * `SampleInitializer` choices, each multiplied by `scale`.
 */
export const INITIALIZERS = ['default', 'orthogonal', 'uniformScale', 'varianceScalingTruncated', 'varianceScalingNormal', 'varianceScalingUniform'] as const;
/** One of {@link INITIALIZERS}. */
export type Initializer = (typeof INITIALIZERS)[number];

/** Fan-in and fan-out of a weight shape (dense `[in, out]` or conv `[kh, kw, in, out]`), as Haiku computes them. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 0) return { fanIn: 1, fanOut: 1 };
  if (shape.length === 1) return { fanIn: shape[0] as number, fanOut: shape[0] as number };
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return { fanIn: (shape[shape.length - 2] as number) * receptive, fanOut: (shape[shape.length - 1] as number) * receptive };
}

/** A random orthogonal matrix (QR of a Gaussian matrix by modified Gram-Schmidt in float64), shaped like `shape`. */
function orthogonal(k: Key, shape: readonly number[], scale: number): tf.Tensor {
  const nRows = shape[shape.length - 1] as number;
  const nCols = shape.reduce((a, b) => a * b, 1) / nRows;
  const tall = Math.max(nRows, nCols);
  const wide = Math.min(nRows, nCols);
  const z = normalArray(k, tall * wide); // `wide` column vectors of length `tall`
  const q = new Float64Array(tall * wide);
  for (let j = 0; j < wide; j++) {
    const v = z.slice(j * tall, (j + 1) * tall);
    for (let i = 0; i < j; i++) {
      let dot = 0;
      for (let t = 0; t < tall; t++) dot += (q[i * tall + t] as number) * (v[t] as number);
      for (let t = 0; t < tall; t++) v[t] = (v[t] as number) - dot * (q[i * tall + t] as number);
    }
    let norm = 0;
    for (let t = 0; t < tall; t++) norm += (v[t] as number) ** 2;
    norm = Math.sqrt(norm);
    for (let t = 0; t < tall; t++) q[j * tall + t] = (v[t] as number) / norm;
  }
  // Lay out as [nCols, nRows] (input-major, output last) as the weight expects.
  const out = new Float32Array(nCols * nRows);
  for (let c = 0; c < nCols; c++) {
    for (let r = 0; r < nRows; r++) {
      // Orthonormal vectors run along the longer side.
      const value = nRows >= nCols ? (q[c * tall + r] as number) : (q[r * tall + c] as number);
      out[c * nRows + r] = scale * value;
    }
  }
  return tf.tensor(out, [...shape], 'float32');
}

/** Draws a weight tensor of `shape` with initializer `init` and multiplier `scale`. */
export function initWeight(k: Key, shape: readonly number[], init: Initializer = 'default', scale = 1): tf.Tensor {
  checkNumber('initScale', scale, { greaterThan: 0 });
  const { fanIn } = fans(shape);
  switch (init) {
    case 'default':
      return tf.tidy(() => tf.mul(truncatedNormal(k, shape, { std: 1 / Math.sqrt(fanIn) }), scale));
    case 'orthogonal':
      return tf.tidy(() => tf.reshape(orthogonal(k, shape.length < 2 ? [1, ...shape] : shape, scale), [...shape]));
    case 'uniformScale': {
      const limit = Math.sqrt(3 / fanIn) * scale;
      return uniform(k, shape, { low: -limit, high: limit });
    }
    case 'varianceScalingTruncated':
      return truncatedNormal(k, shape, { std: Math.sqrt(scale / Math.max(1, fanIn)) / 0.8796256610342398 });
    case 'varianceScalingNormal':
      return normal(k, shape, { std: Math.sqrt(scale / Math.max(1, fanIn)) });
    case 'varianceScalingUniform': {
      const limit = Math.sqrt((3 * scale) / Math.max(1, fanIn));
      return uniform(k, shape, { low: -limit, high: limit });
    }
  }
}

/** Parameters of one dense layer. */
export type DenseParams = { w: tf.Tensor; b: tf.Tensor };

/** Initializes a dense layer `[fanIn, fanOut]` (zero bias, as Haiku). */
export function initDense(k: Key, fanIn: number, fanOut: number, init: Initializer = 'default', scale = 1): DenseParams {
  return { w: initWeight(k, [fanIn, fanOut], init, scale), b: tf.zeros([fanOut]) };
}

/** Applies a dense layer to `[N, fanIn]`. */
export function dense(p: DenseParams, x: tf.Tensor): tf.Tensor2D {
  return tf.add(tf.matMul(x as tf.Tensor2D, p.w as tf.Tensor2D), p.b) as tf.Tensor2D;
}

/** Initializes an MLP with layer sizes `sizes` (input first); layers are named `layer0`, `layer1`, ... */
export function initMlp(k: Key, sizes: readonly number[], init: Initializer = 'default', scale = 1): Record<string, DenseParams> {
  const keys = split(k, Math.max(1, sizes.length - 1));
  const params: Record<string, DenseParams> = {};
  for (let i = 0; i + 1 < sizes.length; i++) {
    params[mlpLayerName(i)] = initDense(keys[i] as Key, sizes[i] as number, sizes[i + 1] as number, init, scale);
  }
  return params;
}

/** Layer names sort in layer order up to 100 layers (`layer00`, `layer01`, ...). */
export function mlpLayerName(i: number): string {
  return `layer${String(i).padStart(2, '0')}`;
}

/** The dense layers of an MLP built by {@link initMlp}, as curvature methods address them (`layer00.w`, `layer00.b`, ...). */
export function mlpLayerRefs(numLayers: number): DenseLayerRef[] {
  return Array.from({ length: numLayers }, (_, i) => ({ weight: `${mlpLayerName(i)}.w`, bias: `${mlpLayerName(i)}.b` }));
}

/**
 * Applies an MLP initialized by {@link initMlp}; the activation follows every layer but the
 * last. With `tap`, every layer's input and pre-activation are reported (see `LayerTap`).
 */
export function mlp(params: Record<string, DenseParams>, x: tf.Tensor, numLayers: number, act: Activation, tap?: LayerTap): tf.Tensor2D {
  let h = x as tf.Tensor2D;
  const refs = tap === undefined ? [] : mlpLayerRefs(numLayers);
  for (let i = 0; i < numLayers; i++) {
    const input = h;
    h = dense(params[mlpLayerName(i)] as DenseParams, input);
    if (tap !== undefined) h = tap(refs[i] as DenseLayerRef, input, h);
    if (i + 1 < numLayers) h = activate(act, h) as tf.Tensor2D;
  }
  return h;
}
