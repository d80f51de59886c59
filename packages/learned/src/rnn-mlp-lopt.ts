import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, split, treeFlatten, treeUnflatten, truncatedNormal, type Key, type OptState, type Optimizer, type TensorTree, type UpdateContext, tidy } from '@lopt/core';
import {
  applyMlpColumns,
  checkDecays,
  checkGrads,
  checkKnownOptions,
  initDense,
  initLstm,
  lstmStep,
  requireLoss,
  secondMomentNormalize,
  sinEmbedding,
  updateMomentum,
  updateRms,
  type DenseParams,
  type LstmCarry,
  type LstmParams,
} from './common.js';
import type { LearnedArchitecture } from './types.js';

/** Configuration of {@link rnnMlpLOpt}; defaults are learned_optimization's `RNNMLPLOpt`. */
export type RnnMlpLOptConfig = {
  /** Step multiplier. Default 1e-3. */
  readonly stepMultiplier: number;
  /** Multiplier inside the exponential of the magnitude. Default 1e-3. */
  readonly magnitudeRate: number;
  /** Per-parameter MLP width. Default 32. */
  readonly hiddenSize: number;
  /** Per-parameter MLP hidden layers. Default 2. */
  readonly hiddenLayers: number;
  /** Size of the MLP -> LSTM message (averaged over each tensor). Default 16. */
  readonly fromMlpSize: number;
  /** Size of the LSTM -> next-step LSTM message (averaged over tensors). Default 18. */
  readonly fromLstmSize: number;
  /** Size of the LSTM -> MLP message. Default 17. */
  readonly lstmToFf: number;
  /** Per-tensor LSTM width. Default 64. */
  readonly lstmHiddenSize: number;
  /** Decays of the momentum and second-moment accumulators. Default `[0.5, 0.9, 0.99, 0.999, 0.9999]`. */
  readonly decays: readonly number[];
};

/** Meta-parameters of {@link rnnMlpLOpt} (haiku names). */
export type RnnMlpLOptTheta = {
  initial_from_lstm: tf.Tensor1D;
  initial_from_mlp: tf.Tensor1D;
  lstm_init_state: LstmCarry;
  rnn_params: { 'rnn/linear': LstmParams };
  rnn_to_ff_params: { rnn_to_ff: DenseParams };
  rnn_to_in_params: { rnn_to_in: DenseParams };
  ffmod_params: Record<string, DenseParams>;
};

/** Running mean and variance of a loss (`_LossNormalizer`). */
type LossAccum = { mean: tf.Scalar; var: tf.Scalar; updates: tf.Scalar };

/** State of {@link rnnMlpLOpt}'s optimizer: moments, the LSTM's carry (one row per tensor) and the loss normalizers. */
export type RnnMlpLOptState = LstmCarry & {
  mom: tf.Tensor[];
  rms: tf.Tensor[];
  fromMlp: tf.Tensor2D;
  fromLstm: tf.Tensor1D;
  trainLoss: LossAccum;
  validLoss: LossAccum;
  clipIteration: tf.Scalar;
  clipValue: tf.Scalar;
};

const TENSOR_FEATURES = 18;
const MLP_NORMALIZED_PER_DECAY = 4; // m, rms, m * rsqrt, rsqrt

const clipLogAbs = (x: tf.Tensor): tf.Tensor => tf.clipByValue(tf.log(tf.add(1e-8, tf.abs(x))), -5, 5);

function lossNext(s: LossAccum, loss: tf.Scalar, decay: number): LossAccum {
  const mean = tf.add(tf.mul(decay, s.mean), tf.mul(1 - decay, loss)) as tf.Scalar;
  const v = tf.add(tf.mul(decay, s.var), tf.mul(1 - decay, tf.square(tf.sub(mean, loss)))) as tf.Scalar;
  return { mean, var: v, updates: tf.add(s.updates, 1) as tf.Scalar };
}

function lossCorrection(s: LossAccum, decay: number): tf.Tensor {
  return tf.div(1, tf.add(tf.sub(1, tf.pow(tf.scalar(decay), s.updates)), 1e-8));
}

function weightLoss(s: LossAccum, loss: tf.Tensor, decay: number): tf.Tensor {
  const c = lossCorrection(s, decay);
  const l = tf.mul(tf.sub(loss, tf.mul(s.mean, c)), tf.rsqrt(tf.add(tf.mul(s.var, c), 1e-8)));
  return tf.clipByValue(l, -5, 5);
}

