import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkOneOf, split, uniformArray, type Key, type Task, type TaskFamily, type TensorTree } from '@lopt/core';
import { checkInt, checkRecord, classificationNormalizer, logUniformInt, scalarTidy, softmaxCrossEntropy } from './common.js';
import { initDense, initWeight, dense, type DenseParams } from './nn.js';
import { TEXT_VOCAB_SIZE, textDatasets, type TokenBatch } from './text.js';

const V = TEXT_VOCAB_SIZE;

/** Inputs `[B, T]` one-hot as `[B * T, V]` and flat targets `[B * T]`. */
function inputsAndTargets(batch: TokenBatch, sequenceLength: number): { x: tf.Tensor2D; targets: tf.Tensor1D; b: number } {
  const tokens = batch.tokens;
  const b = tokens.shape[0];
  const inputs = tf.slice(tokens, [0, 0], [b, sequenceLength]);
  const targets = tf.reshape(tf.slice(tokens, [0, 1], [b, sequenceLength]), [b * sequenceLength]) as tf.Tensor1D;
  // One-hot times the embedding matrix (instead of a gather) keeps every backend on dense kernels.
  const x = tf.oneHot(tf.reshape(inputs, [b * sequenceLength]) as tf.Tensor1D, V) as unknown as tf.Tensor2D;
  return { x: tf.cast(x, 'float32') as tf.Tensor2D, targets, b };
}

/** Options of {@link charLstmTask}. */
export interface CharLstmTaskOptions {
  /** Tokens per sequence (T). Default 32. */
  readonly sequenceLength?: number;
  /** Sequences per batch. Default 16. */
  readonly batchSize?: number;
  /** Embedding size. Default 32. */
  readonly embedSize?: number;
  /** LSTM hidden size. Default 64. */
  readonly hiddenSize?: number;
}

type LstmParams = { embed: tf.Tensor2D; lstm: DenseParams; head: DenseParams };

/**
 * A character-level LSTM language model (learned_optimization's `RNNLM_*` on bytes) over
 * the bundled public-domain corpus ({@link textCorpus}): embedding, one LSTM layer (Haiku
 * gate order i, g, f, o; +1 forget-gate bias), linear readout; loss the mean next-character
 * cross-entropy; classification normalizer with C = vocabulary size.
 */
export function charLstmTask(options: CharLstmTaskOptions = {}): Task {
  const sequenceLength = checkInt('sequenceLength', options.sequenceLength ?? 32, 1, 1024);
  const batchSize = checkInt('batchSize', options.batchSize ?? 16, 1, 100_000);
  const embedSize = checkInt('embedSize', options.embedSize ?? 32, 1, 4096);
  const hiddenSize = checkInt('hiddenSize', options.hiddenSize ?? 64, 1, 4096);
  const h = hiddenSize;
  return {
    name: `char-lstm-e${embedSize}-h${hiddenSize}-t${sequenceLength}-bs${batchSize}`,
    init: (k: Key) => {
      const [ke, kl, kh] = split(k, 3) as [Key, Key, Key];
      return {
        embed: initWeight(ke, [V, embedSize], 'default', 1),
        lstm: initDense(kl, embedSize + h, 4 * h),
        head: initDense(kh, h, V),
      };
    },
    loss: (params: TensorTree, batch: TensorTree) =>
      scalarTidy(() => {
        const p = params as LstmParams;
        const { x, targets, b } = inputsAndTargets(batch as TokenBatch, sequenceLength);
        const emb = tf.reshape(tf.matMul(x, p.embed), [b, sequenceLength, embedSize]);
        let hState: tf.Tensor2D = tf.zeros([b, h]);
        let cState: tf.Tensor2D = tf.zeros([b, h]);
        const outputs: tf.Tensor2D[] = [];
        for (let t = 0; t < sequenceLength; t++) {
          const xt = tf.reshape(tf.slice(emb, [0, t, 0], [b, 1, embedSize]), [b, embedSize]);
          const gates = dense(p.lstm, tf.concat([xt, hState], 1));
          const [i, g, f, o] = tf.split(gates, 4, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
          cState = tf.add(tf.mul(tf.sigmoid(tf.add(f, 1)), cState), tf.mul(tf.sigmoid(i), tf.tanh(g))) as tf.Tensor2D;
          hState = tf.mul(tf.sigmoid(o), tf.tanh(cState)) as tf.Tensor2D;
          outputs.push(hState);
        }
        // [T, B, H] -> [B, T, H] so that rows line up with the flat targets.
        const hs = tf.reshape(tf.transpose(tf.stack(outputs), [1, 0, 2]), [b * sequenceLength, h]);
        return softmaxCrossEntropy(dense(p.head, hs), targets, V);
      }),
    datasets: textDatasets({ sequenceLength, batchSize }),
    normalizer: classificationNormalizer(V),
  };
}

/** Options of {@link transformerLmTask}. */
export interface TransformerLmTaskOptions {
  /** Tokens per sequence (T). Default 32. */
  readonly sequenceLength?: number;
  /** Sequences per batch. Default 16. */
  readonly batchSize?: number;
  /** Model width D (divisible by numHeads). Default 32. */
  readonly modelSize?: number;
  /** Attention heads. Default 2. */
  readonly numHeads?: number;
  /** Transformer blocks. Default 1. */
  readonly numLayers?: number;
}

type LayerNormParams = { scale: tf.Tensor1D; offset: tf.Tensor1D };
type BlockParams = { ln1: LayerNormParams; ln2: LayerNormParams; qkv: DenseParams; proj: DenseParams; mlpIn: DenseParams; mlpOut: DenseParams };
type TransformerParams = { embed: tf.Tensor2D; position: tf.Tensor2D; blocks: BlockParams[]; lnFinal: LayerNormParams; head: DenseParams };

function layerNorm(p: LayerNormParams, x: tf.Tensor2D): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), p.scale), p.offset) as tf.Tensor2D;
}

function gelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

/**
 * A small causal (decoder-only, pre-LayerNorm) transformer language model over the bundled
 * corpus (learned_optimization's `TransformerLM_*`, at toy scale): token + learned position
 * embeddings, `numLayers` blocks of causal multi-head self-attention and a GELU MLP (4x),
 * final LayerNorm, linear readout; mean next-character cross-entropy.
 */
export function transformerLmTask(options: TransformerLmTaskOptions = {}): Task {
  const sequenceLength = checkInt('sequenceLength', options.sequenceLength ?? 32, 1, 1024);
  const batchSize = checkInt('batchSize', options.batchSize ?? 16, 1, 100_000);
  const d = checkInt('modelSize', options.modelSize ?? 32, 1, 4096);
  const numHeads = checkInt('numHeads', options.numHeads ?? 2, 1, 64);
  const numLayers = checkInt('numLayers', options.numLayers ?? 1, 1, 24);
  if (d % numHeads !== 0) throw new LoptError('INVALID_OPTION', `Option 'modelSize' (${d}) must be divisible by 'numHeads' (${numHeads}).`, { option: 'modelSize' });
  const dh = d / numHeads;
  const t = sequenceLength;
  // Additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above.
  const maskData = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) maskData[i * t + j] = -1e9;
  const ln = (): LayerNormParams => ({ scale: tf.ones([d]), offset: tf.zeros([d]) });
  return {
    name: `transformer-lm-d${d}-h${numHeads}-l${numLayers}-t${sequenceLength}-bs${batchSize}`,
    init: (k: Key) => {
      const keys = split(k, 3 + 4 * numLayers);
      const blocks: BlockParams[] = [];
      for (let l = 0; l < numLayers; l++) {
        const kk = (j: number): Key => keys[3 + 4 * l + j] as Key;
        blocks.push({ ln1: ln(), ln2: ln(), qkv: initDense(kk(0), d, 3 * d), proj: initDense(kk(1), d, d), mlpIn: initDense(kk(2), d, 4 * d), mlpOut: initDense(kk(3), 4 * d, d) });
      }
      return {
        embed: initWeight(keys[0] as Key, [V, d], 'default', 1) as tf.Tensor2D,
        position: tf.tidy(() => tf.mul(initWeight(keys[1] as Key, [t, d], 'default', 1), 0.1)) as tf.Tensor2D,
        blocks,
        lnFinal: ln(),
        head: initDense(keys[2] as Key, d, V),
      };
    },
    loss: (params: TensorTree, batch: TensorTree) =>
      scalarTidy(() => {
        const p = params as unknown as TransformerParams;
        const { x, targets, b } = inputsAndTargets(batch as TokenBatch, sequenceLength);
        const mask = tf.tensor2d(maskData, [t, t]);
        // [B*T, D] residual stream.
        let hidden = tf.reshape(tf.add(tf.reshape(tf.matMul(x, p.embed), [b, t, d]), p.position), [b * t, d]) as tf.Tensor2D;
        for (const block of p.blocks) {
          const qkv = dense(block.qkv, layerNorm(block.ln1, hidden)); // [B*T, 3D]
          const heads = (j: number): tf.Tensor4D =>
            tf.transpose(tf.reshape(tf.slice(qkv, [0, j * d], [b * t, d]), [b, t, numHeads, dh]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, H, T, dh]
          const [q, kx, v] = [heads(0), heads(1), heads(2)];
          const scores = tf.add(tf.mul(tf.matMul(q, kx, false, true), 1 / Math.sqrt(dh)), mask);
          const att = tf.matMul(tf.softmax(scores), v); // [B, H, T, dh]
          const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [b * t, d]);
          hidden = tf.add(hidden, dense(block.proj, merged)) as tf.Tensor2D;
          const mlpOut = dense(block.mlpOut, gelu(dense(block.mlpIn, layerNorm(block.ln2, hidden))) as tf.Tensor2D);
          hidden = tf.add(hidden, mlpOut) as tf.Tensor2D;
        }
        return softmaxCrossEntropy(dense(p.head, layerNorm(p.lnFinal, hidden)), targets, V);
      }),
    datasets: textDatasets({ sequenceLength, batchSize }),
    normalizer: classificationNormalizer(V),
  };
}

