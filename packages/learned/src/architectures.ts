import type { FactoryOptions, TensorTree } from '@lopt/core';
import { adafacMlpLOpt } from './adafac-mlp-lopt.js';
import { celo } from './celo.js';
import { celoAdam } from './celo-adam.js';
import { celo2 } from './celo2.js';
import { dmdLOpt } from './dmd-lopt.js';
import { learnableAdam, learnableSgd, learnableSgdm } from './learnable.js';
import { lstmL2L } from './lstm-l2l.js';
import { mlpLOpt } from './mlp-lopt.js';
import { mlpNomLOpt } from './mlp-nom-lopt.js';
import { nnAdam } from './nn-adam.js';
import { rnnMlpLOpt } from './rnn-mlp-lopt.js';
import { scheduleAdam } from './schedule-adam.js';
import { controlAdam } from './control-adam.js';
import type { LearnedArchitecture } from './types.js';

/** A factory of a learned-optimizer architecture from JSON options. */
export type ArchitectureFactory = (options: FactoryOptions) => LearnedArchitecture;

/**
 * A typed factory as an {@link ArchitectureFactory}. An architecture is specific in its theta
 * and config types, which `optimizer(theta)` takes contravariantly, so the erasure is the
 * one place where the registry's generic view is asserted; JSON options are validated by
 * each factory.
 */
function erased<Theta extends TensorTree, Config extends object>(factory: (options: never) => LearnedArchitecture<Theta, Config>): ArchitectureFactory {
  return factory as unknown as ArchitectureFactory;
}

/** One built-in architecture: its factory and a one-line description. */
export interface ArchitectureEntry {
  /** Builds the architecture; validates its options. */
  readonly factory: ArchitectureFactory;
  /** What it is. */
  readonly description: string;
}

/**
 * The built-in architectures by name: the table `registerAll()` registers and
 * `loadLearnedOptimizer` rebuilds checkpoints from.
 */
export const ARCHITECTURES: Readonly<Record<string, ArchitectureEntry>> = Object.freeze({
  learnableSgd: { factory: erased(learnableSgd), description: 'SGD with a learned learning rate (theta: log lr).' },
  learnableSgdm: { factory: erased(learnableSgdm), description: 'SGD with momentum; learned lr and momentum.' },
  learnableAdam: { factory: erased(learnableAdam), description: 'Adam with learned lr, betas and epsilon.' },
  mlpLOpt: { factory: erased(mlpLOpt), description: 'Per-parameter MLP 19-32-32-2 (LOLv2), 1,762 meta-parameters.' },
  adafacMlpLOpt: { factory: erased(adafacMlpLOpt), description: 'Small per-parameter MLP 39-4-4-2 with Adafactor features, 197 meta-parameters (fused WASM kernel).' },
  mlpNomLOpt: { factory: erased(mlpNomLOpt), description: 'Adafac MLP plus a nominal Adam/AggMo descent term (Harrison et al. 2022), 207 meta-parameters.' },
  rnnMlpLOpt: { factory: erased(rnnMlpLOpt), description: 'Hierarchical per-tensor LSTM + per-parameter MLP (Metz et al. 2020); needs ctx.loss.' },
  nnAdam: { factory: erased(nnAdam), description: 'Adam whose per-tensor hyperparameters an LSTM sets every step.' },
  lstmL2L: { factory: erased(lstmL2L), description: 'Coordinatewise 2-layer LSTM of Andrychowicz et al. 2016.' },
  celo: { factory: erased(celo), description: 'Celo (Moudgil et al. 2025): per-element MLP 30-4-4-3 + learned LSTM scheduler; needs ctx.loss and numSteps.' },
  celoAdam: { factory: erased(celoAdam), description: "Celo-Adam: Adam driven by Celo's learned LSTM scheduler; needs ctx.loss and numSteps." },
  controlAdam: { factory: erased(controlAdam), description: "lopt's own (pretrained lopt-small-v1): Adam whose log learning rate a learned control moves by step agreement, time and loss features (23 meta-parameters); needs ctx.loss and numSteps." },
  scheduleAdam: { factory: erased(scheduleAdam), description: "lopt's first own (not shipped): Adam with a learned log-linear schedule over Celo's time and loss features (19 meta-parameters, Adam at theta = 0); needs ctx.loss and numSteps." },
  celo2: { factory: erased(celo2), description: 'Celo2: per-element MLP 30-8-8-3, Newton-Schulz orthogonalized, Adam for 1-D tensors; external learning rate.' },
  dmdLOpt: { factory: erased(dmdLOpt), description: 'Per-parameter MLP 20-32-32-2 with DMD features of a 6-step gradient window, 1,794 meta-parameters.' },
});

/** Config keys that select an implementation, not an architecture (ignored when checkpoints are compared). */
export const RUNTIME_CONFIG_KEYS: readonly string[] = ['fused', 'chunkRows'];