/**
 * The hierarchical learned optimizer of Metz et al. 2020, "Tasks, stability, architecture,
 * and compute: training more effective learned optimizers, and using them to train
 * themselves" (learned_optimization's `RNNMLPLOpt`). A per-tensor LSTM (64 units) reads 52
 * values per tensor (18 statistics including normalized train and validation loss
 * features, its own 18-value message averaged over tensors and the 16-value message of the
 * per-parameter MLP); a per-parameter MLP 54 -> 32 -> 32 -> 18 reads 23 normalized
 * features (g, p, log|p|, 5 momenta, 5 rms, 5 `m * rsqrt(rms)`, 5 rsqrt), 11
 * `sin(t / (tau pi))` step features, 3 log scalars and 17 values from the LSTM; outputs 0
 * and 1 give `p <- p - d exp(1e-3 s) 1e-3`, the other 16 are averaged into the message.
 * Gradients are clipped to 10 times an EMA of their RMS.
 *
 * `update` needs `ctx.loss` (the loss features). With `ctx.isValid`, the loss is a
 * validation loss: only its normalizer and the step counter change.
 *
 * Meta-parameters (default 35,799): initial messages 18 + 16, initial LSTM state 2*64, LSTM
 * `(52 + 64) * 256 + 256 = 29,952`, LSTM -> MLP `64 * 17 + 17`, LSTM -> LSTM `64 * 18 + 18`,
 * MLP `(54*32 + 32) + (32*32 + 32) + (32*18 + 18) = 3,410`.
 * State: 10 slots per parameter (5 momenta, 5 rms) plus 64 + 64 + 16 values per tensor.
 * Does not use `numSteps`. Tensors of rank above 4 are not supported (the shape features
 * have 4 slots, as in the reference).
 */
export function rnnMlpLOpt(options: Partial<RnnMlpLOptConfig> = {}): LearnedArchitecture<RnnMlpLOptTheta, RnnMlpLOptConfig> {
  const config = checkRnnMlpConfig(options);
  const dims = rnnMlpDims(config);
  return {
    name: 'rnnMlpLOpt',
    config,
    stateSlotsPerParameter: 2 * dims.K,
    hyperparameterPaths: () => [],
    init: (key: Key): RnnMlpLOptTheta => initRnnMlpTheta(key, config, dims),
    optimizer(theta: RnnMlpLOptTheta): Optimizer {
      const layers = dims.sizes.map((_, i) => theta.ffmod_params[`mlp/~/linear_${i}`] as DenseParams);
      return {
        name: 'rnnMlpLOpt',
        init: (params: TensorTree): OptState => ({ params, state: initRnnMlpState(theta, params, dims.K), iteration: 0 }),
        update(state: OptState, grads: TensorTree, ctx?: UpdateContext): OptState {
          checkGrads(state.params, grads, 'rnnMlpLOpt');
          const loss = requireLoss(ctx, 'rnnMlpLOpt', 'its per-tensor LSTM reads normalized train and validation loss features');
          const s = state.state as RnnMlpLOptState;
          if (ctx?.isValid === true) {
            return tidy<OptState>(() => ({ params: state.params, state: { ...s, validLoss: lossNext(s.validLoss, loss, 0.95) }, iteration: state.iteration + 1 }));
          }
          return tidy<OptState>(() => rnnMlpStep({ theta, layers, config, dims }, state, grads, loss));
        },
      };
    },
  };
}

/** Sizes derived from a {@link RnnMlpLOptConfig}. */
interface RnnMlpDims {
  /** Number of accumulator decays. */
  readonly K: number;
  /** LSTM width. */
  readonly H: number;
  /** LSTM input size per tensor. */
  readonly rnnInputs: number;
  /** Per-parameter normalized features. */
  readonly normalized: number;
  /** Per-parameter MLP input size (normalized plus constant features). */
  readonly mlpInputs: number;
  /** Output sizes of the MLP layers. */
  readonly sizes: number[];
}

