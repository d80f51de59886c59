import * as tf from '@tensorflow/tfjs-core';
import { LoptError, checkNumber, type Optimizer } from '@lopt/core';
import { layerwiseOptimizer, type LayerPreconditioner, type LayerwiseOptions, type LayerwiseState } from './layerwise.js';
import { spdInverse } from './symmetric-eigen.js';

/** Options of {@link mbf}. */
export interface MbfOptions extends LayerwiseOptions {
  /** Outputs per mini-block. Default 16. */
  readonly blockSize?: number;
}

/** Mini-blocks of `b` consecutive outputs of one input row: `[rows, blocks, b, b]` empirical Fisher blocks. */
function miniBlocks(b: number): LayerPreconditioner {
  const blocksOf = (cols: number) => Math.ceil(cols / b);
  const pad = (t: tf.Tensor2D, cols: number) => (blocksOf(cols) * b === cols ? t : (tf.pad(t, [[0, 0], [0, blocksOf(cols) * b - cols]]) as tf.Tensor2D));
  return {
    statShapes: (rows, cols) => ({ f: [rows, blocksOf(cols), b, b] }),
    batchStatistics(a, g) {
      const [n, cols] = g.shape;
      const nb = blocksOf(cols);
      const d = tf.reshape(pad(g, cols), [n, nb, b]);
      const outer = tf.reshape(tf.mul(tf.reshape(d, [n, nb, b, 1]), tf.reshape(d, [n, nb, 1, b])), [n, nb * b * b]);
      const weights = tf.div(tf.square(a), n); // per-example gradient of W[i, j] is a_i g_j
      return { f: tf.reshape(tf.matMul(tf.transpose(weights), outer), [a.shape[1], nb, b, b]) };
    },
    inverses(stats, damping) {
      const f = stats.f as tf.Tensor;
      const [rows, nb] = f.shape as number[];
      const data = f.dataSync();
      const out = new Float32Array(data.length);
      const block = new Float64Array(b * b);
      for (let k = 0; k < (rows as number) * (nb as number); k++) {
        for (let i = 0; i < b * b; i++) block[i] = (data[k * b * b + i] as number) + (i % (b + 1) === 0 ? damping : 0);
        const inv = spdInverse(block, b);
        for (let i = 0; i < b * b; i++) out[k * b * b + i] = inv === undefined ? (i % (b + 1) === 0 ? 1 / damping : 0) : (inv[i] as number);
      }
      return { f: tf.tensor(out, f.shape) };
    },
    apply(v, inv) {
      const [rows, cols] = v.shape;
      const nb = blocksOf(cols);
      const blocks = tf.reshape(pad(v, cols), [rows * nb, 1, b]);
      const d = tf.reshape(tf.matMul(blocks, tf.reshape(inv.f as tf.Tensor, [rows * nb, b, b]) as tf.Tensor3D), [rows, nb * b]);
      return tf.slice(d, [0, 0], [rows, cols]) as tf.Tensor2D;
    },
  };
}

/**
 * Mini-block Fisher (Bahamou, Goldfarb & Ren 2023) for dense layers: the empirical Fisher of
 * each layer restricted to mini-blocks of `blockSize` consecutive outputs of one input row of
 * `[W; b]`, computed exactly from per-example gradients (`F = 1/N sum_n a_ni^2 g_n,K g_n,K^T`),
 * averaged over steps, damped by `lambda I` and inverted per block (Cholesky, float64, on the
 * host); the direction is each block's `F^-1 v`. Other leaves take momentum SGD. `update` needs
 * `ctx.layers` (`valueAndLayerGrads`). Memory: `rows * cols * blockSize` numbers per layer.
 *
 * @example
 * ```ts
 * const opt = mbf({ learningRate: 0.01, blockSize: 8, damping: 1e-3 });
 * ```
 */
export function mbf(options: MbfOptions = {}): Optimizer<LayerwiseState> & { readonly config: Readonly<Record<string, unknown>> } {
  if (typeof options !== 'object' || options === null) throw new LoptError('INVALID_OPTION', 'mbf: options must be an object.', { option: 'options' });
  const { blockSize, ...rest } = options;
  const b = checkNumber('blockSize', blockSize ?? 16, { min: 1, max: 256, integer: true });
  const opt = layerwiseOptimizer('mbf', miniBlocks(b), rest, { learningRate: 1e-2, damping: 1e-3, klClip: 0 });
  return { ...opt, config: Object.freeze({ ...opt.config, blockSize: b }) };
}
