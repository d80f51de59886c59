/** A named, ready-to-run meta-training configuration. */
export interface Preset {
  /** One line for `--help`. */
  readonly description: string;
  /** The config, validated like a config file. */
  readonly config: Readonly<Record<string, unknown>>;
}

/**
 * Built-in presets. `quickstart` is what `pnpm demo:meta-train` (and `lopt demo --preset quickstart`) runs; `tiny` finishes in seconds and
 * exists for smoke tests and for trying the command without waiting.
 */
export const PRESETS: Readonly<Record<string, Preset>> = {
  quickstart: {
    description: 'adafacMlpLOpt meta-trained with PES on softmax-regression MLPs of 8x8 MNIST (3-5 minutes on 2 cores), then evaluated against a tuned Adam on 20 held-out tasks',
    config: {
      name: 'quickstart',
      seed: 0,
      // stepMult 0.03 (reference 1e-3): a few hundred outer steps reach useful step sizes.
      // expMult 1 (reference 1e-3): the magnitude output sets the log step size, so a step-size
      // schedule over the 100 steps is one bias away instead of a rescaling of the whole MLP.
      learnedOptimizer: { name: 'adafacMlpLOpt', options: { stepMult: 0.03, expMult: 1 } },
      // The family's MLPs without a hidden layer (softmax regression) on 8x8 MNIST: 5
      // initializers at scales 0.5-2, batch size 64. Hidden layers lose to a tuned Adam at
      // this budget (README: "Where it is not expected to win").
      taskFamily: {
        name: 'imageMlpFamily',
        options: { maxLayers: 0, imageSizeRange: [8, 8], batchSizeRange: [64, 64] },
      },
      // 8 inner trainings of 100 steps, desynchronized, unrolled 10 steps per PES estimate.
      truncatedStep: { numTasks: 8, truncation: { kind: 'constant', length: 100 }, randomInitialIterationOffset: 100 },
      estimators: [{ name: 'truncatedPES', options: { unrollLength: 10, std: 0.01 } }],
      outerOptimizer: { name: 'adam', options: { learningRate: { schedule: 'cosineDecay', initValue: 0.01, decaySteps: 1200, alpha: 0.1 } } },
      steps: 1200,
      checkpointEvery: 25,
      // A bound against overflow, far above the norms of normal steps (0.06-45 over the first
      // 60 steps; WASM, 2026-12-04, load average 3.2): a gradient whose squares overflow
      // float32 would freeze the outer Adam.
      metaTrain: { clipGradNorm: 1000 },
      // Checkpoint selection: every 50 outer steps, 100-step trainings on 8 validation tasks.
      validation: { every: 50, tasks: 8 },
      // The horizon it was trained for (100 steps), on 20 held-out tasks, against Adam with the
      // best of 16 log-uniform learning rates in [1e-4, 1] (tuned on 4 other tasks).
      eval: {
        steps: 100,
        seeds: 20,
        optimizers: [],
        tuneBaseline: { trials: 16, low: 1e-4, high: 1, seeds: 4 },
        evalBatches: 4,
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
      // Normal steps have norms 0.8-10 (WASM, 2026-12-04, load average 3.2); the bound only
      // stops an overflow.
      metaTrain: { clipGradNorm: 1000 },
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
