import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, split, treeFlatten, treeUnflatten, type Key, type OptState, type Optimizer, type TensorTree, tidy } from '@lopt/core';
import { checkGrads, checkKnownOptions, initDense, isTapeRecording, lstmStep, type DenseParams } from './common.js';
import type { LearnedArchitecture } from './types.js';

/** Configuration of {@link lstmL2L}; defaults are the `deepmind/learning-to-learn` defaults. */
export type LstmL2LConfig = {
  /** LSTM layer widths. Default `[20, 20]`. */
  readonly layers: readonly number[];
  /** The k of the log-and-sign gradient preprocessing (`LogAndSign(k)`). Default 5; 0 turns preprocessing off (raw gradient input). */
  readonly preprocessK: number;
  /** Output scale. Default 0.01. */
  readonly scale: number;
  /**
   * Coordinates per chunk when a tensor is processed (bounds the `[rows, 4 * width]` gate
   * intermediates; results do not depend on it). Default 65,536. Not part of the
   * architecture: checkpoints load under any value.
   */
  readonly chunkRows: number;
};

/** One LSTM layer (Sonnet 1 names: `w_gates [in + hidden, 4 hidden]`, `b_gates`). */
export type L2LLstmLayer = { w_gates: tf.Tensor2D; b_gates: tf.Tensor1D };

/** Meta-parameters of {@link lstmL2L}: `lstm_1..n` and `linear`. */
export type LstmL2LTheta = Record<string, L2LLstmLayer | DenseParams>;

/** State: per leaf, the hidden and cell state of every layer, each `[N, width]`. */
export type LstmL2LState = { h: tf.Tensor[][]; c: tf.Tensor[][] };

const F32_EPS = 1.1920928955078125e-7;

/**
 * The coordinatewise LSTM optimizer of Andrychowicz et al. 2016, "Learning to learn by
 * gradient descent by gradient descent" (`CoordinateWiseDeepLSTM` of deepmind/learning-to-learn).
 * Every parameter is one batch row of a 2-layer LSTM (20 units each, weights shared across
 * all coordinates) that reads the preprocessed gradient
 * `[max(log(|g| + eps) / k, -1), clip(g * e^k, -1, 1)]` and outputs the update through a
 * linear layer: `p <- p + scale * out`.
 *
 * Meta-parameters (default 5,141): LSTM 1 `(2 + 20) * 80 + 80 = 1840`, LSTM 2
 * `(20 + 20) * 80 + 80 = 3280`, linear `20 + 1`. Initialization: Sonnet's truncated normal
 * with std `1 / sqrt(fan-in)`, zero biases, forget-gate bias +1 in the cell.
 * State: `2 * sum(layers)` = 80 slots per parameter (h and c of both layers).
 * Needs neither `ctx.loss` nor `numSteps`.
 */
export function lstmL2L(options: Partial<LstmL2LConfig> = {}): LearnedArchitecture<LstmL2LTheta, LstmL2LConfig> {
  const config = checkLstmL2LConfig(options);
  const widths = config.layers;
  return {
    name: 'lstmL2L',
    config,
    stateSlotsPerParameter: 2 * widths.reduce((a, b) => a + b, 0),
    hyperparameterPaths: () => [],
    init: (key: Key): LstmL2LTheta => initLstmL2LTheta(key, config),
    optimizer(theta: LstmL2LTheta): Optimizer {
      const net: L2LNet = {
        cells: widths.map((_, i) => {
          const l = theta[`lstm_${i + 1}`] as L2LLstmLayer;
          return { w: l.w_gates, b: l.b_gates };
        }),
        linear: theta.linear as DenseParams,
        config,
      };
      return {
        name: 'lstmL2L',
        init(params: TensorTree): OptState {
          const { leaves } = treeFlatten(params);
          return {
            params,
            state: { h: leaves.map((p) => widths.map((w) => tf.zeros([p.size, w]))), c: leaves.map((p) => widths.map((w) => tf.zeros([p.size, w]))) },
            iteration: 0,
          };
        },
        update(state: OptState, grads: TensorTree): OptState {
          checkGrads(state.params, grads, 'lstmL2L');
          return tidy<OptState>(() => {
            const s = state.state as LstmL2LState;
            const { leaves, structure } = treeFlatten(state.params);
            const gl = treeFlatten(grads).leaves;
            const recording = isTapeRecording();
            const steps = leaves.map((p, i) => l2lLeafStep(net, p, gl[i] as tf.Tensor, { h: s.h[i] as tf.Tensor[], c: s.c[i] as tf.Tensor[] }, recording));
            return { params: treeUnflatten(structure, steps.map((st) => st.p)), state: { h: steps.map((st) => st.h), c: steps.map((st) => st.c) }, iteration: state.iteration + 1 };
          });
        },
      };
    },
  };
}

