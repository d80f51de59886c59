// The task families with hand-derived gradients (conv, autoencoder, quadratics, logistic
// regression), each as a task whose loss runs on one forced gradient path ('task': as shipped,
// which under one tape is the hand-derived path). Used by the fast-grad bench.
import * as tf from '@tensorflow/tfjs-core';
import { key, type Task, type TensorTree } from '@lopt/core';
import { fixedDimQuadraticFamily, imageConvTask, imageMlpAutoencoderTask, logisticRegressionTask, noisyQuadraticFamily, quadraticTask } from '../src/index.ts';
import { mlpAutoencoderLoss, type AutoencoderLossPath } from '../src/autoencoder-fast-grad.ts';
import { convSoftmaxLoss, type ConvNetSpec } from '../src/conv-fast-grad.ts';
import type { GradPath } from '../src/fast-grad.ts';
import { noisyQuadraticLoss, quadraticLoss, scaledQuadraticLoss, type NoisyQuadraticConfig, type QuadraticConfig } from '../src/quadratics.ts';
import { logisticLoss, type FeatureBatch } from '../src/toy-classification.ts';
import type { DenseParams } from '../src/nn.ts';

/** A benchmarked path: the task as shipped, or its loss forced onto one path. */
export type BenchPath = GradPath | 'fused' | 'task';

/** One benchmarked model: a name, its task on a forced path, and the paths to time (default task and autodiff). */
export interface FamilyModel {
  readonly name: string;
  readonly family: string;
  readonly paths?: readonly BenchPath[];
  readonly make: (path: BenchPath) => Task;
}

type Img = { image: tf.Tensor4D; label: tf.Tensor1D };
// a model is only asked for the paths its loss knows (FamilyModel.paths)
const withLoss = <P extends string>(task: Task, path: BenchPath, loss: (params: TensorTree, batch: TensorTree, path: P) => tf.Scalar): Task =>
  path === 'task' ? task : { ...task, loss: (p: TensorTree, b: TensorTree) => tf.tidy(() => loss(p, b, path as P)) };

function conv(imageSize: number, channels: number[], pool: 'avg' | 'max', batchSize: number): FamilyModel {
  const spec: ConvNetSpec = { numConvs: channels.length, activation: 'relu', pool, numClasses: 10 };
  return {
    name: `conv ${imageSize}x${imageSize} ${channels.join('x')} relu ${pool}, batch ${batchSize}`,
    family: 'conv',
    make: (path) =>
      withLoss(imageConvTask({ imageSize, channels, pool, batchSize }), path, (p, b, gp: GradPath) => convSoftmaxLoss(p as never, (b as Img).image, (b as Img).label, spec, gp)),
  };
}

function autoencoder(imageSize: number, hidden: number[], batchSize: number): FamilyModel {
  const inputs = imageSize * imageSize;
  return {
    name: `autoencoder ${[inputs, ...hidden, inputs].join('-')} relu, batch ${batchSize}`,
    family: 'autoencoder',
    paths: ['task', 'fused', 'fast', 'autodiff'],
    make: (path) =>
      withLoss(imageMlpAutoencoderTask({ imageSize, hidden, batchSize }), path, (p, b, gp: AutoencoderLossPath) =>
        mlpAutoencoderLoss(p as Record<string, DenseParams>, tf.reshape((b as Img).image, [batchSize, inputs]) as tf.Tensor2D, hidden.length + 1, 'relu', gp),
      ),
  };
}

function scaledQuadratic(dim: number): FamilyModel {
  const family = fixedDimQuadraticFamily({ dim, maxCondition: 100 });
  const cfg = family.sample(key(1)) as QuadraticConfig;
  return { name: `scaled quadratic, dim ${dim}`, family: 'quadratic', make: (path) => withLoss(family.task(cfg), path, (p, _b, gp: GradPath) => scaledQuadraticLoss(p as tf.Tensor, cfg.scale, cfg.target, gp)) };
}

/** The models of the families section of bench:fastgrad. */
export const FAMILY_MODELS: readonly FamilyModel[] = [
  conv(14, [8, 16], 'avg', 64),
  conv(8, [8, 16], 'max', 128),
  autoencoder(8, [32, 16, 32], 128),
  autoencoder(28, [128, 32, 128], 64),
  { name: 'quadratic sum(p^2), dim 10', family: 'quadratic', make: (path) => withLoss(quadraticTask({ dim: 10 }), path, (p, _b, gp: GradPath) => quadraticLoss(p as tf.Tensor, gp)) },
  scaledQuadratic(10),
  scaledQuadratic(10_000),
  {
    name: 'noisy quadratic, dim 10',
    family: 'quadratic',
    make: (path) => {
      const family = noisyQuadraticFamily({ dim: 10 });
      const cfg = family.sample(key(2)) as NoisyQuadraticConfig;
      return withLoss(family.task(cfg), path, (p, b, gp: GradPath) => noisyQuadraticLoss(p as tf.Tensor, (b as { noise: tf.Tensor }).noise, cfg.scale, cfg.center, cfg.noiseStd, gp));
    },
  },
  ...[
    [10, 64],
    [784, 128],
  ].map(([dim, batchSize]) => ({
    name: `logistic regression, dim ${dim}, batch ${batchSize}`,
    family: 'logistic',
    make: (path: BenchPath) =>
      withLoss(logisticRegressionTask({ dim: dim!, batchSize: batchSize! }), path, (p, b, gp: GradPath) => {
        const { w, b: bias } = p as { w: tf.Tensor; b: tf.Tensor };
        return logisticLoss(w, bias, (b as FeatureBatch).x, (b as FeatureBatch).label, gp);
      }),
  })),
];
