/** A named, ready-to-run meta-training configuration. */
export interface Preset {
  /** One line for `--help`. */
  readonly description: string;
  /** The config, validated like a config file. */
  readonly config: Readonly<Record<string, unknown>>;
}

/**
 * Built-in presets. `quickstart` is what `pnpm demo` runs; `tiny` finishes in seconds and
 * exists for smoke tests and for trying the command without waiting.
 */
export const PRESETS: Readonly<Record<string, Preset>> = {
  quickstart: {
    description: 'adafacMlpLOpt meta-trained with PES on small MNIST MLPs (a few minutes on 2 cores), then evaluated against a tuned Adam on held-out tasks',
    config: {
      name: 'quickstart',
      seed: 0,
      // stepMult 1e-2 (reference default 1e-3): the output scale starts where a few hundred
      // outer steps can reach good step sizes, instead of spending them growing the weights.
      learnedOptimizer: { name: 'adafacMlpLOpt', options: { stepMult: 0.01 } },
      // Small MLPs on 8x8 MNIST: softmax regression or one hidden layer of 32 units, any of
      // the family's 12 activations and 5 initializers, batch size 64.
      taskFamily: {
        name: 'imageMlpFamily',
        options: { hiddenRange: [32, 32], maxLayers: 1, imageSizeRange: [8, 8], batchSizeRange: [64, 64] },
      },
      // 8 inner trainings of 100 steps, desynchronized, unrolled 10 steps per PES estimate.
      truncatedStep: { numTasks: 8, truncation: { kind: 'constant', length: 100 }, randomInitialIterationOffset: 100 },
      estimators: [{ name: 'truncatedPES', options: { unrollLength: 10, std: 0.01 } }],
      outerOptimizer: { name: 'adam', options: { learningRate: { schedule: 'cosineDecay', initValue: 0.01, decaySteps: 600, alpha: 0.1 } } },
      steps: 600,
      checkpointEvery: 25,
      // The horizon it was trained for (100 steps), on 10 held-out tasks, against Adam with the
      // best of 12 log-uniform learning rates in [1e-4, 1] (tuned on 2 other tasks).
      eval: {
        steps: 100,
        seeds: 10,
        optimizers: [],
        tuneBaseline: { trials: 12, low: 1e-4, high: 1, seeds: 2 },
      },
      plugins: [],
    },
  },
  tiny: {
    description: 'a seconds-long run of the same pipeline on 8-d quadratics (for smoke tests)',
    config: {
      name: 'tiny',
      seed: 0,
      learnedOptimizer: { name: 'adafacMlpLOpt', options: {} },
      taskFamily: { name: 'fixedDimQuadraticFamily', options: { dim: 8 } },
      truncatedStep: { numTasks: 2, truncation: { kind: 'constant', length: 16 } },
      estimators: [{ name: 'truncatedPES', options: { unrollLength: 4, std: 0.01 } }],
      outerOptimizer: { name: 'adam', options: { learningRate: 1e-2 } },
      steps: 6,
      checkpointEvery: 2,
      validation: { every: 2, tasks: 2, steps: 10 },
      eval: {
        steps: 30,
        seeds: 2,
        points: 10,
        optimizers: ['adam:learningRate=0.01'],
        tuneBaseline: { trials: 3, low: 1e-3, high: 1e-1, seeds: 1 },
      },
      plugins: [],
    },
  },
};
