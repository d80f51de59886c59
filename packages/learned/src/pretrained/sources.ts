/** The names of the pretrained learned optimizers that ship with `@lopt/learned`. */
export type PretrainedName = 'celo' | 'celo-adam' | 'celo2' | 'lopt-small-v1';

/** Where a pretrained optimizer comes from, what it was trained on, and where it is expected to fail. */
export interface PretrainedSource {
  /** The architecture (registry and checkpoint name) the weights are for. */
  readonly architecture: 'celo' | 'celoAdam' | 'celo2' | 'controlAdam';
  /** SPDX licence of the weights (the code of this package is Apache-2.0). */
  readonly licence: string;
  /** Repository, commit and path of the original file. */
  readonly source: string;
  /** The paper. */
  readonly paper: string;
  /** What the weights were meta-trained on. */
  readonly trainedOn: string;
  /** Where it is expected to do poorly. */
  readonly caveats: string;
  /** What the optimizer needs at every step. */
  readonly needs: string;
}

const CELO_TRAINING =
  'meta-trained with PES on four image-classification MLPs (one hidden layer of 32 units, 8x8 grey images of CIFAR-10, Fashion-MNIST, MNIST and SVHN, batch 64) with parameter-scale augmentation in [1e-3, 1e3], unrolls up to 2,000 steps';

/** Provenance of every pretrained optimizer (also in the package's NOTICE file). */
export const PRETRAINED_SOURCES: Readonly<Record<PretrainedName, PretrainedSource>> = Object.freeze({
  celo: {
    architecture: 'celo',
    licence: 'MIT',
    source: 'github.com/amoudgl/celo@66d976116f39da286951f0c5e0a18eee8d1fd66b algoperf/submissions/celo/theta.state (sha256 35683c61...836b)',
    paper: 'Moudgil, Knyazev, Lajoie, Belilovsky, "Celo: Training Versatile Learned Optimizers on a Compute Diet", TMLR 2025 (arXiv 2501.12670)',
    trainedOn: CELO_TRAINING,
    caveats:
      'Trained on tiny MLPs for up to 2,000 steps: expect it to fall behind a tuned Adam on large models, very long runs (numSteps far beyond its horizon) and tasks unlike small image classifiers; the authors report it does not reach every AlgoPerf target.',
    needs: 'the training loss (ctx.loss) every step and numSteps',
  },
  'celo-adam': {
    architecture: 'celoAdam',
    licence: 'MIT',
    source: 'github.com/amoudgl/celo@66d976116f39da286951f0c5e0a18eee8d1fd66b algoperf/submissions/celo_adam/theta.state (sha256 99c65fa0...5d38)',
    paper: 'Moudgil et al., "Celo: Training Versatile Learned Optimizers on a Compute Diet", TMLR 2025 (Adam-based variant)',
    trainedOn: CELO_TRAINING,
    caveats: 'Adam with a learned learning-rate schedule: no better than Adam where Adam with a good schedule fails; the schedule was learned on short runs of tiny MLPs.',
    needs: 'the training loss (ctx.loss) every step and numSteps',
  },
  celo2: {
    architecture: 'celo2',
    licence: 'BSD-3-Clause',
    source: 'github.com/Belilovsky-Lab/pylo@faf6fcb3665a9e7a3096521db027c639bc284e82 pylo/models/celo2_weights.pt (sha256 eda7504f...8979)',
    paper: '"Celo2: Towards Learned Optimization Free Lunch", arXiv 2602.19142',
    trainedOn: 'meta-trained on four small image-classification MLP tasks (PyLO planning notes; neither repository README says more); biases went to Adam during meta-training',
    caveats:
      'No internal schedule: it needs a learning rate (and a schedule for long runs) like Muon. Its learned rule only applies to matrices; with the default PyLO routing the first and last matrix use AdamW, so a model with two matrices is trained by AdamW alone. Untested by its authors on recurrent models.',
    needs: 'a learning rate (default 1e-3); no loss, no numSteps',
  },
  'lopt-small-v1': {
    architecture: 'controlAdam',
    licence: 'Apache-2.0',
    source: 'this repository (lopt): `lopt meta-train --config configs/lopt-small-v1.json`, checkpoint chosen by validation (best.safetensors); see packages/learned/MODEL_CARD.md',
    paper: "lopt's own (no paper): Adam with a learned learning-rate control driven by step agreement (a normalized hypergradient) and Celo's loss and time features (Moudgil et al. 2025)",
    trainedOn:
      'meta-trained with PES (unrolls of 20, std 0.05, 8 inner trainings of 100-400 steps) for 200 outer steps on imageMlpFamily MLPs with 1-2 hidden layers of 16-64 units on 9-12 px MNIST, with parameter-scale augmentation and reduced batches; about 2 core-minutes (0.034 core-hours) of CPU on a 2-core machine, WASM, 2026-12-05',
    caveats:
      'Controls one global learning rate on top of Adam (starting at 3e-3, at most 5% per step): where a well-tuned Adam fails, so does it. Trained only on small image MLPs of up to 400 steps; on small-v1 it loses to tuned Adam on mnist28-mlp32 (+13%), the MLP autoencoder, logistic regression and the transformer LM (1-3%), and trails tuned AdamW-cosine, Celo and Celo-Adam.',
    needs: 'the training loss (ctx.loss) every step and numSteps',
  },
});
