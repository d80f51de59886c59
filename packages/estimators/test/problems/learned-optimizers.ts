import * as tf from '@tensorflow/tfjs-core';
import {
  checkNumber,
  foldIn,
  treeFlatten,
  treeMap,
  treeUnflatten,
  truncatedNormal,
  type Key,
  type LearnedOptimizer,
  type Optimizer,
  type OptState,
  type TensorTree,
  type UpdateContext,
} from '@lopt/core';

/** Theta of {@link learnableSgd}. */
export interface LearnableSgdTheta {
  /** Log of the learning rate. */
  readonly logLearningRate: tf.Scalar;
  [name: string]: TensorTree;
}

/**
 * SGD with a learnable log learning rate (learned_optimization's `LearnableSGD`):
 * `params -= exp(logLearningRate) * grads`. The smallest learned optimizer; with a
 * quadratic task it gives meta-losses whose gradients are known exactly.
 */
export function learnableSgd(options: { initialLearningRate?: number } = {}): LearnedOptimizer<LearnableSgdTheta> {
  const lr0 = checkNumber('initialLearningRate', options.initialLearningRate ?? 0.1, { greaterThan: 0 });
  return {
    name: 'learnableSgd',
    config: { initialLearningRate: lr0 },
    init: () => ({ logLearningRate: tf.scalar(Math.log(lr0)) }),
    optimizer(theta: LearnableSgdTheta): Optimizer<Record<string, never>> {
      return {
        name: 'learnableSgd',
        init: (params: TensorTree) => ({ params, state: {}, iteration: 0 }),
        update(state: OptState<Record<string, never>>, grads: TensorTree) {
          const params = tf.tidy(() => {
            const lr = tf.exp(theta.logLearningRate);
            return treeMap((p, g) => tf.sub(p, tf.mul(lr, g as tf.Tensor)), state.params, grads);
          });
          return { params, state: {}, iteration: state.iteration + 1 };
        },
      };
    },
  };
}

/** Theta of {@link perParameterMlpLOpt}. */
export interface PerParameterMlpTheta {
  /** First layer `[2, hidden]` over features (normalized gradient, normalized momentum). */
  readonly w1: tf.Tensor2D;
  /** First-layer bias `[hidden]`. */
  readonly b1: tf.Tensor1D;
  /** Output layer `[hidden, 1]`. */
  readonly w2: tf.Tensor2D;
  /** Log of the step size. */
  readonly logStep: tf.Scalar;
  [name: string]: TensorTree;
}

/** State of {@link perParameterMlpLOpt}'s optimizer: momentum per parameter leaf. */
export interface PerParameterMlpState {
  /** Momentum (beta 0.9) of every parameter leaf, in the parameters' tree. */
  readonly momentum: TensorTree;
  [name: string]: TensorTree;
}

/**
 * A tiny per-parameter learned optimizer for tests and examples: for every scalar
 * parameter, features `f = [g / rms(g), m / rms(m)]` (momentum `m` with beta 0.9, rms over
 * the leaf), a one-hidden-layer MLP `o = tanh(f W1 + b1) W2`, and the update
 * `p -= exp(logStep) * (m / rms(m) + o)`. At initialization (`W2` ~ 0.01 scale,
 * `logStep = log(1e-3)`) it is close to normalized momentum SGD with step 1e-3; meta-training
 * learns the step size and the correction.
 */
export function perParameterMlpLOpt(options: { hidden?: number; initialStep?: number } = {}): LearnedOptimizer<PerParameterMlpTheta> {
  const hidden = checkNumber('hidden', options.hidden ?? 8, { integer: true, min: 1 });
  const step0 = checkNumber('initialStep', options.initialStep ?? 1e-3, { greaterThan: 0 });
  return {
    name: 'perParameterMlpLOpt',
    config: { hidden, initialStep: step0 },
    init(key: Key): PerParameterMlpTheta {
      return {
        w1: truncatedNormal(foldIn(key, 0), [2, hidden], { std: 1 / Math.sqrt(2) }) as tf.Tensor2D,
        b1: tf.zeros([hidden]) as tf.Tensor1D,
        w2: truncatedNormal(foldIn(key, 1), [hidden, 1], { std: 0.01 }) as tf.Tensor2D,
        logStep: tf.scalar(Math.log(step0)),
      };
    },
    optimizer(theta: PerParameterMlpTheta): Optimizer<PerParameterMlpState> {
      const rmsNormalize = (x: tf.Tensor) => tf.div(x, tf.sqrt(tf.add(tf.mean(tf.square(x)), 1e-12)));
      return {
        name: 'perParameterMlpLOpt',
        init: (params: TensorTree) => ({
          params,
          state: { momentum: treeMap((p) => tf.zerosLike(p), params) },
          iteration: 0,
        }),
        update(state: OptState<PerParameterMlpState>, grads: TensorTree, _ctx?: UpdateContext) {
          return tf.tidy(() => {
            const step = tf.exp(theta.logStep);
            const { leaves: ps, structure } = treeFlatten(state.params);
            const gs = treeFlatten(grads).leaves;
            const ms = treeFlatten(state.state.momentum).leaves;
            const newP: tf.Tensor[] = [];
            const newM: tf.Tensor[] = [];
            ps.forEach((p, j) => {
              const g = gs[j] as tf.Tensor;
              const m = tf.add(tf.mul(0.9, ms[j] as tf.Tensor), tf.mul(0.1, g));
              const mn = rmsNormalize(m);
              const feats = tf.stack([tf.reshape(rmsNormalize(g), [-1]), tf.reshape(mn, [-1])], 1);
              const h = tf.tanh(tf.add(tf.matMul(feats, theta.w1), theta.b1));
              const o = tf.reshape(tf.matMul(h, theta.w2), p.shape);
              newP.push(tf.sub(p, tf.mul(step, tf.add(mn, o))));
              newM.push(m);
            });
            return {
              params: treeUnflatten(structure, newP),
              state: { momentum: treeUnflatten(structure, newM) },
              iteration: state.iteration + 1,
            };
          });
        },
      };
    },
  };
}
