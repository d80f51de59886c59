import { LoptError, type LearnedOptimizer, type Optimizer, type Task, type TensorTree } from '@lopt/core';
import { loadLearnedOptimizer, pretrained } from '@lopt/learned';
import { adam, adamw, muon, sgd, warmupCosineDecay } from '@lopt/optimizers';
import { charLstmTask, imageConvTask, imageMlpTask, loadMnist, loadTextCorpus, quadraticTask, rosenbrockTask } from '@lopt/tasks';
import { OPTIMIZERS, TASKS, type OptimizerSpec, type TaskId } from '../catalog.js';

const loaded = new Map<string, Promise<unknown>>();

/** Fetches the task's data set once per worker (from the app's static files) and builds the task. */
export async function buildTask(id: TaskId, baseUrl: string): Promise<Task> {
  const data = TASKS[id].data;
  if (data !== undefined && !loaded.has(data)) {
    const url = new URL(`data/${data}.bin.gz`, baseUrl);
    loaded.set(data, data === 'mnist' ? loadMnist(url) : loadTextCorpus(url));
  }
  if (data !== undefined) await loaded.get(data);
  switch (id) {
    case 'quadratic':
      return quadraticTask({ dim: 2 });
    case 'rosenbrock':
      return rosenbrockTask({ dim: 2 });
    case 'mnist-mlp':
      return imageMlpTask({ imageSize: 8, hidden: [32], batchSize: 128 });
    case 'mnist-conv':
      return imageConvTask({ imageSize: 14, channels: [8, 16], batchSize: 64 });
    case 'char-lstm':
      return charLstmTask({ sequenceLength: 16, batchSize: 16, embedSize: 16, hiddenSize: 64 });
  }
}

/** A learned optimizer and its meta-parameters (pretrained or uploaded). */
export interface LearnedChoice {
  readonly lopt: LearnedOptimizer;
  readonly theta: TensorTree;
}

/** Resolves a learned optimizer spec; an uploaded checkpoint is verified (a corrupt one throws a LoptError). */
export function learnedChoice(spec: OptimizerSpec, theta: Uint8Array | undefined): LearnedChoice {
  if (spec.id === 'uploaded') {
    if (theta === undefined) throw new LoptError('INVALID_OPTION', 'Upload a .safetensors learned-optimizer checkpoint first.', { option: 'theta' });
    const { lopt, theta: t } = loadLearnedOptimizer(theta);
    return { lopt, theta: t };
  }
  if (spec.id !== 'celo' && spec.id !== 'celo-adam' && spec.id !== 'celo2') throw new LoptError('INVALID_OPTION', `'${spec.id}' is not a learned optimizer.`, { option: 'optimizer' });
  const p = pretrained(spec.id);
  return { lopt: p.lopt, theta: p.theta };
}

/** Builds the optimizer of a spec for a run of `steps` steps. */
export function buildOptimizer(spec: OptimizerSpec, steps: number, theta: Uint8Array | undefined): Optimizer {
  const entry = OPTIMIZERS[spec.id];
  if (entry.learned) {
    // Celo2 has no internal schedule and needs a learning rate (its own default is 1e-3)
    if (spec.id === 'celo2') return pretrained('celo2').optimizer({ numSteps: steps, learningRate: spec.lr ?? entry.lr });
    const c = learnedChoice(spec, theta);
    return c.lopt.optimizer(c.theta, { numSteps: steps });
  }
  const lr = spec.lr ?? entry.lr;
  switch (spec.id) {
    case 'adam':
      return adam({ learningRate: lr });
    case 'adamw-cosine':
      return adamw({ learningRate: warmupCosineDecay({ peakValue: lr, warmupSteps: Math.max(1, Math.round(steps / 20)), decaySteps: steps }), weightDecay: 1e-4 });
    case 'muon':
      return muon({ learningRate: lr, adamLearningRate: lr / 5 });
    default:
      return sgd({ learningRate: lr, momentum: 0.9 });
  }
}