/** Validates the options of {@link lstmL2L}. */
function checkLstmL2LConfig(options: Partial<LstmL2LConfig>): LstmL2LConfig {
  checkKnownOptions('lstmL2L', options, ['layers', 'preprocessK', 'scale', 'chunkRows']);
  const layers = options.layers ?? [20, 20];
  if (!Array.isArray(layers) || layers.length === 0) throw new LoptError('INVALID_OPTION', "Option 'layers' must be a non-empty array of widths.", { option: 'layers' });
  return {
    layers: layers.map((w, i) => checkNumber(`layers[${i}]`, w, { integer: true, min: 1 })),
    preprocessK: checkNumber('preprocessK', options.preprocessK ?? 5, { min: 0 }),
    scale: checkNumber('scale', options.scale ?? 0.01),
    chunkRows: checkNumber('chunkRows', options.chunkRows ?? 65536, { integer: true, min: 1 }),
  };
}

/** Initial meta-parameters (Sonnet's initializers; see {@link lstmL2L}). */
function initLstmL2LTheta(key: Key, config: LstmL2LConfig): LstmL2LTheta {
  const widths = config.layers;
  const keys = split(key, widths.length + 1);
  const theta: LstmL2LTheta = {};
  let fanIn = config.preprocessK > 0 ? 2 : 1;
  widths.forEach((w, i) => {
    const d = initDense(keys[i] as Key, fanIn + w, 4 * w);
    theta[`lstm_${i + 1}`] = { w_gates: d.w, b_gates: d.b };
    fanIn = w;
  });
  theta.linear = initDense(keys[widths.length] as Key, fanIn, 1);
  return theta;
}

/** The gradient preprocessing `LogAndSign(k)` (the raw gradient for k = 0). */
function preprocessGradient(g: tf.Tensor2D, k: number): tf.Tensor2D {
  if (k === 0) return g;
  const log = tf.maximum(tf.div(tf.log(tf.add(tf.abs(g), F32_EPS)), k), -1);
  const sign = tf.clipByValue(tf.mul(g, Math.exp(k)), -1, 1);
  return tf.concat([log, sign], 1) as tf.Tensor2D;
}

/** The network of one theta: the LSTM cells, the output layer and the configuration. */
interface L2LNet {
  readonly cells: { w: tf.Tensor2D; b: tf.Tensor1D }[];
  readonly linear: DenseParams;
  readonly config: LstmL2LConfig;
}

/**
 * One tensor's step: every coordinate is a batch row of the LSTM. Rows are independent, so
 * big tensors run in chunks of rows (the `[rows, 4 * width]` gate intermediates stay small);
 * the pieces are freed after joining unless a gradient tape needs them.
 */
function l2lLeafStep(net: L2LNet, p: tf.Tensor, grad: tf.Tensor, prev: { h: tf.Tensor[]; c: tf.Tensor[] }, recording: boolean): { p: tf.Tensor; h: tf.Tensor[]; c: tf.Tensor[] } {
  const { chunkRows, preprocessK, scale, layers: widths } = net.config;
  const g = tf.reshape(grad, [p.size, 1]);
  const chunks: { h: tf.Tensor[]; c: tf.Tensor[]; delta: tf.Tensor }[] = [];
  for (let start = 0; start < p.size; start += chunkRows) {
    const rows = Math.min(chunkRows, p.size - start);
    const part = (t: tf.Tensor): tf.Tensor2D => (rows === p.size ? t : tf.slice(t, [start, 0], [rows, t.shape[1] as number])) as tf.Tensor2D;
    chunks.push(
      tidy(() => {
        let x = preprocessGradient(part(g), preprocessK);
        const h: tf.Tensor[] = [];
        const c: tf.Tensor[] = [];
        net.cells.forEach((cell, l) => {
          const out = lstmStep(cell, x, part(prev.h[l] as tf.Tensor), part(prev.c[l] as tf.Tensor));
          h.push(out.h);
          c.push(out.c);
          x = out.h;
        });
        return { h, c, delta: tf.mul(tf.add(tf.matMul(x, net.linear.w), net.linear.b), scale) };
      }),
    );
  }
  const join = (parts: tf.Tensor[]): tf.Tensor => {
    if (parts.length === 1) return parts[0] as tf.Tensor;
    const joined = tf.concat(parts, 0);
    if (!recording) tf.dispose(parts); // the pieces are not needed for a backward pass
    return joined;
  };
  const delta = join(chunks.map((ch) => ch.delta));
  return {
    p: tf.add(p, tf.reshape(delta, p.shape)),
    h: widths.map((_, l) => join(chunks.map((ch) => ch.h[l] as tf.Tensor))),
    c: widths.map((_, l) => join(chunks.map((ch) => ch.c[l] as tf.Tensor))),
  };
}