/** Validates the options of {@link rnnMlpLOpt} (defaults of learned_optimization). */
function checkRnnMlpConfig(options: Partial<RnnMlpLOptConfig>): RnnMlpLOptConfig {
  checkKnownOptions('rnnMlpLOpt', options, ['stepMultiplier', 'magnitudeRate', 'hiddenSize', 'hiddenLayers', 'fromMlpSize', 'fromLstmSize', 'lstmToFf', 'lstmHiddenSize', 'decays']);
  const int = (name: string, v: unknown, d: number): number => checkNumber(name, v ?? d, { integer: true, min: 1 });
  return {
    stepMultiplier: checkNumber('stepMultiplier', options.stepMultiplier ?? 1e-3),
    magnitudeRate: checkNumber('magnitudeRate', options.magnitudeRate ?? 1e-3),
    hiddenSize: int('hiddenSize', options.hiddenSize, 32),
    hiddenLayers: checkNumber('hiddenLayers', options.hiddenLayers ?? 2, { integer: true, min: 0 }),
    fromMlpSize: int('fromMlpSize', options.fromMlpSize, 16),
    fromLstmSize: int('fromLstmSize', options.fromLstmSize, 18),
    lstmToFf: int('lstmToFf', options.lstmToFf, 17),
    lstmHiddenSize: int('lstmHiddenSize', options.lstmHiddenSize, 64),
    decays: checkDecays('decays', options.decays ?? [0.5, 0.9, 0.99, 0.999, 0.9999]),
  };
}

/** The layer sizes of a configuration. */
function rnnMlpDims(config: RnnMlpLOptConfig): RnnMlpDims {
  const K = config.decays.length;
  const normalized = 3 + MLP_NORMALIZED_PER_DECAY * K;
  return {
    K,
    H: config.lstmHiddenSize,
    rnnInputs: TENSOR_FEATURES + config.fromLstmSize + config.fromMlpSize,
    normalized,
    mlpInputs: normalized + 11 + 3 + config.lstmToFf,
    sizes: [...new Array<number>(config.hiddenLayers).fill(config.hiddenSize), 2 + config.fromMlpSize],
  };
}

/** Initial meta-parameters (haiku initializers of the reference). */
function initRnnMlpTheta(key: Key, config: RnnMlpLOptConfig, dims: RnnMlpDims): RnnMlpLOptTheta {
  const [k1, k2, k3, k4, k5, k6] = split(key, 6) as [Key, Key, Key, Key, Key, Key];
  // haiku VarianceScaling() (fan-in, truncated normal): std sqrt(1/fanIn) / .87962566103423978.
  const vs = (k: Key, n: number) => truncatedNormal(k, [n], { std: Math.sqrt(1 / n) / 0.87962566103423978 }) as tf.Tensor1D;
  const mlpKeys = split(k6, dims.sizes.length);
  const ffmod: Record<string, DenseParams> = {};
  let fanIn = dims.mlpInputs;
  dims.sizes.forEach((out, i) => {
    ffmod[`mlp/~/linear_${i}`] = initDense(mlpKeys[i] as Key, fanIn, out);
    fanIn = out;
  });
  return {
    initial_from_lstm: vs(k1, config.fromLstmSize),
    initial_from_mlp: vs(k2, config.fromMlpSize),
    lstm_init_state: { hidden: tf.zeros([1, dims.H]), cell: tf.zeros([1, dims.H]) },
    rnn_params: { 'rnn/linear': initLstm(k3, dims.rnnInputs, dims.H) },
    rnn_to_ff_params: { rnn_to_ff: initDense(k4, dims.H, config.lstmToFf) },
    rnn_to_in_params: { rnn_to_in: initDense(k5, dims.H, config.fromLstmSize) },
    ffmod_params: ffmod,
  };
}

/** The optimizer state at the start: zero accumulators, the learned initial LSTM state and messages per tensor. */
function initRnnMlpState(theta: RnnMlpLOptTheta, params: TensorTree, K: number): RnnMlpLOptState {
  const { leaves } = treeFlatten(params);
  const L = leaves.length;
  for (const p of leaves) {
    if (p.rank > 4) throw new LoptError('SHAPE_MISMATCH', `rnnMlpLOpt supports tensors of rank <= 4, got shape [${p.shape.join(', ')}].`);
  }
  const zeroAccum = (): LossAccum => ({ mean: tf.scalar(0), var: tf.scalar(0), updates: tf.scalar(0) });
  return {
    mom: leaves.map((p) => tf.zeros([K, ...p.shape])),
    rms: leaves.map((p) => tf.zeros([K, ...p.shape])),
    hidden: tf.tidy(() => tf.tile(theta.lstm_init_state.hidden, [L, 1])) as tf.Tensor2D,
    cell: tf.tidy(() => tf.tile(theta.lstm_init_state.cell, [L, 1])) as tf.Tensor2D,
    fromMlp: tf.tidy(() => tf.tile(tf.reshape(theta.initial_from_mlp, [1, -1]), [L, 1])) as tf.Tensor2D,
    fromLstm: tf.clone(theta.initial_from_lstm),
    trainLoss: zeroAccum(),
    validLoss: zeroAccum(),
    clipIteration: tf.scalar(1),
    clipValue: tf.scalar(0.01),
  };
}