/** A sampled language-model task: the model kind and its options. JSON. */
export type LmConfig =
  | ({ kind: 'lstm' } & { sequenceLength: number; batchSize: number; embedSize: number; hiddenSize: number })
  | ({ kind: 'transformer' } & { sequenceLength: number; batchSize: number; modelSize: number; numHeads: number; numLayers: number });

/** Options of {@link lmFamily}. */
export interface LmFamilyOptions {
  /** Which models to sample. Default both. */
  readonly kinds?: readonly ('lstm' | 'transformer')[];
  /** Largest sequence length (log-uniform from 8). Default 64. */
  readonly maxSequenceLength?: number;
  /** Largest batch size (log-uniform from 4). Default 64. */
  readonly maxBatchSize?: number;
  /** Largest hidden / model size (log-uniform from 16). Default 128. */
  readonly maxWidth?: number;
}

/**
 * Character language models over the bundled corpus with sampled architecture (LSTM or
 * transformer), width, depth, heads, sequence length and batch size (log-uniform), as
 * learned_optimization's `lm_rnn` / `lm_transformer` parametric families.
 */
export function lmFamily(options: LmFamilyOptions = {}): TaskFamily<LmConfig> {
  const kinds = (options.kinds ?? ['lstm', 'transformer']).map((k, i) => checkOneOf(`kinds[${i}]`, k, ['lstm', 'transformer'] as const));
  if (kinds.length === 0) throw new LoptError('INVALID_OPTION', "Option 'kinds' must name at least one model kind.", { option: 'kinds' });
  const maxT = checkInt('maxSequenceLength', options.maxSequenceLength ?? 64, 8, 1024);
  const maxB = checkInt('maxBatchSize', options.maxBatchSize ?? 64, 4, 100_000);
  const maxW = checkInt('maxWidth', options.maxWidth ?? 128, 16, 4096);
  return {
    name: 'lm-family',
    sample: (k: Key) => {
      const u = uniformArray(k, 7);
      const kind = kinds[Math.min(kinds.length - 1, Math.floor((u[0] as number) * kinds.length))] as 'lstm' | 'transformer';
      const sequenceLength = logUniformInt(u[1] as number, 8, maxT);
      const batchSize = logUniformInt(u[2] as number, 4, maxB);
      if (kind === 'lstm') {
        return { kind, sequenceLength, batchSize, embedSize: logUniformInt(u[3] as number, 8, Math.max(8, maxW / 2)), hiddenSize: logUniformInt(u[4] as number, 16, maxW) };
      }
      const numHeads = [1, 2, 4][Math.min(2, Math.floor((u[3] as number) * 3))] as number;
      const headSize = logUniformInt(u[4] as number, 8, Math.max(8, Math.floor(maxW / numHeads)));
      return { kind, sequenceLength, batchSize, modelSize: numHeads * headSize, numHeads, numLayers: 1 + Math.min(2, Math.floor((u[5] as number) * 3)) };
    },
    task: (cfg: LmConfig) => {
      const c = checkRecord('cfg', cfg);
      const kind = checkOneOf('cfg.kind', c.kind, ['lstm', 'transformer'] as const);
      return kind === 'lstm' ? charLstmTask(c as CharLstmTaskOptions) : transformerLmTask(c as TransformerLmTaskOptions);
    },
  };
}