/** What one {@link rnnMlpLOpt} step reads besides the state. */
interface RnnMlpCtx {
  readonly theta: RnnMlpLOptTheta;
  readonly layers: DenseParams[];
  readonly config: RnnMlpLOptConfig;
  readonly dims: RnnMlpDims;
}

/** Dynamic gradient clipping at 10x an EMA (0.99) of the gradients' RMS; returns the clipped leaves and the new EMA. */
function clipGradients(s: RnnMlpLOptState, grads: TensorTree): { gl: tf.Tensor[]; clipValue: tf.Scalar } {
  const clipAmount = tf.mul(tf.div(s.clipValue, tf.sub(1, tf.pow(tf.scalar(0.99), s.clipIteration))), 10);
  // (bounds broadcast explicitly: tfjs's Minimum/Maximum gradients do not reduce broadcast inputs)
  const gl = treeFlatten(grads).leaves.map((g) => {
    const a = tf.broadcastTo(clipAmount, g.shape);
    return tf.minimum(tf.maximum(g, tf.neg(a)), a);
  });
  const avgSq = tf.div(tf.addN(gl.map((g) => tf.mean(tf.square(g)))), gl.length);
  return { gl, clipValue: tf.add(tf.mul(s.clipValue, 0.99), tf.mul(tf.sqrt(tf.add(1e-8, avgSq)), 0.01)) as tf.Scalar };
}

/** The 18 per-tensor statistics the LSTM reads (sorted-key order of the reference). */
function tensorStatistics(p: tf.Tensor, g: tf.Tensor, ms: tf.Tensor, rs: tf.Tensor, lossFeats: readonly [tf.Tensor, tf.Tensor]): tf.Tensor[] {
  const meanMs = tf.mean(ms);
  const meanRms = tf.mean(rs);
  const meanV = tf.mean(p);
  const shape4 = [...p.shape, ...new Array<number>(4 - p.rank).fill(1)];
  return [
    clipLogAbs(tf.norm(g)), // g_norm
    tf.scalar(p.rank === 0 ? 1 : -1), // is_scalar
    clipLogAbs(meanMs), // mean_ms_mag
    tf.sign(meanMs), // mean_ms_sign
    clipLogAbs(meanRms), // mean_rms
    tf.sign(meanRms), // mean_sign
    clipLogAbs(meanV), // mean_v_mag
    tf.sign(meanV), // mean_v_sign
    clipLogAbs(tf.norm(p)), // norm_weight
    ...shape4.map((d) => tf.scalar(Math.log(d) - 1)), // shape_0..3
    lossFeats[0], // train_loss_feat
    lossFeats[1], // valid_loss_feat
    clipLogAbs(tf.mean(tf.square(tf.sub(ms, meanMs)))), // var_ms
    clipLogAbs(tf.mean(tf.square(tf.sub(rs, meanRms)))), // var_rms
    clipLogAbs(tf.mean(tf.square(tf.sub(p, meanV)))), // var_v
  ];
}

/** One update: loss features, clipped gradients, accumulators, the per-tensor LSTM, then the per-parameter MLP. */
function rnnMlpStep(rc: RnnMlpCtx, state: OptState, grads: TensorTree, loss: tf.Scalar): OptState {
  const { theta, config } = rc;
  const s = state.state as RnnMlpLOptState;
  const { leaves, structure } = treeFlatten(state.params);
  const trainLoss = lossNext(s.trainLoss, loss, 0.9);
  const validMean = tf.mul(s.validLoss.mean, lossCorrection(s.validLoss, 0.95));
  const lossFeats = [weightLoss(trainLoss, loss, 0.9), weightLoss(trainLoss, validMean, 0.9)] as const;
  const { gl, clipValue } = clipGradients(s, grads);
  const dec = tf.tensor1d(config.decays as number[]);
  const mom = leaves.map((_, i) => updateMomentum(s.mom[i] as tf.Tensor, gl[i] as tf.Tensor, dec));
  const rms = leaves.map((_, i) => updateRms(s.rms[i] as tf.Tensor, gl[i] as tf.Tensor, dec));
  const rows = leaves.map((p, i) => {
    const scalars = tensorStatistics(p, gl[i] as tf.Tensor, mom[i] as tf.Tensor, rms[i] as tf.Tensor, lossFeats);
    const fromMlp = tf.reshape(tf.slice(s.fromMlp, [i, 0], [1, config.fromMlpSize]), [-1]);
    return tf.concat([s.fromLstm, fromMlp, tf.stack(scalars.map((x) => tf.reshape(x, [])))], 0);
  });
  const { h, c } = lstmStep(theta.rnn_params['rnn/linear'], tf.stack(rows) as tf.Tensor2D, s.hidden, s.cell);
  const toIn = theta.rnn_to_in_params.rnn_to_in;
  const toFf = theta.rnn_to_ff_params.rnn_to_ff;
  const ffInputs = tf.add(tf.matMul(h, toFf.w), toFf.b) as tf.Tensor2D; // [L, lstmToFf]
  const step = sinEmbedding(state.iteration);
  const outs = leaves.map((p, i) =>
    mlpLeafStep(rc, p, { g: gl[i] as tf.Tensor, m: mom[i] as tf.Tensor, r: rms[i] as tf.Tensor }, [...step, Math.log(leaves.length) - 1], tf.slice(ffInputs, [i, 0], [1, config.lstmToFf])),
  );
  const nextState: RnnMlpLOptState = {
    mom,
    rms,
    hidden: h,
    cell: c,
    fromMlp: tf.stack(outs.map((o) => o.message)) as tf.Tensor2D,
    fromLstm: tf.mean(tf.add(tf.matMul(h, toIn.w), toIn.b), 0) as tf.Tensor1D,
    trainLoss,
    validLoss: s.validLoss,
    clipIteration: tf.add(s.clipIteration, 1) as tf.Scalar,
    clipValue,
  };
  return { params: treeUnflatten(structure, outs.map((o) => o.p)), state: nextState, iteration: state.iteration + 1 };
}

/**
 * The per-parameter MLP on one tensor: normalized features, the features constant over the
 * tensor (`globals`: step embedding and log tensor count; the tensor's log norm and size; its
 * LSTM message `ffRow`) folded into the first layer's bias; returns the new tensor and its
 * MLP -> LSTM message.
 */
function mlpLeafStep(
  rc: RnnMlpCtx,
  p: tf.Tensor,
  acc: { readonly g: tf.Tensor; readonly m: tf.Tensor; readonly r: tf.Tensor },
  globals: number[],
  ffRow: tf.Tensor,
): { p: tf.Tensor; message: tf.Tensor } {
  const { layers, config } = rc;
  const { K, normalized, mlpInputs } = rc.dims;
  const n = p.size;
  const g = tf.reshape(acc.g, [1, n]);
  const v = tf.reshape(p, [1, n]);
  const m = tf.reshape(acc.m, [K, n]);
  const r = tf.reshape(acc.r, [K, n]);
  const rsq = tf.rsqrt(tf.add(r, 1e-6));
  // sorted: flat_g, flat_v, log_abs_v, m, rms, rms_scaled_g, rsqrt
  const x = secondMomentNormalize(tf.concat([g, v, tf.log(tf.add(tf.abs(v), 1e-8)), m, r, tf.mul(m, rsq), rsq], 0) as tf.Tensor2D);
  const constants = tf.concat([
    tf.tensor1d(globals),
    tf.reshape(tf.log(tf.add(tf.norm(v), 1e-8)), [1]),
    tf.tensor1d([Math.log(n)]),
    tf.reshape(ffRow, [-1]),
  ]);
  const w0 = (layers[0] as DenseParams).w;
  const wc = tf.slice(w0, [normalized, 0], [mlpInputs - normalized, w0.shape[1]]);
  const bias0 = tf.add((layers[0] as DenseParams).b, tf.reshape(tf.matMul(tf.reshape(constants, [1, -1]), wc), [-1]));
  const out = applyMlpColumns(layers, x, bias0);
  const dir = tf.slice(out, [0, 0], [1, n]);
  const mag = tf.slice(out, [1, 0], [1, n]);
  const st = tf.mul(tf.mul(dir, tf.exp(tf.mul(mag, config.magnitudeRate))), config.stepMultiplier);
  return { p: tf.sub(p, tf.reshape(st, p.shape)), message: tf.mean(tf.slice(out, [2, 0], [config.fromMlpSize, n]), 1) };
}
